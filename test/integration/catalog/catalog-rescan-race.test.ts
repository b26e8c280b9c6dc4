import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DrizzleBackupCatalog } from '../../../src/adapters/catalog/drizzle-backup-catalog.js';
import type { Manifest } from '../../../src/domain/manifest.js';
import { tempDir } from '../../helpers/temp.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const manifest = (id: string): Manifest => ({
  formatVersion: 1,
  id,
  source: 'app',
  engine: 'sqlite',
  serverVersion: '3',
  kind: 'full',
  parent: null,
  baseFull: null,
  startedAt: '2026-12-07T10:00:00.000Z',
  finishedAt: '2026-12-07T10:00:01.000Z',
  consistentAt: '2026-12-07T10:00:00.000Z',
  logPosition: null,
  objects: [{ name: 't', type: 'table', rows: 1 }],
  parts: [],
  warnings: [],
  toolVersion: 'test',
  engineInfo: {},
});

// Found by the reliability suite's concurrency family: a prune (or `list --refresh`) that scanned the
// repository before a concurrent backup finished replaced the catalog's view with its scan, and the
// backup that had just recorded itself vanished from the catalog.
describe('a rescan of a repository on the catalog', () => {
  it('drops backups the scan did not see, but not one recorded after the scan began', async () => {
    const dir = await tempDir('dbb-rescan-');
    cleanups.push(() => dir.cleanup());
    const catalog = new DrizzleBackupCatalog(join(dir.path, 'catalog.db'));
    cleanups.push(() => catalog.close());
    const repo = '/srv/backups';
    await catalog.record(repo, manifest('20261207T090000Z-full-old1'));
    await catalog.record(repo, manifest('20261207T093000Z-full-gone'));
    await new Promise((r) => setTimeout(r, 5));
    const scannedFrom = new Date();
    await new Promise((r) => setTimeout(r, 5));
    // A backup completes while the scan runs: the scan does not see it.
    await catalog.record(repo, manifest('20261207T100000Z-full-new1'));
    // The scan saw old1 only (gone was deleted by someone else before it).
    await catalog.replaceRepository(repo, [manifest('20261207T090000Z-full-old1')], scannedFrom);
    expect((await catalog.list({ repository: repo })).map((b) => b.id)).toEqual(['20261207T090000Z-full-old1', '20261207T100000Z-full-new1']);
    // Without a scan time (an authoritative view), the catalog becomes exactly the manifests given.
    await catalog.replaceRepository(repo, [manifest('20261207T090000Z-full-old1')]);
    expect((await catalog.list({ repository: repo })).map((b) => b.id)).toEqual(['20261207T090000Z-full-old1']);
  });
});
