import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DrizzleBackupCatalog } from '../../../src/adapters/catalog/drizzle-backup-catalog.js';
import type { Manifest } from '../../../src/domain/manifest.js';
import { tempDir } from '../../helpers/temp.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const manifest = (id: string, source: string, parent: string | null = null, rows = 1): Manifest => ({
  formatVersion: 1,
  id,
  source,
  engine: 'sqlite',
  serverVersion: '3',
  kind: parent ? 'incremental' : 'full',
  parent,
  baseFull: parent,
  startedAt: '2026-12-07T10:00:00.000Z',
  finishedAt: '2026-12-07T10:00:02.500Z',
  consistentAt: '2026-12-07T10:00:00.000Z',
  logPosition: null,
  objects: Array.from({ length: rows }, (_, i) => ({ name: `t${i}`, type: 'table' as const, rows: 1 })),
  parts: [],
  warnings: [],
  toolVersion: 'test',
  engineInfo: {},
});

// The catalog's queries are plain SQL over the drizzle-made tables: what each method reads back is
// what it wrote, with the port's field names and order, across a reopen of the file.
describe('the backup catalog', () => {
  it('records, replaces, filters, orders, forgets and lists repositories as the port says', async () => {
    const dir = await tempDir('dbb-catalog-');
    cleanups.push(() => dir.cleanup());
    const file = join(dir.path, 'catalog.db');
    let catalog = new DrizzleBackupCatalog(file);
    await catalog.record('/b', manifest('20261207T110000Z-full-bbbb', 'app'));
    await catalog.record('/a', manifest('20261207T100000Z-full-aaaa', 'app'));
    await catalog.record('/a', manifest('20261207T120000Z-incremental-cccc', 'app', '20261207T100000Z-full-aaaa'));
    await catalog.record('/a', manifest('20261207T090000Z-full-dddd', 'other'));
    // Recording the same backup again replaces its row.
    await catalog.record('/a', manifest('20261207T100000Z-full-aaaa', 'app', null, 3));
    catalog.close();
    catalog = new DrizzleBackupCatalog(file);
    cleanups.push(() => catalog.close());

    expect((await catalog.list()).map((b) => `${b.repository} ${b.id}`)).toEqual([
      '/a 20261207T090000Z-full-dddd',
      '/a 20261207T100000Z-full-aaaa',
      '/b 20261207T110000Z-full-bbbb',
      '/a 20261207T120000Z-incremental-cccc',
    ]);
    expect((await catalog.list({ repository: '/a', source: 'app' })).map((b) => b.id)).toEqual(['20261207T100000Z-full-aaaa', '20261207T120000Z-incremental-cccc']);
    const [full, incremental] = await catalog.list({ repository: '/a', source: 'app' });
    expect(full).toEqual({
      id: '20261207T100000Z-full-aaaa',
      repository: '/a',
      source: 'app',
      engine: 'sqlite',
      kind: 'full',
      parent: null,
      startedAt: '2026-12-07T10:00:00.000Z',
      finishedAt: '2026-12-07T10:00:02.500Z',
      storedSize: 0,
      rawSize: 0,
      durationMs: 2500,
      status: 'complete',
      objectCount: 3,
      partCount: 0,
    });
    expect(incremental!.parent).toBe('20261207T100000Z-full-aaaa');
    expect(await catalog.repositories()).toEqual(['/a', '/b']);

    await catalog.forget('/a', ['20261207T100000Z-full-aaaa', '20261207T090000Z-full-dddd', 'not-there']);
    expect((await catalog.list()).map((b) => b.id)).toEqual(['20261207T110000Z-full-bbbb', '20261207T120000Z-incremental-cccc']);
    await catalog.forget('/a', []);
    expect(await catalog.list({ source: 'other' })).toEqual([]);
  });
});
