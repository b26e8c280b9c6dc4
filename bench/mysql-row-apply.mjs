#!/usr/bin/env node
// Benchmark: what a MariaDB server spends applying the same row changes as row events (BINLOG
// statements, as the replay and `mariadb-binlog | mariadb` send them) or as multi-row SQL (INSERT …
// VALUES batches, DELETE … WHERE id IN (…), INSERT … ON DUPLICATE KEY UPDATE for updates by key), on
// bench/mysql-data.mjs's `orders` table. It answers whether turning row events into SQL could make
// the replay of large transactions cheaper for the server (it does not: see README, MySQL bench).
//
//   node bench/mysql-row-apply.mjs                     # ~200 MB database, 10 % of orders changed, 3 rounds
//   MYSQL_BENCH_DIR=/tmp/x MYSQL_BENCH_MB=200 MYSQL_BENCH_ROUNDS=5 node bench/mysql-row-apply.mjs
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measure, treeCpuSeconds } from './measure.mjs';
import { generate, startBenchServer } from './mysql-data.mjs';

const TARGET_MB = Number(process.env.MYSQL_BENCH_MB ?? 200);
const ROUNDS = Math.max(1, Number(process.env.MYSQL_BENCH_ROUNDS ?? 3));
const KEEP = process.env.MYSQL_BENCH_DIR !== undefined;
const dir = process.env.MYSQL_BENCH_DIR ?? (await mkdtemp(join(tmpdir(), 'myrowbench-')));
const BATCH = 2000;

const server = await startBenchServer(dir);
const { sql, sock } = server;
try {
  if ((await sql("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'bench'")) === '0') await generate(sql, TARGET_MB);
  const picked = '(id + 7) % 100 < 10';
  const cols = "id, customer_id, QUOTE(created), IFNULL(amount, 'NULL'), QUOTE(status), IFNULL(QUOTE(note), 'NULL')";
  const names = ['id', 'customer_id', 'created', 'amount', 'status', 'note'];
  // Each case: the table's state before, the statement on the source (logged as row events), the same change as SQL text.
  const fill = (db, which) => sql(`DROP DATABASE IF EXISTS ${db}; CREATE DATABASE ${db}; CREATE TABLE ${db}.orders LIKE bench.orders;
    INSERT INTO ${db}.orders SELECT * FROM bench.orders ${which === 'all' ? '' : `WHERE NOT ${picked}`}`);
  const rowsOf = async (where, table = 'bench.orders', select = cols) => (await sql(`SELECT CONCAT('(', CONCAT_WS(',', ${select}), ')') FROM ${table} WHERE ${where}`)).split('\n');
  const batches = (items, line) => Array.from({ length: Math.ceil(items.length / BATCH) }, (_, i) => line(items.slice(i * BATCH, (i + 1) * BATCH))).join('\n');
  const cases = [
    { name: 'insert', before: 'some', change: `INSERT INTO src.orders SELECT * FROM bench.orders WHERE ${picked}`, text: async () => batches(await rowsOf(picked), (b) => `INSERT INTO orders VALUES ${b.join(',')};`) },
    { name: 'delete', before: 'all', change: `DELETE FROM src.orders WHERE ${picked}`, text: async () => batches(await rowsOf(picked, 'bench.orders', 'id'), (b) => `DELETE FROM orders WHERE id IN (${b.map((x) => x.slice(1, -1)).join(',')});`) },
    {
      name: 'update',
      before: 'all',
      change: `UPDATE src.orders SET amount = amount + 1, status = 'paid' WHERE ${picked}`,
      text: async () =>
        batches(await rowsOf(picked, 'src.orders'), (b) => `INSERT INTO orders (${names.join(',')}) VALUES ${b.join(',')} ON DUPLICATE KEY UPDATE ${names.slice(1).map((n) => `${n} = VALUES(${n})`).join(', ')};`),
    },
  ];
  const results = [];
  for (const c of cases) {
    await fill('src', c.before);
    await sql('FLUSH BINARY LOGS');
    const file = (await sql('SHOW MASTER STATUS')).split('\t')[0];
    await sql(c.change);
    await sql('FLUSH BINARY LOGS');
    const textFile = join(dir, `row-apply-${c.name}.sql`);
    await writeFile(textFile, `BEGIN;\n${await c.text()}\nCOMMIT;\n`);
    const runs = { binlog: [], sql: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const how of round % 2 ? ['sql', 'binlog'] : ['binlog', 'sql']) {
        await fill('dst', c.before);
        const s0 = treeCpuSeconds(server.pid);
        const cmd = how === 'binlog' ? `set -o pipefail; mariadb-binlog --rewrite-db='src->dst' ${join(dir, file)} | mariadb --no-defaults -S ${sock} -uroot` : `mariadb --no-defaults -S ${sock} -uroot dst < ${textFile}`;
        const m = await measure('bash', ['-c', cmd]);
        if (m.code !== 0) throw new Error(`${c.name} ${how} failed`);
        runs[how].push({ wall: m.seconds, server: treeCpuSeconds(server.pid) - s0 });
        const same = await sql('CHECKSUM TABLE src.orders, dst.orders');
        const sums = same.split('\n').map((l) => l.split('\t')[1]);
        if (sums[0] !== sums[1]) throw new Error(`${c.name} ${how}: dst differs from src`);
      }
    }
    await rm(textFile, { force: true });
    const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    results.push({ case: c.name, rows: Number(await sql(`SELECT COUNT(*) FROM bench.orders WHERE ${picked}`)), binlog: med(runs.binlog.map((r) => r.server)), sql: med(runs.sql.map((r) => r.server)), binlogWall: med(runs.binlog.map((r) => r.wall)), sqlWall: med(runs.sql.map((r) => r.wall)) });
  }
  await sql('DROP DATABASE src; DROP DATABASE dst; FLUSH BINARY LOGS; PURGE BINARY LOGS BEFORE NOW() + INTERVAL 1 SECOND');
  console.log(`server CPU seconds to apply the same rows (medians of ${ROUNDS}; wall in brackets), bench.orders, ${TARGET_MB} MB profile:`);
  for (const r of results) {
    console.log(`  ${r.case.padEnd(6)} ${String(r.rows).padStart(8)} rows: row events ${r.binlog.toFixed(2)} s (${r.binlogWall.toFixed(2)}), SQL ${r.sql.toFixed(2)} s (${r.sqlWall.toFixed(2)}), SQL / row events ${(r.sql / r.binlog).toFixed(2)}×`);
  }
} finally {
  await server.stop();
  if (!KEEP) await rm(dir, { recursive: true, force: true });
}
