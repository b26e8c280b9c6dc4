import { copyFile, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppServices, appServices, buildContainer } from '../../../src/bootstrap/container.js';
import { DbBackupError } from '../../../src/domain/errors.js';
import { PG_BIN, type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';
import { tempDir } from '../../helpers/temp.js';
import { createDatabase, tableHashes } from './fixtures.js';

/**
 * Issue 19: a restore never dies on one object. A backup holding a C function whose library is
 * missing on the target restores everything else and ends partial (exit 5), naming the function
 * and what depends on it; with --strict it fails (exit 1) and leaves nothing restored.
 */
let server: PostgresServer;
let dir: { path: string; cleanup(): Promise<void> };
let app: AppServices;
const signal = () => new AbortController().signal;
const target = (database: string, options?: Record<string, unknown>) => ({ engine: 'postgres' as const, url: server.url(database), ...(options ? { options } : {}) });
const pkglibdir = () => execFileSync(join(PG_BIN, 'pg_config'), ['--pkglibdir'], { encoding: 'utf8' }).trim();

beforeAll(async () => {
  [server, dir] = await Promise.all([startPostgres(), tempDir('dbb-pgkind-')]);
  app = appServices(buildContainer({ dataDir: join(dir.path, 'data'), logLevel: 'error', json: false, progress: false, toolVersion: 'test' }));
});

afterAll(async () => {
  app?.close();
  await server?.stop();
  await dir?.cleanup();
});

async function backup(database: string): Promise<{ repository: string; warnings: string[] }> {
  const repository = join(dir.path, `${database}-repo`);
  const { manifest } = await app.runBackup.execute({ target: target(database), repository, kind: 'full', compression: { codec: 'zstd' }, parallel: 2 }, signal());
  return { repository, warnings: manifest.warnings };
}

async function restoreError(repository: string, database: string, options: Record<string, unknown> = {}, connection?: Record<string, unknown>): Promise<DbBackupError> {
  const err = await app.restoreBackup
    .execute({ repository, backup: 'latest', target: target(database, connection), clean: false, options: { create: true, parallel: 2, ...options } }, signal())
    .then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(DbBackupError);
  return err as DbBackupError;
}

const exists = async (database: string) => (await server.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [database])).length === 1;

describe('a restore never dies on one object', () => {
  it('skips a C function whose library is missing on the target, and what needs it; --strict restores nothing', async () => {
    // A library the source has and the target will not: a copy of a contrib module under a name of its own.
    const lib = join(pkglibdir(), 'dbbackup_gone.so');
    await copyFile(join(pkglibdir(), 'earthdistance.so'), lib);
    let repository: string;
    try {
      await createDatabase(
        server,
        'clib',
        `CREATE FUNCTION public.gone_distance(point, point) RETURNS float8 LANGUAGE c IMMUTABLE STRICT AS '$libdir/dbbackup_gone', 'geo_distance';
         CREATE VIEW public.far AS SELECT public.gone_distance(point(0, 0), point(1, 1)) AS d;
         CREATE VIEW public.farther AS SELECT d * 2 AS d2 FROM public.far;
         CREATE TABLE public.trips (id int PRIMARY KEY, km float8 DEFAULT public.gone_distance(point(0, 0), point(0, 1)));
         CREATE INDEX trips_km ON public.trips (public.gone_distance(point(id, 0), point(0, 0)));
         INSERT INTO public.trips VALUES (1, 2.5), (2, 7);
         CREATE TABLE public.kept (id int PRIMARY KEY, note text);
         INSERT INTO public.kept SELECT i, 'n' || i FROM generate_series(1, 100) i;
         CREATE FUNCTION public.fine(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 1';`,
      );
      ({ repository } = await backup('clib'));
    } finally {
      await rm(lib, { force: true });
    }

    const partial = await restoreError(repository, 'clib_r');
    expect(partial.code, partial.message).toBe('E_PARTIAL');
    expect(partial.exitCode).toBe(5);
    const skipped = (partial.details.skipped as { object: string; reason: string }[]).map((s) => s.object).sort();
    expect(skipped).toEqual([
      'default public.trips.km',
      'function public.gone_distance(point,point)',
      'index public.trips_km',
      'view public.far',
      'view public.farther',
    ]);
    expect(partial.message).toMatch(/function public\.gone_distance\(point,point\): could not access file "\$libdir\/dbbackup_gone"/);
    expect(partial.message).toContain('view public.farther: it needs view public.far, which was skipped');
    // Everything else is there, with its rows.
    expect(await tableHashes(server, 'clib_r')).toEqual(await tableHashes(server, 'clib'));
    const fine = await server.query<{ v: number }>(`SELECT public.fine(1) AS v`, [], 'clib_r');
    expect(fine[0]!.v).toBe(2);

    // --strict into a database it creates: the failure drops it again.
    const strict = await restoreError(repository, 'clib_strict', {}, { strict: true });
    expect(strict.code).toBe('E_RESTORE_FAILED');
    expect(strict.exitCode).toBe(1);
    expect(strict.message).toMatch(/gone_distance/);
    expect(strict.message).toMatch(/Nothing was restored \(--strict\): the database .*clib_strict.* was dropped again/);
    expect(await exists('clib_strict')).toBe(false);

    // --strict into an existing empty database: the schema step rolls back, nothing is left.
    await server.query(`CREATE DATABASE clib_empty`);
    const strict2 = await restoreError(repository, 'clib_empty', {}, { strict: true });
    expect(strict2.exitCode).toBe(1);
    expect(strict2.message).toMatch(/Nothing was restored/);
    const left = await server.query(`SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'`, [], 'clib_empty');
    expect(left).toEqual([]);
  });
});
