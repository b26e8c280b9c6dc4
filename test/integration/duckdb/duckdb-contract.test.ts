import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { discoverPlugins } from '../../../src/adapters/connectors/plugin-loader.js';
import { type Contents, databaseConnectorContract } from '../../contracts/database-connector-contract.js';

/** The example plugin, installed as a package (a node_modules link) and found the way dbbackup finds it. */
const PLUGIN_DIR = fileURLToPath(new URL('../../../plugins/dbbackup-connector-duckdb', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'dbb-duckdb-contract-'));
await mkdir(join(dir, 'node_modules'));
await symlink(PLUGIN_DIR, join(dir, 'node_modules', 'dbbackup-connector-duckdb'), 'dir');
const [plugin] = (await discoverPlugins({ configured: [], baseDir: dir, searchFrom: [dir], env: {} })).filter((p) => p.engine === 'duckdb');
let n = 0;

/** Every DuckDB value type that has a literal, with NULL next to empty and the extremes. */
const VALUES_SQL = String.raw`
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy ☺');
CREATE SCHEMA sales;
CREATE TABLE everything (
  id INTEGER PRIMARY KEY, b BOOLEAN, ti TINYINT, si SMALLINT, bi BIGINT, hi HUGEINT, uti UTINYINT, ub UBIGINT, uhi UHUGEINT,
  d DECIMAL(38,10), d4 DECIMAL(4,1), r REAL, dbl DOUBLE, v VARCHAR, bl BLOB, dt DATE, tm TIME, ttz TIMETZ, ts TIMESTAMP, tsz TIMESTAMPTZ,
  tns TIMESTAMP_NS, ts_s TIMESTAMP_S, iv INTERVAL, u UUID, bits BIT, e mood,
  l VARCHAR[], li INTEGER[][], arr INTEGER[3], s STRUCT(a INTEGER, "b c" VARCHAR), m MAP(VARCHAR, DOUBLE)
);
INSERT INTO everything VALUES
 (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (2, false, 0, 0, 0, 0, 0, 0, 0, 0, 0, -0.0, -0.0, '', ''::BLOB, '1970-01-01', '00:00:00', '00:00:00+00', 'epoch', 'epoch', 'epoch', 'epoch', INTERVAL '0 seconds',
   '00000000-0000-0000-0000-000000000000', '0'::BIT, 'sad', [], [[]], [NULL, NULL, NULL], {'a': NULL, 'b c': ''}, MAP {}),
 (3, true, -128, -32768, -9223372036854775808, -170141183460469231731687303715884105728, 255, 18446744073709551615, 340282366920938463463374607431768211455,
   1234567890123456789012345678.0123456789, -999.9, 'NaN', '-Infinity', E'tab\there\nnew line \\ back "dq" ''sq'' ünïcödé 😀 中文 ‮rtl',
   '\x00\xFF\x5C\x0A'::BLOB, '5877642-06-25 (BC)', '24:00:00', '23:59:59.999999-15:59', 'infinity', '-infinity', '2262-04-11 23:47:16.854775806', '1677-09-22 00:00:00',
   INTERVAL '1 year 2 months -3 days 04:05:06.789', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '10101010101'::BIT, 'happy ☺',
   ['a,b', NULL, '', 'NULL', '[x]', '"q"', '{y}'], [[1, NULL], NULL, []], [1, 2, 3], {'a': 2147483647, 'b c': 'x, "y"'}, MAP {'k,1': 1.5::DOUBLE, '': 'NaN'::DOUBLE}),
 (4, true, 127, 32767, 9223372036854775807, 170141183460469231731687303715884105727, 1, 1, 1, 0.0000000001, 0.1, 3.4028235e38, 5e-324,
   repeat('long ✓ ', 20000), repeat('\xAB', 100000)::BLOB, '2024-02-29', '12:34:56.123456', '12:00:00+05:30', '2024-03-10 02:30:00.123456', '2024-03-10 02:30:00+05:30',
   '1970-01-01 00:00:00.000000001', '2038-01-19 03:14:08', INTERVAL '-178000000 years', NULL, '1'::BIT, 'ok', ['😀'], [[2147483647]], [-1, 0, 1], NULL, MAP {'a': 1e308::DOUBLE});
CREATE TABLE sales.orders (id BIGINT PRIMARY KEY, customer VARCHAR NOT NULL, amount DECIMAL(12,2) CHECK (amount >= 0), placed TIMESTAMPTZ DEFAULT current_timestamp);
INSERT INTO sales.orders SELECT i, 'customer ' || (i % 37), i * 1.25, TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i) FROM range(1, 5001) t(i);
CREATE INDEX orders_customer ON sales.orders (customer);
CREATE TABLE notes (body VARCHAR);
INSERT INTO notes VALUES (''), (NULL), ('x'), ('');
CREATE TABLE empty_table (a INTEGER, b VARCHAR);
CREATE VIEW big_orders AS SELECT * FROM sales.orders WHERE amount > 6000;
`;

async function withDb<T>(path: string, run: (conn: Awaited<ReturnType<DuckDBInstance['connect']>>) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(path);
  const conn = await instance.connect();
  try {
    return await run(conn);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

databaseConnectorContract('duckdb (example plugin package)', {
  plugin: plugin!,
  async source() {
    const path = join(dir, `source-${++n}.duckdb`);
    await withDb(path, (conn) => conn.run(VALUES_SQL));
    return { engine: 'duckdb', database: path };
  },
  target: async () => ({ engine: 'duckdb', database: join(dir, `target-${++n}.duckdb`) }),
  async contents(t) {
    if (!existsSync(t.database!)) return {};
    return withDb(t.database!, async (conn) => {
      const tables = (await conn.runAndReadAll("SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT internal ORDER BY ALL")).getRowObjectsJson();
      const out: Contents = {};
      for (const t of tables) {
        const q = `"${t.schema_name}"."${t.table_name}"`;
        const [row] = (await conn.runAndReadAll(`SELECT count(*)::VARCHAR AS n, md5(coalesce(string_agg(x::VARCHAR, '|' ORDER BY x::VARCHAR), '')) AS h FROM ${q} x`)).getRowObjectsJson();
        out[t.schema_name === 'main' ? String(t.table_name) : `${t.schema_name}.${t.table_name}`] = `${row!.n}:${row!.h}`;
      }
      return out;
    });
  },
  selective: ['notes', 'sales.orders'],
  cleanup: () => rm(dir, { recursive: true, force: true }),
});
