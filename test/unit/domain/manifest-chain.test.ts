import { describe, expect, it } from 'vitest';
import { type DbBackupError, exitCodeFor } from '../../../src/domain/errors.js';
import { MANIFEST_FORMAT_VERSION, parseManifest } from '../../../src/domain/manifest.js';

const FULL = '20260101T000000Z-full-aaaa';
const INCR = '20260101T060000Z-incremental-bbbb';

const v1 = {
  formatVersion: 1,
  id: FULL,
  source: 'app',
  engine: 'sqlite',
  kind: 'full',
  parent: null,
  baseFull: null,
  startedAt: '2026-01-01T00:00:00Z',
  finishedAt: '2026-01-01T00:00:01Z',
  consistentAt: '2026-01-01T00:00:00Z',
  objects: [],
  parts: [{ name: 'data/main.0.sqlite', role: 'data', codecs: [], rawSize: 1, storedSize: 1, sha256: 'a'.repeat(64) }],
};

const v2incr = {
  ...v1,
  formatVersion: 2,
  id: INCR,
  kind: 'incremental',
  parent: FULL,
  baseFull: FULL,
  startedAt: '2026-01-01T06:00:00Z',
  finishedAt: '2026-01-01T06:00:01Z',
  consistentAt: '2026-01-01T06:00:00Z',
  position: { from: { pages: 'map-1' }, to: { pages: 'map-2' } },
  restorable: { from: '2026-01-01T00:00:00Z', to: '2026-01-01T06:00:00Z' },
  generation: 'g1',
};

function fieldOf(value: unknown): string {
  try {
    parseManifest(value, 'm.json');
  } catch (err) {
    expect((err as DbBackupError).code).toBe('E_FOREIGN_ARCHIVE');
    return (err as DbBackupError).details.field as string;
  }
  throw new Error('parsed');
}

describe('manifest format 2: chain fields', () => {
  it('writes format 2 and still reads format 1 with no chain fields', () => {
    expect(MANIFEST_FORMAT_VERSION).toBe(4);
    const m = parseManifest(v1, 'm.json');
    expect(m).toMatchObject({ formatVersion: 1, kind: 'full', parent: null });
    expect(m.restorable).toBeUndefined();
    expect(m.position).toBeUndefined();
  });

  it('reads the chain fields of a format-2 incremental, positions kept engine-opaque', () => {
    const m = parseManifest(v2incr, 'm.json');
    expect(m.position).toEqual({ from: { pages: 'map-1' }, to: { pages: 'map-2' } });
    expect(m.restorable).toEqual(v2incr.restorable);
    expect(m.generation).toBe('g1');
    expect(parseManifest({ ...v2incr, continuous: true }, 'm.json').continuous).toBe(true);
    const full = { ...v1, formatVersion: 2, position: { from: null, to: '0/16B6C50' }, fallback: { requested: 'incremental', reason: 'no parent' } };
    expect(parseManifest(full, 'm.json').fallback).toEqual({ requested: 'incremental', reason: 'no parent' });
  });

  it('refuses format 5 (newer than this reader) and nonsense versions', () => {
    expect(() => parseManifest({ ...v2incr, formatVersion: 5 }, 'm.json')).toThrowError(expect.objectContaining({ code: 'E_FORMAT_VERSION' }));
    expect(fieldOf({ ...v1, formatVersion: 0 })).toBe('formatVersion');
    expect(fieldOf({ ...v1, formatVersion: 1.5 })).toBe('formatVersion');
  });

  it('names the malformed chain field with E_FOREIGN_ARCHIVE (exit 4)', () => {
    expect(exitCodeFor('E_FOREIGN_ARCHIVE')).toBe(4);
    expect(fieldOf({ ...v2incr, parent: 'not-an-id' })).toBe('parent');
    expect(fieldOf({ ...v2incr, baseFull: 7 })).toBe('baseFull');
    expect(fieldOf({ ...v1, parent: FULL })).toBe('parent');
    expect(fieldOf({ ...v2incr, position: 'x' })).toBe('position');
    expect(fieldOf({ ...v2incr, position: { from: 1 } })).toBe('position.to');
    expect(fieldOf({ ...v1, position: { from: 1, to: 2 } })).toBe('position.from');
    expect(fieldOf({ ...v2incr, restorable: null })).toBe('restorable');
    expect(fieldOf({ ...v2incr, restorable: { from: 'yesterday', to: '2026-01-01T06:00:00Z' } })).toBe('restorable.from');
    expect(fieldOf({ ...v2incr, restorable: { from: '2026-01-01T07:00:00Z', to: '2026-01-01T06:00:00Z' } })).toBe('restorable.to');
    expect(fieldOf({ ...v1, restorable: { from: '2025-12-31T00:00:00Z', to: '2026-01-01T00:00:00Z' } })).toBe('restorable');
    expect(fieldOf({ ...v2incr, continuous: 'yes' })).toBe('continuous');
    expect(fieldOf({ ...v1, continuous: true })).toBe('continuous');
    expect(fieldOf({ ...v2incr, generation: '' })).toBe('generation');
    expect(fieldOf({ ...v2incr, generation: 'a/b' })).toBe('generation');
    expect(fieldOf({ ...v2incr, fallback: { requested: 'incremental', reason: 'x' } })).toBe('fallback');
    expect(fieldOf({ ...v1, fallback: { requested: 'full', reason: 'x' } })).toBe('fallback.requested');
    expect(fieldOf({ ...v1, fallback: { requested: 'differential' } })).toBe('fallback.reason');
  });

  it('names a part or object entry that is not an object (found by the reliability suite: a TypeError before)', () => {
    expect(fieldOf({ ...v2incr, parts: [null] })).toBe('parts[0]');
    expect(fieldOf({ ...v2incr, parts: [7] })).toBe('parts[0]');
    expect(fieldOf({ ...v2incr, objects: [null] })).toBe('objects[0]');
    expect(fieldOf({ ...v2incr, objects: [{ rows: 1 }] })).toBe('objects[0]');
  });

  it('keeps the message that names the field', () => {
    expect(() => parseManifest({ ...v2incr, generation: '' }, 'repo/app/x/manifest.json')).toThrowError(/field "generation"/);
  });
});
