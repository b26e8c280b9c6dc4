import { execFileSync } from 'node:child_process';
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppServices, appServices, buildContainer } from '../../../src/bootstrap/container.js';
import { runCli } from '../../helpers/cli.js';
import { PG_BIN, type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';
import { tempDir } from '../../helpers/temp.js';
import { createDatabase, normalizedSchema, tableHashes } from './fixtures.js';
import { CATALOG_SQL, EXTENSIONS_SQL, PAGILA_SQL, PATTERNS_SQL, UNSUPPORTED_SQL } from './real-world-fixtures.js';

/**
 * Real-world schemas (a pagila-like sample database, contrib extensions, production patterns and
 * catalog objects beyond tables) through the real product: backup → restore into a new database →
 * equal row counts and content hashes, equal `pg_dump --schema-only`, equal large objects.
 */
let server: PostgresServer;
let dir: { path: string; cleanup(): Promise<void> };
let app: AppServices;
const signal = () => new AbortController().signal;
const target = (database: string) => ({ engine: 'postgres' as const, url: server.url(database) });

beforeAll(async () => {
  [server, dir] = await Promise.all([startPostgres(), tempDir('dbb-pgrw-')]);
  app = appServices(buildContainer({ dataDir: join(dir.path, 'data'), logLevel: 'error', json: false, progress: false, toolVersion: 'test' }));
  await Promise.all([
    createDatabase(server, 'pagila', PAGILA_SQL),
    createDatabase(server, 'exts', EXTENSIONS_SQL),
    createDatabase(server, 'patterns', PATTERNS_SQL),
    createDatabase(server, 'catalog', CATALOG_SQL),
    createDatabase(server, 'odd', UNSUPPORTED_SQL).then(() => tablespaceTable('odd')),
    server
      .query(`CREATE DATABASE icu_db TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'de-DE'`)
      .then(() => server.query(`CREATE TABLE public.w (w text); INSERT INTO public.w VALUES ('a'), ('B'), ('ä'), ('Z')`, [], 'icu_db')),
  ]);
});

/** A tablespace (a folder the server's OS user owns) holding one table of `database`. */
async function tablespaceTable(database: string): Promise<void> {
  const location = join(server.dir, 'ts1');
  await mkdir(location);
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  if (process.getuid?.() === 0) await chown(location, id('-u'), id('-g'));
  await server.query(`CREATE TABLESPACE ts1 LOCATION '${location}'`);
  await server.query(`CREATE TABLE public.placed (id int) TABLESPACE ts1; INSERT INTO public.placed VALUES (1)`, [], database);
}

afterAll(async () => {
  app?.close();
  await server?.stop();
  await dir?.cleanup();
});

/** Backs `database` up, restores it as `<database>_r` with owners and grants, returns the manifest warnings. */
async function roundTrip(database: string): Promise<string[]> {
  const repository = join(dir.path, `${database}-repo`);
  const { manifest } = await app.runBackup.execute(
    { target: target(database), repository, kind: 'full', compression: { codec: 'zstd' }, parallel: 2 },
    signal(),
  );
  await app.restoreBackup.execute(
    { repository, backup: 'latest', target: target(`${database}_r`), clean: false, options: { create: true, parallel: 2, restoreOwner: true, restoreGrants: true } },
    signal(),
  );
  return manifest.warnings;
}

/** Statements only on one side, so a failure shows exactly what differs. */
function schemaDiff(a: string, b: string): { missing: string[]; extra: string[] } {
  const left = normalizedSchema(server, a);
  const right = normalizedSchema(server, b);
  const count = (xs: string[]) => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>());
  const l = count(left);
  const r = count(right);
  return {
    missing: [...l].filter(([s, n]) => (r.get(s) ?? 0) < n).map(([s]) => s),
    extra: [...r].filter(([s, n]) => (l.get(s) ?? 0) < n).map(([s]) => s),
  };
}

/** Same rows and same schema; `kinds` are statements the source's schema must hold (so the fixture is what it claims). */
async function expectSameDatabase(source: string, kinds: string[] = []): Promise<void> {
  const restored = `${source}_r`;
  expect(await tableHashes(server, restored)).toEqual(await tableHashes(server, source));
  expect(schemaDiff(source, restored)).toEqual({ missing: [], extra: [] });
  const schema = normalizedSchema(server, source).join('\n');
  for (const kind of kinds) expect(schema, kind).toContain(kind);
}

