import { describe, expect, it } from 'vitest';
import { compareBackupIds, isBackupId, newBackupId, parseBackupId } from '../../../src/domain/backup-id.js';

describe('backup ids', () => {
  it('encode the UTC start time and kind, and parse back', () => {
    const at = new Date('2026-11-25T02:00:00.123Z');
    const id = newBackupId(at, 'full', () => 0);
    expect(id).toBe('20261125T020000Z-full-aaaa');
    expect(parseBackupId(id)).toEqual({ startedAt: new Date('2026-11-25T02:00:00Z'), kind: 'full' });
  });

  it('sort by time as plain strings', () => {
    const ids = [
      newBackupId(new Date('2027-01-01T00:00:00Z'), 'incremental'),
      newBackupId(new Date('2026-12-31T23:59:59Z'), 'full'),
      newBackupId(new Date('2026-01-01T00:00:00Z'), 'differential'),
    ];
    expect([...ids].sort(compareBackupIds)).toEqual([ids[2], ids[1], ids[0]]);
  });

  it('reject anything that is not an id', () => {
    for (const bad of ['', 'latest', '20261125T020000Z-full', '20261125T020000Z-weekly-abcd', '../x', '20261125T020000Z-full-ABCD']) {
      expect(isBackupId(bad)).toBe(false);
    }
  });
});
