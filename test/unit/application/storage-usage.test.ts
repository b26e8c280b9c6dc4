import { describe, expect, it } from 'vitest';
import { StorageUsage } from '../../../src/application/use-cases/storage-usage.js';
import type { Manifest } from '../../../src/domain/manifest.js';
import { MemoryCatalog } from '../../helpers/fakes.js';

function manifest(id: string, source: string, finishedAt: string, bytes: number, parts = 2): Manifest {
  return {
    formatVersion: 1, id, source, engine: 'sqlite', serverVersion: '', kind: id.includes('-full-') ? 'full' : 'incremental',
    parent: null, baseFull: null, startedAt: finishedAt, finishedAt, consistentAt: finishedAt, logPosition: null, objects: [],
    parts: Array.from({ length: parts }, (_, i) => ({ name: `data/x.${i}`, role: 'data' as const, codecs: [], rawSize: bytes / parts, storedSize: bytes / parts, sha256: 'a'.repeat(64), rawSha256: 'a'.repeat(64) })),
    warnings: [], toolVersion: '', engineInfo: {},
  };
}

describe('StorageUsage', () => {
  it('sums bytes and objects per repository, source and kind, with 7/30-day growth and the largest backups', async () => {
    const catalog = new MemoryCatalog();
    await catalog.record('/r1', manifest('20261101T000000Z-full-aaaa', 'app', '2026-11-01T00:10:00Z', 1000));
    await catalog.record('/r1', manifest('20261120T000000Z-full-bbbb', 'app', '2026-11-20T00:10:00Z', 3000));
    await catalog.record('/r1', manifest('20261124T000000Z-full-cccc', 'crm', '2026-11-24T00:10:00Z', 500, 1));
    await catalog.record('/r2', manifest('20260901T000000Z-full-dddd', 'app', '2026-09-01T00:10:00Z', 7000));
    const usage = new StorageUsage({ catalog, clock: { now: () => new Date('2026-11-25T00:00:00Z') } });
    const all = await usage.execute({ largest: 2 });
    expect(all.totalBytes).toBe(11500);
    expect(all.groups).toEqual([
      { repository: '/r2', source: 'app', kind: 'full', backups: 1, objects: 3, bytes: 7000 },
      { repository: '/r1', source: 'app', kind: 'full', backups: 2, objects: 6, bytes: 4000 },
      { repository: '/r1', source: 'crm', kind: 'full', backups: 1, objects: 2, bytes: 500 },
    ]);
    expect(all.growth).toEqual({ last7Days: 3500, last30Days: 4500 });
    expect(all.largest.map((b) => b.id)).toEqual(['20260901T000000Z-full-dddd', '20261120T000000Z-full-bbbb']);
    const one = await usage.execute({ repository: '/r1', source: 'app' });
    expect(one.totalBytes).toBe(4000);
  });
});
