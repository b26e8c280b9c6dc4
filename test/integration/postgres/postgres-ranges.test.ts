import { join } from 'node:path';
import { ContainerModule } from 'inversify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MapConnectorRegistry } from '../../../src/adapters/connectors/connector-registry.js';
import { PostgresConnector } from '../../../src/adapters/connectors/postgres/postgres-connector.js';
import { type AppServices, appServices, buildContainer } from '../../../src/bootstrap/container.js';
import { Tokens } from '../../../src/bootstrap/tokens.js';
import { type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';
import { tempDir } from '../../helpers/temp.js';

// A table read in page ranges (TID range scans in one exported snapshot, ranges of 64 pages here)
// restores row for row: ranges that hold no row, values with COPY's special characters, and rows
// that move to other ranges (non-HOT updates into free pages) or are added while the dump runs.

let server: PostgresServer;
let dir: { path: string; cleanup(): Promise<void> };
let app: AppServices;
const signal = () => new AbortController().signal;
const pgTarget = (database: string) => ({ engine: 'postgres' as const, url: server.url(database) });
const CHUNK = 64;
const ADDED = 1_000_000;

/** md5 of a table's rows in key order (text form of each row), and its row count. */
const digest = async (database: string, where = 'true') =>
  (
    await server.query<{ md5: string; n: number }>(`SELECT md5(string_agg(w::text, '|' ORDER BY id)) AS md5, count(*)::int AS n FROM wide w WHERE ${where}`, [], database)
  )[0]!;

beforeAll(async () => {
  [server, dir] = await Promise.all([startPostgres(), tempDir('dbb-pgranges-')]);
  const small = new ContainerModule(({ rebind }) => void rebind(Tokens.Connectors).toConstantValue(new MapConnectorRegistry([new PostgresConnector({ partSize: 1 << 20, chunkPages: CHUNK })])));
  app = appServices(buildContainer({ dataDir: join(dir.path, 'data'), logLevel: 'error', json: false, progress: false, toolVersion: 'test' }, [small]));
  await server.query('CREATE DATABASE ranges');
  await server.query(
    `CREATE TABLE wide (id int PRIMARY KEY, t text, b bytea, j jsonb, n numeric, ts timestamptz);
     INSERT INTO wide SELECT i,
       CASE WHEN i % 7 = 0 THEN NULL WHEN i % 5 = 0 THEN E'line\\nbreak\\ttab\\\\back \\\\N' ELSE repeat(md5(i::text), 3) END,
       CASE WHEN i % 11 = 0 THEN NULL ELSE decode(md5(i::text) || '00ff5c0a', 'hex') END,
       jsonb_build_object('i', i, 's', E'q"\\n\\t\\\\'), i * 1.5, '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 second'
     FROM generate_series(1, 30000) i;
     -- A run of pages in the middle with no row at all (vacuumed, not truncated: rows follow them).
     DELETE FROM wide WHERE id BETWEEN 8000 AND 16000;
     CREATE TABLE tiny (k int, v text);
     INSERT INTO tiny VALUES (1, 'a'), (2, NULL);
     CREATE TABLE empty_t (k int);`,
    [],
    'ranges',
  );
  await server.query('VACUUM wide', [], 'ranges');
});

afterAll(async () => {
  app?.close();
  await server?.stop();
  await dir?.cleanup();
});

describe('PostgreSQL backup of a table in page ranges', () => {
  it('restores every row once, with empty ranges among them', async () => {
    const [{ pages }] = (await server.query<{ pages: number }>(`SELECT (pg_relation_size('wide') / 8192)::int AS pages`, [], 'ranges')) as [{ pages: number }];
    expect(pages).toBeGreaterThan(10 * CHUNK);
    const repository = join(dir.path, 'static');
    const { manifest } = await app.runBackup.execute(
      { target: pgTarget('ranges'), repository, kind: 'full', compression: { codec: 'zstd' }, parallel: 3 },
      signal(),
    );
    const parts = manifest.parts.filter((p) => p.object === 'public.wide');
    // One part per range at least (the table is ~6 MB: cut by size alone it would be ~6 parts).
    expect(parts.length).toBeGreaterThanOrEqual(Math.floor(pages / CHUNK));
    // The deleted middle: ranges that held no row are written as empty parts and restore as nothing.
    expect(parts.filter((p) => p.rawSize === 0).length).toBeGreaterThan(0);
    expect(manifest.objects.find((o) => o.name === 'public.wide')!.rows).toBe(30000 - 8001);
    await app.restoreBackup.execute(
      { repository, backup: 'latest', target: pgTarget('static_copy'), clean: false, options: { create: true, parallel: 2 } },
      signal(),
    );
    expect(await digest('static_copy')).toEqual(await digest('ranges'));
    // The content hash merged from the ranges' digests is the one the restored table gives back, read whole.
    const session = await new PostgresConnector().connect(pgTarget('static_copy'), 'backup');
    try {
      const [wide] = await session.contents!.digest({ tables: ['public.wide'] }, signal());
      expect(manifest.objects.find((o) => o.name === 'public.wide')).toMatchObject({ rows: wide!.rows, contentHash: wide!.hash });
    } finally {
      await session.close();
    }
    expect(await server.query('SELECT k, v FROM tiny ORDER BY k', [], 'static_copy')).toEqual([{ k: 1, v: 'a' }, { k: 2, v: null }]);
    expect(await server.query('SELECT count(*)::int AS n FROM empty_t', [], 'static_copy')).toEqual([{ n: 0 }]);
  });

  it('restores the snapshot while rows are added and moved between ranges', async () => {
    const original = await digest('ranges', `id < ${ADDED}`);
    const writer = await server.connect('ranges');
    let stop = false;
    let commits = 0;
    const writing = (async () => {
      for (let k = 1; !stop; k++) {
        // The table grows past the pages counted at the start; the update writes a new version of
        // an old row elsewhere (its page is full, so not HOT): into the vacuumed middle or the end.
        await writer.query('BEGIN');
        await writer.query(`INSERT INTO wide (id, t) VALUES ($1, repeat('x', 300))`, [ADDED + k]);
        await writer.query('UPDATE wide SET n = n WHERE id = $1', [16000 + ((k * 7919) % 14000) + 1]);
        await writer.query('COMMIT');
        commits++;
      }
    })();
    try {
      while (commits < 20) await new Promise((r) => setTimeout(r, 20));
      const atStart = commits;
      const repository = join(dir.path, 'live');
      const { manifest } = await app.runBackup.execute(
        { target: pgTarget('ranges'), repository, kind: 'full', compression: { codec: 'zstd' }, parallel: 3 },
        signal(),
      );
      const before = commits;
      while (commits < before + 20) await new Promise((r) => setTimeout(r, 20));
      stop = true;
      await writing;
      expect(manifest.parts.filter((p) => p.object === 'public.wide').length).toBeGreaterThan(10);
      await app.restoreBackup.execute(
        { repository, backup: 'latest', target: pgTarget('live_copy'), clean: false, options: { create: true, parallel: 2 } },
        signal(),
      );
      // The rows that existed before: each exactly once, unchanged, whichever range its version was in.
      expect(await digest('live_copy', `id < ${ADDED}`)).toEqual(original);
      // The added rows: a gapless prefix of the writer's, at least those committed before the backup.
      const [added] = await server.query<{ n: number; lo: number | null; hi: number | null }>(
        `SELECT count(*)::int AS n, min(id) AS lo, max(id) AS hi FROM wide WHERE id > ${ADDED}`,
        [],
        'live_copy',
      );
      expect(added!.n).toBeGreaterThanOrEqual(atStart);
      expect(added!.n).toBeLessThanOrEqual(before);
      expect([added!.lo, added!.hi]).toEqual([ADDED + 1, ADDED + added!.n]);
      const [now] = await server.query<{ n: number }>(`SELECT count(*)::int AS n FROM wide WHERE id > ${ADDED}`, [], 'ranges');
      expect(now!.n).toBeGreaterThan(added!.n);
    } finally {
      stop = true;
      await writing.catch(() => undefined);
      await writer.end();
    }
  });
});
