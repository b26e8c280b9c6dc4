import { copyFile, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppServices, appServices, buildContainer } from '../../../src/bootstrap/container.js';
import { DbBackupError } from '../../../src/domain/errors.js';
import { runCli } from '../../helpers/cli.js';
import { PG_BIN, type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';
import { tempDir } from '../../helpers/temp.js';
import { createDatabase, normalizedSchema, tableHashes } from './fixtures.js';

/** At least one object of every kind pg_dump dumps (security labels aside: no label provider is loadable here). */
const EVERY_KIND_SQL = String.raw`
CREATE SCHEMA kinds;
CREATE SCHEMA kinds_pub;
CREATE EXTENSION hstore WITH SCHEMA kinds;
DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kinds_reader') THEN CREATE ROLE kinds_reader; END IF; END $$;
CREATE COLLATION kinds.c_coll (provider = libc, locale = 'C');
CREATE TYPE kinds.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE kinds.pair AS (a int, b text COLLATE kinds.c_coll);
CREATE TYPE kinds.floatrange AS RANGE (subtype = float8, subtype_diff = float8mi);
CREATE DOMAIN kinds.posint AS int CHECK (VALUE > 0);
-- A base type made from built-in I/O functions, with a function and a cast that need it (issue 19's casttesttype).
CREATE TYPE kinds.casttesttype;
CREATE FUNCTION kinds.casttesttype_in(cstring) RETURNS kinds.casttesttype AS 'textin' LANGUAGE internal STRICT IMMUTABLE;
CREATE FUNCTION kinds.casttesttype_out(kinds.casttesttype) RETURNS cstring AS 'textout' LANGUAGE internal STRICT IMMUTABLE;
CREATE TYPE kinds.casttesttype (internallength = variable, input = kinds.casttesttype_in, output = kinds.casttesttype_out, alignment = int4, category = 'S');
COMMENT ON TYPE kinds.casttesttype IS 'text in disguise';
CREATE FUNCTION kinds.casttestfunc(kinds.casttesttype) RETURNS int4 LANGUAGE sql IMMUTABLE AS $$ SELECT length($1::text) $$;
CREATE CAST (kinds.casttesttype AS int4) WITH FUNCTION kinds.casttestfunc(kinds.casttesttype) AS ASSIGNMENT;
CREATE CAST (kinds.casttesttype AS text) WITHOUT FUNCTION;
-- A procedural language from plpgsql's handler, with a function in it.
CREATE FUNCTION kinds.my_handler() RETURNS language_handler AS '$libdir/plpgsql', 'plpgsql_call_handler' LANGUAGE c;
CREATE TRUSTED LANGUAGE my_pl HANDLER kinds.my_handler;
COMMENT ON LANGUAGE my_pl IS 'plpgsql again';
CREATE FUNCTION kinds.in_my_pl() RETURNS int LANGUAGE my_pl AS $$ BEGIN RETURN 1; END $$;
CREATE TRANSFORM FOR int LANGUAGE sql (FROM SQL WITH FUNCTION prsd_lextype(internal), TO SQL WITH FUNCTION int4recv(internal));
CREATE CONVERSION kinds.my_conv FOR 'UTF8' TO 'LATIN1' FROM utf8_to_iso8859_1;
-- Access methods from built-in handlers: a table AM, an index AM with an operator family (btree's
-- validator refuses classes of any other AM), and an operator class of a built-in one.
CREATE ACCESS METHOD heap2 TYPE TABLE HANDLER heap_tableam_handler;
CREATE ACCESS METHOD btree2 TYPE INDEX HANDLER bthandler;
COMMENT ON ACCESS METHOD btree2 IS 'a second btree';
CREATE OPERATOR FAMILY kinds.int_fam USING btree2;
CREATE OPERATOR CLASS kinds.int_ops FOR TYPE int USING btree AS
  OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 btint4cmp(int, int);
CREATE FUNCTION kinds.add1(int) RETURNS int LANGUAGE sql IMMUTABLE RETURN $1 + 1;
CREATE AGGREGATE kinds.mysum(int) (sfunc = int4pl, stype = int, initcond = '0');
CREATE OPERATOR kinds.=== (leftarg = int, rightarg = int, function = int4eq, commutator = OPERATOR(kinds.===));
CREATE TEXT SEARCH PARSER kinds.prs (start = prsd_start, gettoken = prsd_nexttoken, end = prsd_end, lextypes = prsd_lextype);
CREATE TEXT SEARCH TEMPLATE kinds.tmpl (init = dsimple_init, lexize = dsimple_lexize);
CREATE TEXT SEARCH DICTIONARY kinds.dict (template = kinds.tmpl, stopwords = 'english');
CREATE TEXT SEARCH CONFIGURATION kinds.cfg (parser = kinds.prs);
ALTER TEXT SEARCH CONFIGURATION kinds.cfg ADD MAPPING FOR word WITH kinds.dict;
CREATE FOREIGN DATA WRAPPER kinds_fdw;
CREATE SERVER kinds_srv FOREIGN DATA WRAPPER kinds_fdw OPTIONS (host 'nowhere');
CREATE USER MAPPING FOR postgres SERVER kinds_srv OPTIONS (user 'x');
CREATE FOREIGN TABLE kinds.ft (a int) SERVER kinds_srv;
CREATE SEQUENCE kinds.seq START 10;
CREATE TABLE kinds.things (
  id int PRIMARY KEY, t kinds.casttesttype, m kinds.mood, p kinds.pair, r kinds.floatrange, n kinds.posint, h kinds.hstore,
  c text COLLATE kinds.c_coll, s int DEFAULT nextval('kinds.seq'), v int DEFAULT kinds.add1(1) CHECK (v > 0)
);
CREATE TABLE kinds.heaped (id int, note text) USING heap2;
CREATE INDEX things_id_ops ON kinds.things (id kinds.int_ops);
CREATE INDEX things_text ON kinds.things (kinds.casttestfunc(t));
CREATE TABLE kinds.refs (id int PRIMARY KEY, thing int REFERENCES kinds.things (id));
CREATE TABLE kinds.parted (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE kinds.parted_2024 PARTITION OF kinds.parted FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE INDEX parted_at ON kinds.parted (at);
CREATE STATISTICS kinds.things_stats (dependencies) ON id, s FROM kinds.things;
CREATE VIEW kinds.happy AS SELECT id, t::int4 AS len FROM kinds.things WHERE m = 'happy';
CREATE MATERIALIZED VIEW kinds.totals AS SELECT kinds.mysum(id) AS total FROM kinds.things;
CREATE RULE no_delete AS ON DELETE TO kinds.refs DO INSTEAD NOTHING;
CREATE FUNCTION kinds.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER touch BEFORE UPDATE ON kinds.things FOR EACH ROW EXECUTE FUNCTION kinds.touch();
ALTER TABLE kinds.things ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON kinds.things USING (id > 0);
GRANT USAGE ON SCHEMA kinds TO kinds_reader;
GRANT SELECT ON kinds.things TO kinds_reader;
GRANT USAGE ON LANGUAGE my_pl TO kinds_reader;
GRANT USAGE ON TYPE kinds.casttesttype TO kinds_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA kinds GRANT SELECT ON TABLES TO kinds_reader;
CREATE TABLE kinds_pub.events (id int PRIMARY KEY);
CREATE PUBLICATION kinds_pub FOR TABLE kinds.things, kinds.refs WHERE (id > 0);
CREATE PUBLICATION kinds_schema_pub FOR TABLES IN SCHEMA kinds_pub;
CREATE SUBSCRIPTION kinds_sub CONNECTION 'host=127.0.0.1 port=1 dbname=nowhere' PUBLICATION kinds_pub WITH (connect = false, binary = true);
COMMENT ON SUBSCRIPTION kinds_sub IS 'from nowhere';
INSERT INTO kinds.things (id, t, m, p, r, n, h, c) VALUES
  (1, 'abc', 'happy', ROW(1, 'x'), '[1.5,2.5)', 3, 'a=>1', 'zz'), (2, 'hello', 'sad', NULL, NULL, 1, NULL, NULL), (3, NULL, NULL, NULL, 'empty', NULL, NULL, 'a');
INSERT INTO kinds.heaped VALUES (1, 'one'), (2, 'two');
INSERT INTO kinds.refs VALUES (1, 1), (2, NULL);
INSERT INTO kinds.parted VALUES (1, '2024-05-01');
INSERT INTO kinds_pub.events VALUES (7);
REFRESH MATERIALIZED VIEW kinds.totals;
SELECT lo_from_bytea(0, 'a large object');
DO $$ BEGIN
  EXECUTE format('ALTER DATABASE %I SET work_mem = %L', current_database(), '8MB');
  EXECUTE format('ALTER ROLE kinds_reader IN DATABASE %I SET statement_timeout = %L', current_database(), '5s');
  EXECUTE format('GRANT CONNECT, CREATE ON DATABASE %I TO kinds_reader', current_database());
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END $$;
CREATE FUNCTION kinds.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
CREATE EVENT TRIGGER kinds_ddl ON ddl_command_end EXECUTE FUNCTION kinds.on_ddl();
`;

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

/** Statements only on one side of `pg_dump --schema-only`. */
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

/** The database's own settings, grants and per-role settings, with the database's name taken out. */
const databaseLevel = (database: string) =>
  server.query<{ acl: string | null; settings: string[] | null }>(
    `SELECT d.datacl::text AS acl, ARRAY(SELECT coalesce(r.rolname, '*') || ': ' || array_to_string(s.setconfig, ',') FROM pg_db_role_setting s
       LEFT JOIN pg_roles r ON r.oid = s.setrole WHERE s.setdatabase = d.oid ORDER BY 1) AS settings FROM pg_database d WHERE d.datname = $1`,
    [database],
  );

const exists = async (database: string) => (await server.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [database])).length === 1;

