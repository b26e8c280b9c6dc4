import type { PostgresServer } from '../../helpers/postgres-server.js';

/** Values that break naive dumpers: NULL vs empty, unicode, escapes, special floats, zones … */
export const NASTY_SQL = String.raw`
CREATE TYPE public.pt AS (x int, label text);
CREATE TABLE public.nasty (
  id int PRIMARY KEY,
  t text, b bytea, j json, jb jsonb, ia int[], ta text[], ma int[][], c public.pt, r int4range, tr tstzrange,
  n numeric, f8 float8, f4 real, ts timestamptz, tsn timestamp, d date, iv interval, u uuid, bo boolean,
  x xml, ip inet, mac macaddr, bits bit varying(20), tv tsvector, pnt point, money_ money, ch char(5), vc varchar(10)
);
INSERT INTO public.nasty VALUES
 (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (2, '', '', '""', '{}', '{}', '{}', '{}', ROW(NULL, NULL), 'empty', 'empty', 0, 0, 0, 'epoch', 'epoch', 'epoch', '0', '00000000-0000-0000-0000-000000000000', false,
   '', '0.0.0.0', '00:00:00:00:00:00', B'', '', '(0,0)', 0, '', ''),
 (3, E'tab\there\nnewline\rcr\\backslash ''quote'' "dq" \\N not null', '\x00ff5c0a0d09', '{"k": "v\u00e9", "dup": 1, "dup": 2}', '{"a": [1, "x\ty", null, true], "\u00fc": {"n": 1.50}}',
   '{1,NULL,3}', E'{"a\\"b",NULL,"",",","\\\\","NULL"}', '{{1,2},{3,4}}', ROW(-1, E'a,b"c\\d)'), '[1,10)', '[2024-01-01 00:00+00,infinity)',
   'NaN', 'NaN', '-Infinity', 'infinity', '-infinity', '-infinity', '-178000000 years', '123e4567-e89b-12d3-a456-426614174000', true,
   '<a b="c">d &amp; e</a>', '::1/128', '08:00:2b:01:02:03', B'10101', 'a:1 fat:2 cat:3', '(1.5,-2.25)', -12.34, 'ab', 'ünï'),
 (4, 'emoji 😀👩‍👩‍👧 combining é and ñ RTL שלום مرحبا ‮override‬ zero​width', decode(repeat('00ff', 100), 'hex'), '[1, 2.50, "\\u0000 escaped"]', '[]',
   '{-2147483648,2147483647}', '{"😀","é"}', '{{NULL,NULL}}', ROW(2147483647, ''), '(,5]', '(,)',
   'Infinity', 'Infinity', 'Infinity', '2024-03-10 02:30:00 America/New_York', '1999-12-31 23:59:59.999999', '4713-01-01 BC', '1 year 2 mons -3 days 04:05:06.789',
   'ffffffff-ffff-ffff-ffff-ffffffffffff', NULL, NULL, '2001:db8::/32', NULL, NULL, NULL, NULL, NULL, 'x', NULL),
 (5, repeat('long ', 20000), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   '-Infinity', 1.7976931348623157e308, 1.17549435e-38, '1900-01-01 00:00:00 Asia/Kolkata', 'infinity', 'infinity', '-0.000001 seconds', NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (6, E'\\x41 is not hex; \\\\ two; end with backslash \\', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   0.1, 5e-324, -0.0, '2038-01-19 03:14:08+14', '0001-01-01 00:00:00', '5874897-12-31', '-178000000 years', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
UPDATE public.nasty SET n = ('9' || repeat('8', 998) || '.5')::numeric WHERE id = 2;
UPDATE public.nasty SET n = -('1' || repeat('0', 1000))::numeric / 3 WHERE id = 6;
INSERT INTO public.nasty (id, b) SELECT 7, decode(string_agg(lpad(to_hex(i), 2, '0'), ''), 'hex') FROM generate_series(0, 255) i;
CREATE TABLE public.big (id int PRIMARY KEY, payload text);
INSERT INTO public.big SELECT 1, string_agg(md5(i::text), '') FROM generate_series(1, 1638400) i;
CREATE TABLE public.many (id int PRIMARY KEY, v text, w float8);
INSERT INTO public.many SELECT i, md5(i::text) || E'\t\\' || i, i / 7.0 FROM generate_series(1, 20000) i;
CREATE TABLE public.empty_table (a int);
CREATE TABLE public.no_columns ();
INSERT INTO public.no_columns DEFAULT VALUES; INSERT INTO public.no_columns DEFAULT VALUES;
CREATE TABLE public."Weird ""Name"" ü.x" ("Col 1" text, "select" int);
INSERT INTO public."Weird ""Name"" ü.x" VALUES ('a', 1), (NULL, NULL);
`;

