import { cpSync, readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerModule } from 'inversify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MapConnectorRegistry } from '../../../src/adapters/connectors/connector-registry.js';
import { PostgresConnector } from '../../../src/adapters/connectors/postgres/postgres-connector.js';
import { type AppServices, appServices, buildContainer } from '../../../src/bootstrap/container.js';
import { Tokens } from '../../../src/bootstrap/tokens.js';
import { type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';
import { tempDir } from '../../helpers/temp.js';
import { SCHEMA_SQL, createDatabase, tableHashes } from './fixtures.js';

let server: PostgresServer;
let dir: { path: string; cleanup(): Promise<void> };
let app: AppServices;
let repository: string;
const signal = () => new AbortController().signal;
const pgTarget = (database: string) => ({ engine: 'postgres' as const, host: '127.0.0.1', port: server.port, user: 'postgres', database });

beforeAll(async () => {
  [server, dir] = await Promise.all([startPostgres(), tempDir('dbb-pgsel-')]);
  // Tiny parts, so that splitting a table into several parts is exercised too.
  const small = new ContainerModule(({ rebind }) => void rebind(Tokens.Connectors).toConstantValue(new MapConnectorRegistry([new PostgresConnector({ partSize: 64 << 10 })])));
  app = appServices(buildContainer({ dataDir: join(dir.path, 'data'), logLevel: 'error', json: false, progress: false, toolVersion: 'test' }, [small]));
  await createDatabase(server, 'shop', SCHEMA_SQL);
  await server.query(`CREATE TABLE public.bulk (id int PRIMARY KEY, v text); INSERT INTO public.bulk SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, 5000) i;`, [], 'shop');
  repository = join(dir.path, 'repo');
  await app.runBackup.execute({ target: pgTarget('shop'), repository, kind: 'full', compression: { codec: 'zstd' }, parallel: 2 }, signal());
});

afterAll(async () => {
  app?.close();
  await server?.stop();
  await dir?.cleanup();
});

const restore = (database: string, extra: { tables?: string[]; clean?: boolean; dryRun?: boolean; options?: object } = {}) =>
  app.restoreBackup.execute(
    { repository, backup: 'latest', target: pgTarget(database), clean: extra.clean ?? false, tables: extra.tables, dryRun: extra.dryRun, options: { create: true, parallel: 2, ...extra.options } },
    signal(),
  );

const relations = async (database: string) =>
  (await server.query<{ r: string }>(`SELECT format('%s.%s', n.nspname, c.relname) AS r FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1`, [], database)).map((x) => x.r);

describe('PostgreSQL selective and guarded restore', () => {
  it('splits large tables into parts of bounded size', async () => {
    const { manifest } = await restore('unused_plan', { dryRun: true });
    const bulkParts = manifest.parts.filter((p) => p.object === 'public.bulk');
    expect(bulkParts.length).toBeGreaterThan(2);
    for (const p of bulkParts) expect(p.rawSize).toBeLessThan((64 << 10) + 200);
    expect(manifest.objects.find((o) => o.name === 'public.bulk')?.rows).toBe(5000);
  });

  it('--dry-run prints the plan and touches nothing', async () => {
    const r = await restore('dry_target', { dryRun: true });
    expect(r.dryRun).toBe(true);
    expect(r.plan.targetExists).toBe(false);
    expect(r.plan.items.map((i) => i.object)).toEqual(expect.arrayContaining(['app.customers', 'app.orders', 'public.bulk']));
    expect(await server.query(`SELECT 1 FROM pg_database WHERE datname = 'dry_target'`)).toEqual([]);
  });

  it('restores chosen tables with the types, sequences and functions they need, not the rest', async () => {
    const r = await restore('only_customers', { tables: ['app.customers', 'measurements'] });
    expect(r.outcome?.objects).toEqual(expect.arrayContaining(['app.customers', 'app.measurements', 'app.m2024', 'app.m_other']));
    const rels = await relations('only_customers');
    expect(rels).toEqual(expect.arrayContaining(['app.customers', 'app.customers_id_seq', 'app.m2024']));
    expect(rels).not.toContain('app.orders');
    expect(rels).not.toContain('public.bulk');
    const src = await tableHashes(server, 'shop');
    const got = await tableHashes(server, 'only_customers');
    expect(got['app.customers']).toEqual(src['app.customers']);
    expect(got['app.m2024']).toEqual(src['app.m2024']);
    // The identity sequence continues where the source was.
    const [row] = await server.query<{ id: number }>(`INSERT INTO app.customers (email, name) VALUES ('z@z', 'zed') RETURNING id`, [], 'only_customers');
    expect(row!.id).toBe(13);
  });

  it('restores whole schemas with --schemas and leaves out --exclude-tables', async () => {
    await restore('only_app', { options: { schemas: ['app'], excludeTables: ['app.scratch'] } });
    const rels = await relations('only_app');
    expect(rels).toEqual(expect.arrayContaining(['app.orders', 'app.totals', 'app.log']));
    expect(rels).not.toContain('app.scratch');
    expect(rels).not.toContain('public.bulk');
  });

  it('refuses a non-empty target unless --clean, then replaces what the backup holds', async () => {
    await server.query('CREATE DATABASE occupied');
    await server.query(`CREATE TABLE public.bulk (x int); INSERT INTO public.bulk VALUES (1); CREATE TABLE public.keepme (y int);`, [], 'occupied');
    await expect(restore('occupied')).rejects.toMatchObject({ code: 'E_TARGET_EXISTS' });
    expect(await relations('occupied')).toEqual(['public.bulk', 'public.keepme']);
    await restore('occupied', { clean: true });
    const got = await tableHashes(server, 'occupied');
    const src = await tableHashes(server, 'shop');
    for (const [t, v] of Object.entries(src)) expect(got[t], t).toEqual(v);
    expect(await relations('occupied')).toContain('public.keepme');
  });

  it('an object that fails on the target is skipped and named, and the rest restored (E_PARTIAL)', async () => {
    await server.query('CREATE DATABASE sabotaged');
    await server.query(
      `CREATE SCHEMA trap;
       CREATE FUNCTION trap.no_index() RETURNS event_trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() WHERE object_identity = 'app.orders_amount_idx') THEN
           RAISE EXCEPTION 'indexes are forbidden here';
         END IF;
       END$$;
       CREATE EVENT TRIGGER no_index ON ddl_command_end WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION trap.no_index();`,
      [],
      'sabotaged',
    );
    const err = await restore('sabotaged', { clean: true, options: { parallel: 1 } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_PARTIAL' });
    const e = err as { message: string; details: { skipped: { object: string; reason: string }[] } };
    expect(e.details.skipped).toEqual([{ object: 'index app.orders_amount_idx', reason: 'indexes are forbidden here' }]);
    expect(e.message).toMatch(/index app\.orders_amount_idx: indexes are forbidden here/);
    const plain = (hashes: Record<string, { rows: number; hash: string }>) => Object.fromEntries(Object.entries(hashes).map(([k, v]) => [k.replace(/"/g, ''), v]));
    expect(plain(await tableHashes(server, 'sabotaged'))).toEqual(plain(await tableHashes(server, 'shop')));
  });

  it('a failure mid-restore (a table whose rows the target refuses) says exactly what was and was not restored', async () => {
    await server.query('CREATE DATABASE sabotaged_rows');
    await server.query(
      `CREATE SCHEMA trap;
       CREATE FUNCTION trap.no_rows() RETURNS event_trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() WHERE object_identity = 'app.orders') THEN
           ALTER TABLE app.orders ADD CONSTRAINT no_rows CHECK (false) NOT VALID;
         END IF;
       END$$;
       CREATE EVENT TRIGGER no_rows ON ddl_command_end WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION trap.no_rows();`,
      [],
      'sabotaged_rows',
    );
    const err = await restore('sabotaged_rows', { clean: true, options: { parallel: 1 } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_RESTORE_FAILED' });
    const e = err as { message: string; details: Record<string, string[]> };
    expect(e.message).toMatch(/failed at data of app\.orders: .*no_rows/);
    expect(e.message).toMatch(/data of \d+ of 10 tables/);
    expect(e.details.tablesNotRestored).toContain('app.orders');
    expect([...e.details.tablesRestored!, ...e.details.tablesNotRestored!].sort()).toHaveLength(10);
    // What the message calls restored holds the backup's rows; the rest holds none.
    const plain = (hashes: Record<string, { rows: number; hash: string }>) => Object.fromEntries(Object.entries(hashes).map(([k, v]) => [k.replace(/"/g, ''), v]));
    const src = plain(await tableHashes(server, 'shop'));
    const got = plain(await tableHashes(server, 'sabotaged_rows'));
    for (const t of e.details.tablesRestored!) expect(got[t], t).toEqual(src[t]);
    for (const t of e.details.tablesNotRestored!) expect(got[t], t).toMatchObject({ rows: 0 });
  });

  it('backs up only chosen tables (plus what they need) with --tables, and all but some with --exclude-tables', async () => {
    const repo2 = join(dir.path, 'repo-filtered');
    const { manifest } = await app.runBackup.execute(
      { target: pgTarget('shop'), repository: repo2, kind: 'full', compression: { codec: 'gzip' }, parallel: 1, tables: ['app.orders'] },
      signal(),
    );
    const names = manifest.objects.map((o) => o.name);
    expect(names).toContain('app.orders');
    expect(names).not.toContain('public.bulk');
    const repo3 = join(dir.path, 'repo-excluded');
    const ex = await app.runBackup.execute(
      { target: pgTarget('shop'), repository: repo3, kind: 'full', compression: { codec: 'none' }, parallel: 2, excludeTables: ['public.bulk', 'app.customers'] },
      signal(),
    );
    const exNames = ex.manifest.objects.map((o) => o.name);
    expect(exNames).not.toContain('public.bulk');
    expect(exNames).not.toContain('app.happy'); // a view over an excluded table goes too
    expect(ex.manifest.warnings.join('\n')).toMatch(/app\.happy left out/);
    await expect(
      app.runBackup.execute({ target: pgTarget('shop'), repository: repo3, kind: 'full', compression: { codec: 'none' }, parallel: 1, tables: ['nope'] }, signal()),
    ).rejects.toMatchObject({ code: 'E_USAGE' });
  });

  it('backup --dry-run lists what would be backed up, with estimated rows', async () => {
    const r = await app.runBackup.execute(
      { target: pgTarget('shop'), repository: join(dir.path, 'never'), kind: 'full', compression: { codec: 'zstd' }, parallel: 1, dryRun: true, excludeTables: ['app.log'] },
      signal(),
    );
    expect(r.dryRun).toBe(true);
    const bulk = r.manifest.objects.find((o) => o.name === 'public.bulk');
    expect(bulk).toMatchObject({ type: 'table' });
    expect(bulk!.rawBytes).toBeGreaterThan(0);
    expect(r.manifest.objects.find((o) => o.name === 'app.measurements')?.type).toBe('partitioned table');
    expect(r.manifest.objects.map((o) => o.name)).not.toContain('app.log');
  });

  it('lists objects it cannot reproduce as warnings, and a dry-run restore says it would skip them', async () => {
    await server.query('CREATE DATABASE odd');
    await server.query(
      `CREATE CONVERSION public.my_conv FOR 'UTF8' TO 'LATIN1' FROM pg_catalog.utf8_to_iso8859_1;
       CREATE TABLE public.t (a int);
       CREATE SUBSCRIPTION odd_sub CONNECTION 'host=127.0.0.1 port=1 dbname=nowhere' PUBLICATION p WITH (connect = false);
       CREATE ROLE odd_reader LOGIN; GRANT pg_read_all_data TO odd_reader;`,
      [],
      'odd',
    );
    // A role that is not a superuser may not read a subscription's connection: the one kind left that it cannot reproduce.
    const repo = join(dir.path, 'repo-odd');
    const { manifest } = await app.runBackup.execute(
      { target: { ...pgTarget('odd'), user: 'odd_reader' }, repository: repo, kind: 'full', compression: { codec: 'zstd' }, parallel: 1 },
      signal(),
    );
    expect(manifest.warnings).toEqual([
      "1 subscription not backed up (the backup role is not a superuser, so it could not read the subscription's connection): a restore skips it and what depends on it.",
    ]);
    const plan = await app.restoreBackup.execute({ repository: repo, backup: 'latest', target: pgTarget('odd_r'), clean: false, dryRun: true, options: { create: true } }, signal());
    expect(plan.plan.warnings).toContain("would skip not-reproducible subscription odd_sub: the backup role is not a superuser, so it could not read the subscription's connection");
    const strict = await app.restoreBackup.execute({ repository: repo, backup: 'latest', target: { ...pgTarget('odd_r'), options: { strict: true } }, clean: false, options: { create: true } }, signal()).catch((e: unknown) => e);
    expect(strict).toMatchObject({ code: 'E_RESTORE_FAILED' });
    expect((strict as Error).message).toMatch(/refused \(--strict\).*\n.*subscription odd_sub/);
    expect((await server.query(`SELECT 1 FROM pg_database WHERE datname = 'odd_r'`)).length).toBe(0);
  });

  it('maps connection failures to E_CONN_REFUSED and missing databases to E_NOT_FOUND', async () => {
    const dead = { engine: 'postgres' as const, host: '127.0.0.1', port: 1, user: 'postgres', database: 'x' };
    await expect(
      app.runBackup.execute({ target: dead, repository: join(dir.path, 'r'), kind: 'full', compression: { codec: 'zstd' }, parallel: 1 }, signal()),
    ).rejects.toMatchObject({ code: 'E_CONN_REFUSED' });
    await expect(
      app.runBackup.execute({ target: pgTarget('missing_db'), repository: join(dir.path, 'r'), kind: 'full', compression: { codec: 'zstd' }, parallel: 1 }, signal()),
    ).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await expect(restore('missing_too', { options: { create: false } })).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
  });

  it('a damaged part stops the restore before it changes anything (checked while it prepares)', async () => {
    // A copy of the repository whose last part of public.bulk has one flipped byte, and one whose
    // part is cut short: the restore reads the schema and looks at the target while the stored bytes
    // are checked, but creates nothing, not even the database --create asks for.
    for (const [name, damage, code] of [
      ['flipped', (f: string) => { const b = readFileSync(f); b[b.length >> 1] ^= 0x20; writeFileSync(f, b); }, 'E_CHECKSUM'],
      ['truncated', (f: string) => truncateSync(f, 100), 'E_TRUNCATED'],
    ] as const) {
      const damaged = join(dir.path, `repo-${name}`);
      cpSync(repository, damaged, { recursive: true });
      const [backupDir] = readdirSync(join(damaged, 'shop'));
      const data = join(damaged, 'shop', backupDir!, 'data');
      const part = readdirSync(data).filter((f) => f.startsWith('public.bulk.')).sort().at(-1)!;
      damage(join(data, part));
      const run = (database: string) =>
        app.restoreBackup.execute({ repository: damaged, backup: 'latest', target: pgTarget(database), clean: false, options: { create: true, parallel: 2 } }, signal());
      await expect(run(`never_${name}`)).rejects.toMatchObject({ code, message: expect.stringMatching(new RegExp(`${part.replace(/\./g, '\\.')}.*nothing was restored`)) });
      expect(await server.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [`never_${name}`])).toEqual([]);
      await server.query(`CREATE DATABASE empty_${name}`);
      await expect(run(`empty_${name}`)).rejects.toMatchObject({ code });
      expect(await relations(`empty_${name}`)).toEqual([]);
    }
  });
});