describe('every kind of object pg_dump knows', () => {
  it('round-trips through dbbackup as exactly as pg_dump shows, and loses nothing pg_dump/pg_restore keeps', async () => {
    await createDatabase(server, 'every', EVERY_KIND_SQL);
    const { repository, warnings } = await backup('every');
    expect(warnings).toEqual([]);
    const { outcome } = await app.restoreBackup.execute(
      { repository, backup: 'latest', target: target('every_r'), clean: false, options: { create: true, parallel: 2, restoreOwner: true, restoreGrants: true } },
      signal(),
    );
    expect(outcome!.warnings?.join('\n')).toMatch(/subscription kinds_sub was restored disabled .* ALTER SUBSCRIPTION kinds_sub ENABLE/);
    expect(await tableHashes(server, 'every_r')).toEqual(await tableHashes(server, 'every'));
    const ours = schemaDiff('every', 'every_r');
    expect(ours).toEqual({ missing: [], extra: [] });
    expect(await databaseLevel('every_r')).toEqual(await databaseLevel('every'));
    const schema = normalizedSchema(server, 'every').join('\n');
    for (const kind of ['CREATE TYPE kinds.casttesttype;', 'INPUT = kinds.casttesttype_in', 'CREATE CAST (kinds.casttesttype AS integer)', 'PROCEDURAL LANGUAGE my_pl HANDLER kinds.my_handler',
      'CREATE TRANSFORM FOR integer LANGUAGE sql', 'CREATE CONVERSION kinds.my_conv', 'CREATE ACCESS METHOD heap2 TYPE TABLE', 'CREATE OPERATOR CLASS kinds.int_ops',
      'CREATE SUBSCRIPTION kinds_sub', 'CREATE EVENT TRIGGER kinds_ddl', 'CREATE PUBLICATION kinds_schema_pub', 'CREATE TEXT SEARCH PARSER', 'CREATE USER MAPPING',
      'ALTER DEFAULT PRIVILEGES', 'CREATE STATISTICS', 'CREATE RULE', 'CREATE POLICY', 'ATTACH PARTITION', 'CREATE AGGREGATE', 'CREATE OPERATOR kinds.===']) {
      expect(schema.includes(kind), kind).toBe(true);
    }
    // pg_dump sets a table's access method with SET default_table_access_method, which the comparison leaves out.
    const am = await server.query<{ am: string }>(`SELECT a.amname AS am FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.oid = 'kinds.heaped'::regclass`, [], 'every_r');
    expect(am).toEqual([{ am: 'heap2' }]);
    const casted = await server.query<{ v: number }>(`SELECT kinds.casttestfunc('hello'::kinds.casttesttype) AS v`, [], 'every_r');
    expect(casted[0]!.v).toBe(5);

    // pg_dump -Fc | pg_restore into a database of its own: dbbackup loses nothing it keeps.
    const file = join(dir.path, 'every.dump');
    server.bin('pg_dump', ['-Fc', '-f', file, 'every']);
    await server.query(`CREATE DATABASE every_pg`);
    try {
      server.bin('pg_restore', ['-d', 'every_pg', file]);
    } catch {
      // pg_restore exits 1 when an item fails; what it restored is compared below.
    }
    const theirs = schemaDiff('every', 'every_pg');
    expect(ours.missing.filter((s) => !theirs.missing.includes(s))).toEqual([]);
  });
});

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

    // The CLI, as a user runs it: exit 5 naming what was skipped; --strict exit 1.
    const env = { DBBACKUP_DATA_DIR: join(dir.path, 'cli-data') };
    const cli = await runCli(['restore', '--from', repository, '--db', 'postgres', '--url', server.url('clib_cli'), '--create'], { env });
    expect(cli.code, cli.stderr).toBe(5);
    expect(cli.stderr).toMatch(/^error E_PARTIAL: .*\n\s+function public\.gone_distance\(point,point\): could not access file/m);
    const cliStrict = await runCli(['restore', '--from', repository, '--db', 'postgres', '--url', server.url('clib_cli2'), '--create', '--strict'], { env });
    expect(cliStrict.code, cliStrict.stderr).toBe(1);
    expect(cliStrict.stderr).toMatch(/^error E_RESTORE_FAILED: .*Nothing was restored \(--strict\)/m);
    expect(await exists('clib_cli2')).toBe(false);
  });
});
