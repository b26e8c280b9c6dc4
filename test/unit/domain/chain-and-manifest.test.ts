import { describe, expect, it } from 'vitest';
import { resolveChain, selectBackup } from '../../../src/domain/chain.js';
import { DbBackupError } from '../../../src/domain/errors.js';
import { parseManifest } from '../../../src/domain/manifest.js';
import { dataPartName, encodeObjectName, parseManifestKey, sourceNameFrom } from '../../../src/domain/repository-layout.js';

const b = (id: string, kind: 'full' | 'incremental' | 'differential', parent: string | null = null) => ({ id, source: 's', kind, parent });

describe('selectBackup', () => {
  const all = [b('20260101T000000Z-full-aaaa', 'full'), b('20260102T000000Z-full-bbbb', 'full')];
  it('picks the newest for latest, exact ids and unique prefixes', () => {
    expect(selectBackup(all, 'latest').id).toBe('20260102T000000Z-full-bbbb');
    expect(selectBackup(all, '20260101T000000Z-full-aaaa').id).toBe('20260101T000000Z-full-aaaa');
    expect(selectBackup(all, '20260101').id).toBe('20260101T000000Z-full-aaaa');
  });
  it('orders two backups of the same second by their start time, not by the random suffix of their ids', () => {
    const older = { id: '20260102T000000Z-incremental-zzzz', startedAt: '2026-01-02T00:00:00.100Z' };
    const newer = { id: '20260102T000000Z-incremental-aaaa', startedAt: '2026-01-02T00:00:00.900Z' };
    expect(selectBackup([older, newer], 'latest')).toBe(newer);
    expect(selectBackup([newer, older], 'latest')).toBe(newer);
    // Without start times the id decides, as before.
    expect(selectBackup([{ id: older.id }, { id: newer.id }], 'latest').id).toBe(older.id);
  });
  it('refuses ambiguous prefixes, unknown ids and empty repositories with stable codes', () => {
    expect(() => selectBackup(all, '2026')).toThrowError(expect.objectContaining({ code: 'E_USAGE' }));
    expect(() => selectBackup(all, 'nope')).toThrowError(expect.objectContaining({ code: 'E_BACKUP_NOT_FOUND' }));
    expect(() => selectBackup([], 'latest')).toThrowError(expect.objectContaining({ code: 'E_BACKUP_NOT_FOUND' }));
  });
});

describe('resolveChain', () => {
  it('walks parents back to the full, oldest first', () => {
    const full = b('20260101T000000Z-full-aaaa', 'full');
    const i1 = b('20260102T000000Z-incremental-bbbb', 'incremental', full.id);
    const i2 = b('20260103T000000Z-incremental-cccc', 'incremental', i1.id);
    expect(resolveChain([i2, full, i1], i2).map((x) => x.id)).toEqual([full.id, i1.id, i2.id]);
  });
  it('names the missing link of a broken chain', () => {
    const i1 = b('20260102T000000Z-incremental-bbbb', 'incremental', '20260101T000000Z-full-gone');
    expect(() => resolveChain([i1], i1)).toThrowError(/20260101T000000Z-full-gone/);
  });
});

describe('parseManifest', () => {
  const good = {
    formatVersion: 1,
    id: '20260101T000000Z-full-aaaa',
    source: 'app',
    engine: 'sqlite',
    kind: 'full',
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:00:01Z',
    consistentAt: '2026-01-01T00:00:00Z',
    objects: [],
    parts: [{ name: 'data/main.0.sqlite', role: 'data', codecs: [], rawSize: 1, storedSize: 1, sha256: 'a'.repeat(64), rawSha256: 'a'.repeat(64) }],
  };
  it('accepts a valid manifest', () => {
    expect(parseManifest(good, 'x').id).toBe(good.id);
  });
  it('rejects a newer format with E_FORMAT_VERSION and garbage with E_FOREIGN_ARCHIVE naming the field', () => {
    expect(() => parseManifest({ ...good, formatVersion: 99 }, 'x')).toThrowError(expect.objectContaining({ code: 'E_FORMAT_VERSION' }));
    const bad = { ...good, parts: [{ ...good.parts[0], sha256: 'xyz' }] };
    try {
      parseManifest(bad, 'x');
      expect.unreachable();
    } catch (err) {
      expect((err as DbBackupError).code).toBe('E_FOREIGN_ARCHIVE');
      expect((err as DbBackupError).message).toContain('parts[0].sha256');
    }
    expect(() => parseManifest({ ...good, parts: [{ ...good.parts[0], name: '../../etc/passwd' }] }, 'x')).toThrow(DbBackupError);
  });
  it('keeps the scheduled run a backup names, and refuses one that is not what dbbackup writes', () => {
    const scheduledRun = { id: 12, schedule: 'app-job', slot: '2026-01-01T00:00:00.000Z' };
    expect(parseManifest({ ...good, scheduledRun }, 'x').scheduledRun).toEqual(scheduledRun);
    for (const wrong of [{ ...scheduledRun, id: -1 }, { ...scheduledRun, id: '12' }, { ...scheduledRun, schedule: '../x' }, { ...scheduledRun, slot: 'soon' }, 'run 12']) {
      expect(() => parseManifest({ ...good, scheduledRun: wrong }, 'x')).toThrowError(/scheduledRun/);
    }
  });
});

describe('repository layout', () => {
  it('makes any object name one safe path segment', () => {
    expect(encodeObjectName('public.users')).toBe('public.users');
    expect(encodeObjectName('a/b c')).toBe('a%2Fb%20c');
    expect(encodeObjectName('..')).toBe('%2E.');
    expect(dataPartName('ümlaut', 0, 'copy')).toBe('data/%C3%BCmlaut.0.copy');
  });
  it('parses manifest keys and derives source names', () => {
    expect(parseManifestKey('app/20260101T000000Z-full-aaaa/manifest.json')).toEqual({ source: 'app', id: '20260101T000000Z-full-aaaa' });
    expect(parseManifestKey('app/x/data/manifest.json')).toBeUndefined();
    expect(sourceNameFrom('My App.sqlite3')).toBe('My_App');
  });
});