/** A schema with every object kind the connector reproduces. */
export const SCHEMA_SQL = String.raw`
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_owner') THEN CREATE ROLE app_owner; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_reader') THEN CREATE ROLE app_reader; END IF;
END $$;
CREATE SCHEMA app AUTHORIZATION app_owner;
COMMENT ON SCHEMA app IS 'application schema';
CREATE SCHEMA "other schema";
CREATE EXTENSION citext;
CREATE EXTENSION btree_gist WITH SCHEMA public;
CREATE EXTENSION hstore WITH SCHEMA "other schema";
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy', 'it''s');
COMMENT ON TYPE app.mood IS 'feelings';
CREATE TYPE app.pair AS (a int, b text COLLATE "C", m app.mood);
CREATE TYPE app.floatrange AS RANGE (subtype = float8, subtype_diff = float8mi);
CREATE DOMAIN app.posint AS int DEFAULT 1 NOT NULL CONSTRAINT posint_check CHECK (VALUE > 0);
COMMENT ON DOMAIN app.posint IS 'positive';
CREATE DOMAIN app.email AS citext CONSTRAINT email_at CHECK (VALUE ~ '@');
CREATE DOMAIN app.short AS text COLLATE "C" CHECK (length(VALUE) < 100);
ALTER DOMAIN app.short ADD CONSTRAINT short_nv CHECK (VALUE <> 'x') NOT VALID;
CREATE SEQUENCE app.counter AS bigint START 100 INCREMENT 5 CACHE 2 MAXVALUE 1000000 CYCLE;
SELECT nextval('app.counter'), nextval('app.counter');
CREATE SEQUENCE app.unused;
CREATE FUNCTION app.add1(x int) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT x + 1';
COMMENT ON FUNCTION app.add1(int) IS 'adds one';
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $f$BEGIN NEW.updated := now(); RETURN NEW; END$f$;
CREATE AGGREGATE app.mysum(int) (SFUNC = int4pl, STYPE = int, INITCOND = '0');
CREATE TABLE app.customers (
  id int GENERATED ALWAYS AS IDENTITY (START WITH 10) PRIMARY KEY,
  email app.email UNIQUE,
  name text COLLATE "C" NOT NULL,
  mood app.mood DEFAULT 'ok',
  score app.posint,
  bonus int DEFAULT app.add1(1),
  tags "other schema".hstore,
  created timestamptz DEFAULT now(),
  name_upper text GENERATED ALWAYS AS (upper(name)) STORED,
  CONSTRAINT name_not_blank CHECK (length(name) > 0)
);
ALTER TABLE app.customers OWNER TO app_owner;
ALTER TABLE app.customers ALTER COLUMN name SET STATISTICS 500;
COMMENT ON TABLE app.customers IS 'people who buy';
COMMENT ON COLUMN app.customers.email IS 'unique, case-insensitive';
COMMENT ON CONSTRAINT name_not_blank ON app.customers IS 'no blanks';
CREATE TABLE app.orders (
  id bigserial PRIMARY KEY,
  customer_id int NOT NULL,
  amount numeric(12,2) CHECK (amount >= 0),
  during tstzrange,
  note app.short,
  pair app.pair,
  fr app.floatrange,
  EXCLUDE USING gist (customer_id WITH =, during WITH &&),
  CONSTRAINT uq_note UNIQUE (note) DEFERRABLE INITIALLY DEFERRED
) WITH (fillfactor = 70);
ALTER TABLE app.orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES app.customers(id) ON DELETE CASCADE;
ALTER TABLE app.orders ADD CONSTRAINT amount_small CHECK (amount < 1000000) NOT VALID;
CREATE INDEX orders_amount_idx ON app.orders (amount DESC NULLS LAST) INCLUDE (note) WHERE amount > 0;
CREATE INDEX orders_lower_note ON app.orders (lower(note));
COMMENT ON INDEX app.orders_amount_idx IS 'partial';
ALTER TABLE app.orders CLUSTER ON orders_lower_note;
CREATE TABLE app.log (id serial PRIMARY KEY, msg text, updated timestamptz);
ALTER TABLE app.log REPLICA IDENTITY FULL;
CREATE TRIGGER log_touch BEFORE UPDATE ON app.log FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE TRIGGER log_off AFTER INSERT ON app.log FOR EACH STATEMENT EXECUTE FUNCTION app.touch();
ALTER TABLE app.log DISABLE TRIGGER log_off;
COMMENT ON TRIGGER log_touch ON app.log IS 'timestamps';
CREATE RULE log_keep AS ON DELETE TO app.log DO INSTEAD NOTHING;
CREATE PROCEDURE app.note(m text) LANGUAGE sql BEGIN ATOMIC INSERT INTO app.log (msg) VALUES (m); END;
CREATE FUNCTION app.all_customers() RETURNS SETOF app.customers LANGUAGE sql STABLE AS 'SELECT * FROM app.customers';
CREATE TABLE app.measurements (city int NOT NULL, logdate date NOT NULL, peak int, PRIMARY KEY (logdate, city)) PARTITION BY RANGE (logdate);
CREATE TABLE app.m2024 PARTITION OF app.measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.m_other PARTITION OF app.measurements DEFAULT;
CREATE INDEX measurements_city ON app.measurements (city);
CREATE STATISTICS app.m_stats (dependencies) ON city, peak FROM app.m2024;
CREATE TABLE app.base (id int, note text);
CREATE TABLE app.child (extra int CHECK (extra > 0)) INHERITS (app.base);
CREATE UNLOGGED TABLE app.scratch (k text PRIMARY KEY, v jsonb);
ALTER TABLE app.customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY reader_sees ON app.customers FOR SELECT TO app_reader USING (mood <> 'sad');
CREATE POLICY no_sad ON app.customers AS RESTRICTIVE FOR INSERT TO PUBLIC WITH CHECK (mood <> 'sad');
CREATE VIEW app.happy AS SELECT id, name FROM app.customers WHERE mood = 'happy';
CREATE VIEW app.happy2 WITH (security_barrier) AS SELECT * FROM app.happy WHERE id > 1;
COMMENT ON VIEW app.happy IS 'glad';
CREATE VIEW app.grouped AS SELECT c.id, c.name, count(o.id) AS n FROM app.customers c LEFT JOIN app.orders o ON o.customer_id = c.id GROUP BY c.id;
CREATE MATERIALIZED VIEW app.totals AS SELECT customer_id, sum(amount) AS total FROM app.orders GROUP BY 1;
CREATE UNIQUE INDEX totals_customer ON app.totals (customer_id);
CREATE MATERIALIZED VIEW app.totals_big AS SELECT * FROM app.totals WHERE total > 10;
CREATE MATERIALIZED VIEW app.never AS SELECT 1 AS one WITH NO DATA;
CREATE TABLE "other schema"."Mixed Case" (id int PRIMARY KEY, ref int REFERENCES app.log(id), h "other schema".hstore);
GRANT USAGE ON SCHEMA app TO app_reader;
GRANT SELECT ON app.customers TO app_reader;
GRANT SELECT (amount, note), UPDATE (note) ON app.orders TO app_reader;
GRANT USAGE ON SEQUENCE app.counter TO app_reader WITH GRANT OPTION;
REVOKE EXECUTE ON FUNCTION app.add1(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.add1(int) TO app_reader;
INSERT INTO app.customers (email, name, mood, score, tags) VALUES ('A@x.org', 'ann', 'happy', 3, 'a=>1'), ('b@x.org', 'bob', 'sad', 1, NULL), ('c@x.org', 'cy', 'it''s', 2, '"x y"=>NULL');
INSERT INTO app.orders (customer_id, amount, during, note, pair, fr) VALUES (10, 12.5, '[2024-01-01,2024-02-01)', 'first', ROW(1, 'x', 'ok'), '[1.5,2.5)'), (11, 0, NULL, NULL, NULL, NULL), (10, 99.99, '[2024-03-01,2024-04-01)', 'third', NULL, 'empty');
INSERT INTO app.log (msg) VALUES ('one'), ('two');
INSERT INTO app.measurements VALUES (1, '2024-05-01', 30), (2, '2023-05-01', 20), (1, '2024-06-01', 33);
INSERT INTO app.base VALUES (1, 'base'); INSERT INTO app.child VALUES (2, 'child', 5);
INSERT INTO "other schema"."Mixed Case" VALUES (1, 1, 'k=>v');
REFRESH MATERIALIZED VIEW app.totals; REFRESH MATERIALIZED VIEW app.totals_big;
`;