const largeObjects = (database: string) =>
  server.query<{ oid: number; owner: string; md5: string; size: number; comment: string | null; acl: string | null }>(
    `SELECT m.oid::int AS oid, pg_get_userbyid(m.lomowner) AS owner, md5(lo_get(m.oid)) AS md5, length(lo_get(m.oid)) AS size,
       obj_description(m.oid, 'pg_largeobject') AS comment, m.lomacl::text AS acl FROM pg_largeobject_metadata m ORDER BY 1`,
    [],
    database,
  );

describe('PostgreSQL real-world schemas round-trip', () => {
  it('a pagila-like DVD rental database', async () => {
    const warnings = await roundTrip('pagila');
    await expectSameDatabase('pagila', ['AS ENUM', 'CREATE DOMAIN', 'CREATE AGGREGATE public.group_concat', 'ORDER BY anyelement', 'MSFUNC',
      'ATTACH PARTITION public.payment_p2022_01', 'DEFAULT', 'CREATE MATERIALIZED VIEW', 'tsvector_update_trigger', 'SECURITY DEFINER', 'BEGIN ATOMIC']);
    expect(warnings).toEqual([]);
    const seq = await server.query<{ v: string }>(`SELECT last_value::text AS v FROM public.actor_actor_id_seq`, [], 'pagila_r');
    expect(seq[0]!.v).toBe('1000');
    const agg = await server.query<{ v: string }>(`SELECT public.group_concat(name ORDER BY name) AS v FROM public.language`, [], 'pagila_r');
    expect(agg[0]!.v).toBe('English, Italian, Japanese');
  });

  it('contrib extensions and large objects', async () => {
    const warnings = await roundTrip('exts');
    await expectSameDatabase('exts', ['gin_trgm_ops', 'siglen', 'USING gist (path)', 'gin__int_ops', 'll_to_earth', 'gen_random_uuid()', 'lo_manage',
      'REVOKE ALL ON FUNCTION public.digest(text, text) FROM PUBLIC']);
    expect(warnings).toEqual([]);
    const source = await largeObjects('exts');
    expect(source.length).toBe(4);
    expect(await largeObjects('exts_r')).toEqual(source);
  });

  it('production patterns: identities, circular keys, RLS, default privileges, odd names, 50 partitions', async () => {
    const warnings = await roundTrip('patterns');
    await expectSameDatabase('patterns', ['GENERATED ALWAYS AS IDENTITY', 'DEFERRABLE INITIALLY DEFERRED', 'NOT VALID', 'EXCLUDE USING gist', 'INCLUDE (guest)',
      'CREATE CONSTRAINT TRIGGER', 'INSTEAD OF INSERT', 'CREATE RULE', 'FORCE ROW LEVEL SECURITY', 'GRANT SELECT(tenant)', 'ALTER DEFAULT PRIVILEGES',
      'SET search_path TO', 'CASCADED CHECK OPTION', 'WITH RECURSIVE', 'INHERITS (billing.audited, billing.named)', 'GENERATED ALWAYS AS ((price * 1.2)) STORED',
      'CREATE UNLOGGED TABLE', '"Odd Schema.ü"."user"', 'autovacuum_vacuum_scale_factor', 'SET STATISTICS 1000', 'SET STORAGE EXTERNAL', 'SET COMPRESSION pglz',
      'CLUSTER ON booking_inc', 'REPLICA IDENTITY FULL', 'PARTITION BY HASH', 'ATTACH PARTITION billing.events_old',
      'toast.autovacuum_enabled', 'COMMENT ON INDEX billing.invoice_pkey', 'ALTER STATISTICS billing.line_stats SET STATISTICS 500', 'FOR ROLE ro_app REVOKE ALL ON FUNCTIONS']);
    expect(warnings).toEqual([]);
    const identity = await server.query<{ id: string }>(`INSERT INTO billing.line (invoice_id, qty, price) VALUES (1000, 1, 1) RETURNING id::text`, [], 'patterns_r');
    expect(identity[0]!.id).toBe('701');
  });

  it('catalog objects: collations, text search, operators and classes, casts, event triggers, publications', async () => {
    const warnings = await roundTrip('catalog');
    await expectSameDatabase('catalog', ['CREATE COLLATION ext.und_ci', "provider = icu", 'CREATE TEXT SEARCH CONFIGURATION ext.my_english', 'CREATE TEXT SEARCH PARSER',
      'CREATE TEXT SEARCH TEMPLATE', 'CREATE OPERATOR ext.<#', 'CREATE OPERATOR CLASS ext.complex_abs_ops', 'CREATE CAST (ext.complex AS double precision)',
      'CREATE EVENT TRIGGER log_ddl', 'CREATE PUBLICATION pub_all_words', 'ADD TABLES IN SCHEMA ext', 'WHERE ((id > 0))', 'CREATE FOREIGN TABLE ext.remote_users',
      'CREATE USER MAPPING FOR postgres SERVER remote_srv', 'CREATE FOREIGN DATA WRAPPER dummy_fdw', 'CREATE TABLE ext.people OF ext.person', 'n_distinct=100',
      "COMMENT ON COLUMN ext.person.age IS 'in years'"]);
    expect(warnings).toEqual([]);
    const settings = (database: string) =>
      server.query<{ settings: string[]; comment: string }>(
        `SELECT s.setconfig AS settings, shobj_description(d.oid, 'pg_database') AS comment FROM pg_database d
           LEFT JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0 WHERE d.datname = $1`,
        [database],
      );
    expect(await settings('catalog_r')).toEqual(await settings('catalog'));
    expect((await settings('catalog'))[0]!.settings).toContain('search_path=ext, public');
    // --clean over the restored copy drops and recreates every one of these kinds.
    await app.restoreBackup.execute(
      { repository: join(dir.path, 'catalog-repo'), backup: 'latest', target: target('catalog_r'), clean: true, options: { parallel: 2, restoreOwner: true, restoreGrants: true } },
      signal(),
    );
    await expectSameDatabase('catalog');
    // A selective restore brings the collations, operator classes and text search objects its tables need.
    await app.restoreBackup.execute(
      { repository: join(dir.path, 'catalog-repo'), backup: 'latest', target: target('catalog_sel'), clean: false,
        tables: ['ext.words', 'ext.points', 'ext.articles', 'ext.sharded'], options: { create: true, parallel: 2 } },
      signal(),
    );
    const hashes = await tableHashes(server, 'catalog');
    const picked = await tableHashes(server, 'catalog_sel');
    expect(Object.keys(picked).sort()).toEqual(['ext.articles', 'ext.points', 'ext.sharded_local', 'ext.words']);
    for (const [table, h] of Object.entries(picked)) expect(h, table).toEqual(hashes[table]);
  });

  it('names every kind it does not reproduce in the manifest warnings, and still restores the rest', async () => {
    const warnings = await roundTrip('odd');
    // Subscriptions, conversions, per-role settings and the database's grants are reproduced since issue 19.
    expect(warnings).toEqual([
      "1 tables, indexes or materialized views are in tablespaces of their own; a restore puts them in the target's default tablespace.",
    ]);
    expect(await tableHashes(server, 'odd_r')).toEqual(await tableHashes(server, 'odd'));
    const kinds = (database: string) =>
      server.query<{ n: number }>(
        `SELECT (SELECT count(*) FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid WHERE d.datname = current_database())::int
           + (SELECT count(*) FROM pg_conversion WHERE conname = 'my_conv')::int AS n`,
        [],
        database,
      );
    expect(await kinds('odd_r')).toEqual([{ n: 2 }]);
    // The CLI, as a user runs it, says so too.
    const cli = await runCli(['backup', '--db', 'postgres', '--url', server.url('odd'), '--out', join(dir.path, 'odd-cli')], {
      env: { DBBACKUP_DATA_DIR: join(dir.path, 'cli-data') },
    });
    expect(cli.code, cli.stderr).toBe(0);
    for (const w of warnings) expect(cli.stdout).toContain(w);
  });

  it('a backup role that row-level security would filter fails cleanly with the fix, and leaves no parts', async () => {
    await server.query(`CREATE DATABASE rls_db`);
    await server.query(
      `CREATE TABLE public.t (id int, v text); INSERT INTO public.t SELECT i, 'x' FROM generate_series(1, 5000) i;
       ALTER TABLE public.t ENABLE ROW LEVEL SECURITY; ALTER TABLE public.t FORCE ROW LEVEL SECURITY;
       CREATE POLICY few ON public.t USING (id < 10);
       CREATE ROLE rls_reader LOGIN; GRANT pg_read_all_data TO rls_reader;`,
      [],
      'rls_db',
    );
    const out = join(dir.path, 'rls-repo');
    const cli = await runCli(['backup', '--db', 'postgres', '--url', server.url('rls_db').replace('postgres@', 'rls_reader@'), '--out', out], {
      env: { DBBACKUP_DATA_DIR: join(dir.path, 'cli-data') },
    });
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/^error E_BACKUP_FAILED: .*row-level security.*BYPASSRLS/m);
    expect(cli.stderr).not.toMatch(/Unhandled|node:events|\n\s+at /);
    expect(execFileSync('find', [out, '-name', '*.copy*'], { encoding: 'utf8' })).toBe('');
  });

  it('a database whose default collation is ICU is recreated with it', async () => {
    expect(await roundTrip('icu_db')).toEqual([]);
    const info = (database: string) =>
      server.query<{ p: string; l: string; sorted: string }>(
        `SELECT d.datlocprovider AS p, d.daticulocale AS l, (SELECT string_agg(w, ',' ORDER BY w) FROM public.w) AS sorted
           FROM pg_database d WHERE d.datname = current_database()`,
        [],
        database,
      );
    expect(await info('icu_db_r')).toEqual(await info('icu_db'));
    expect((await info('icu_db'))[0]).toEqual({ p: 'i', l: 'de-DE', sorted: 'a,ä,B,Z' });
  });

  it("an extension's configuration tables keep the user's rows: all of them, or those its filter picks beside the ones CREATE EXTENSION adds", async () => {
    // An extension of our own in the server's share folder (contrib has none with configuration tables);
    // its script marks them as postgis does spatial_ref_sys (shipped rows filtered out).
    const sharedir = execFileSync(join(PG_BIN, 'pg_config'), ['--sharedir'], { encoding: 'utf8' }).trim();
    const files = [join(sharedir, 'extension', 'dbbackup_cfgtest.control'), join(sharedir, 'extension', 'dbbackup_cfgtest--1.0.sql')];
    await writeFile(files[0]!, "default_version = '1.0'\nrelocatable = false\nsuperuser = true\n");
    await writeFile(
      files[1]!,
      `CREATE TABLE cfg_all (id int PRIMARY KEY, v text);
       CREATE TABLE cfg_refs (code int PRIMARY KEY, name text NOT NULL, builtin boolean NOT NULL DEFAULT false);
       INSERT INTO cfg_refs VALUES (1, 'shipped one', true), (2, 'shipped two', true);
       CREATE SEQUENCE cfg_seq;
       SELECT pg_catalog.pg_extension_config_dump('cfg_all', '');
       SELECT pg_catalog.pg_extension_config_dump('cfg_refs', 'WHERE NOT builtin');
       SELECT pg_catalog.pg_extension_config_dump('cfg_seq', '');\n`,
    );
    try {
      await createDatabase(
        server,
        'cfgext',
        `CREATE EXTENSION dbbackup_cfgtest;
         INSERT INTO cfg_all VALUES (1, 'a'), (2, E'tab\\there');
         INSERT INTO cfg_refs VALUES (100, 'mine', false), (101, 'also mine', false);
         SELECT setval('cfg_seq', 42);`,
      );
      expect(await roundTrip('cfgext')).toEqual([]);
      const rows = (database: string) =>
        server.query<{ t: string }>(
          `SELECT (SELECT string_agg(format('%s=%s', id, v), ',' ORDER BY id) FROM cfg_all) || ' | ' ||
             (SELECT string_agg(format('%s=%s/%s', code, name, builtin), ',' ORDER BY code) FROM cfg_refs) || ' | ' ||
             (SELECT last_value FROM cfg_seq) AS t`,
          [],
          database,
        );
      expect(await rows('cfgext_r')).toEqual(await rows('cfgext'));
      expect((await rows('cfgext'))[0]!.t).toBe('1=a,2=tab\there | 1=shipped one/t,2=shipped two/t,100=mine/f,101=also mine/f | 42');
    } finally {
      await Promise.all(files.map((f) => rm(f, { force: true })));
    }
  });
});
