import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppServices, appServices, buildContainer } from '../../../src/bootstrap/container.js';
import { type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';
import { tempDir } from '../../helpers/temp.js';
import { NASTY_SQL, SCHEMA_SQL, createDatabase, normalizedSchema, tableHashes } from './fixtures.js';

let server: PostgresServer;
let dir: { path: string; cleanup(): Promise<void> };
let app: AppServices;
const signal = () => new AbortController().signal;
const pgTarget = (database: string, options?: Record<string, unknown>) => ({
  engine: 'postgres' as const,
  url: server.url(database),
  options,
});

beforeAll(async () => {
  [server, dir] = await Promise.all([startPostgres(), tempDir('dbb-pg-')]);
  app = appServices(buildContainer({ dataDir: join(dir.path, 'data'), logLevel: 'error', json: false, progress: false, toolVersion: 'test' }));
  await Promise.all([createDatabase(server, 'nasty', NASTY_SQL), createDatabase(server, 'shop', SCHEMA_SQL)]);
});

afterAll(async () => {
  app?.close();
  await server?.stop();
  await dir?.cleanup();
});

const backup = (database: string, repository: string, extra: object = {}) =>
  app.runBackup.execute({ target: pgTarget(database), repository, kind: 'full', compression: { codec: 'zstd' }, parallel: 2, ...extra }, signal());

const restore = (repository: string, database: string, options: object = {}, extra: object = {}) =>
  app.restoreBackup.execute(
    { repository, backup: 'latest', target: pgTarget(database), clean: false, options: { create: true, parallel: 2, ...options }, ...extra },
    signal(),
  );

describe('PostgreSQL backup and restore', () => {
  it('round-trips nasty data exactly (NULL vs empty, unicode, bytea, json, arrays, NaN, zones, a 50 MB value)', async () => {
    const repository = join(dir.path, 'nasty-repo');
    const { manifest } = await backup('nasty', repository);
    expect(manifest.objects.find((o) => o.name === 'public.many')?.rows).toBe(20000);
    expect(manifest.objects.find((o) => o.name === 'public.no_columns')?.rows).toBe(2);
    expect(manifest.parts.map((p) => p.name)).toContain('data/public.nasty.0.copy.zst');
    await restore(repository, 'nasty_restored');
    expect(await tableHashes(server, 'nasty_restored')).toEqual(await tableHashes(server, 'nasty'));
    expect(normalizedSchema(server, 'nasty_restored')).toEqual(normalizedSchema(server, 'nasty'));
  });

  it('reproduces a schema with every object kind (pg_dump --schema-only identical)', async () => {
    const repository = join(dir.path, 'shop-repo');
    const { manifest } = await backup('shop', repository);
    expect(manifest.warnings).toEqual([]);
    await restore(repository, 'shop_restored', { restoreOwner: true, restoreGrants: true });
    expect(await tableHashes(server, 'shop_restored')).toEqual(await tableHashes(server, 'shop'));
    const schema = normalizedSchema(server, 'shop');
    for (const kind of ['CREATE POLICY', 'CREATE RULE', 'CREATE TRIGGER', 'CREATE AGGREGATE', 'CREATE PROCEDURE', 'CREATE MATERIALIZED VIEW', 'ATTACH PARTITION', 'GRANT SELECT', 'CREATE STATISTICS', 'AS RANGE', 'CREATE DOMAIN', 'EXCLUDE USING gist', 'FOREIGN KEY', 'INHERITS', 'COMMENT ON COLUMN', 'OWNER TO app_owner']) {
      expect(schema.some((s) => s.includes(kind)), kind).toBe(true);
    }
    expect(normalizedSchema(server, 'shop_restored')).toEqual(schema);
    const seq = await server.query<{ v: string }>(`SELECT last_value::text AS v FROM app.counter`, [], 'shop_restored');
    expect(seq[0]!.v).toBe('105');
  });
});