export async function createDatabase(server: PostgresServer, name: string, sql: string): Promise<void> {
  await server.query(`CREATE DATABASE "${name}"`);
  await server.query(sql, [], name);
}

/** Row count and an order-independent content hash per user table. */
export async function tableHashes(server: PostgresServer, database: string): Promise<Record<string, { rows: number; hash: string }>> {
  const client = await server.connect(database);
  try {
    const tables = (
      await client.query(`SELECT format('%I.%I', n.nspname, c.relname) AS ident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE (c.relkind = 'r' OR (c.relkind = 'm' AND c.relispopulated)) AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' ORDER BY 1`)
    ).rows as { ident: string }[];
    const out: Record<string, { rows: number; hash: string }> = {};
    for (const { ident } of tables) {
      const r = (await client.query(`SELECT count(*)::int AS n, md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) AS h FROM ONLY ${ident} t`)).rows[0] as { n: number; h: string };
      out[ident] = { rows: r.n, hash: r.h };
    }
    return out;
  } finally {
    await client.end();
  }
}

/**
 * pg_dump --schema-only, normalized: comments, SET lines and blank lines dropped, statements
 * sorted (pg_dump's order among equal-priority objects may follow OIDs).
 */
export function normalizedSchema(server: PostgresServer, database: string): string[] {
  const text = server.bin('pg_dump', ['--schema-only', '--no-tablespaces', database]);
  const statements: string[] = [];
  let current: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('--') || line.trim() === '' || /^SET |^SELECT pg_catalog\.set_config|^\\(un)?restrict /.test(line)) continue;
    current.push(line);
    if (line.endsWith(';') && !/\$\$|\$[a-z_]*\$/.test(current.join('\n').replace(/(\$[a-z_]*\$)[\s\S]*?\1/g, ''))) {
      statements.push(current.join('\n'));
      current = [];
    }
  }
  if (current.length) statements.push(current.join('\n'));
  return statements.sort();
}
