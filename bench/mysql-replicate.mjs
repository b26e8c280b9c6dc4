#!/usr/bin/env node
// `dbbackup replicate --db mysql` under write loads: how long from a commit on the server to the
// segment holding it being durable (listed) in the repository; CPU and peak RSS of replicate.
//
//   npm run build && node bench/mysql-replicate.mjs              # every profile, 20 s each
//   node bench/mysql-replicate.mjs 60 steady,bulk                # 60 s each, chosen profiles
//   node bench/mysql-replicate.mjs 20 light 200ms                # replicate --interval 200ms (default 1s)
//
// A throwaway MariaDB (bench/mysql-data.mjs: --log-bin, ROW, sync-binlog=0); per profile a fresh
// database and repository (local folder), `dbbackup replicate --json` following it, and a writer (one
// connection in this process) committing at a steady rate. Each transaction ends with
// `SELECT @@last_gtid` in the same round trip: its GTID sequence and the writer's clock just after
// COMMIT returned (the commit on the server) are recorded. When replicate reports a segment listed,
// its manifest (written last: the segment is durable in every target) gives the GTID state at its end;
// every commit up to that sequence not yet seen is counted listed at the report's time. Profiles:
//   light   50 tx/s, one small row each
//   steady  500 tx/s, one small row each (and every 10th an update)
//   bulk    10 tx/s of 500 rows (~100 KB of row images each)
//   mixed   200 tx/s of 1–20 rows over 3 tables, one in 50 a 2,000-row batch
// Goal (issue 22): replicate lag p99 ≤ 2 s.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { startBenchServer } from './mysql-data.mjs';

const BIN = fileURLToPath(new URL('../bin/dbbackup.js', import.meta.url));
const seconds = Number(process.argv[2] ?? 20);
const pad = 'x'.repeat(120);
const PROFILES = {
  light: { rate: 50, tx: (c, n) => [`INSERT INTO a (n, body) VALUES (${n}, '${pad}')`] },
  steady: { rate: 500, tx: (c, n) => [`INSERT INTO a (n, body) VALUES (${n}, '${pad}')`, ...(n % 10 === 0 ? [`UPDATE a SET n = n + 1 WHERE id = ${Math.max(1, n - 5)}`] : [])] },
  bulk: { rate: 10, tx: (c, n) => [`INSERT INTO a (n, body) VALUES ${Array.from({ length: 500 }, (_, i) => `(${n * 1000 + i}, '${pad}')`).join(',')}`] },
  mixed: {
    rate: 200,
    tx: (c, n) => {
      const rows = n % 50 === 0 ? 2000 : 1 + (n % 20);
      const t = ['a', 'b', 'c'][n % 3];
      return [`INSERT INTO ${t} (n, body) VALUES ${Array.from({ length: rows }, (_, i) => `(${n * 10_000 + i}, '${pad}')`).join(',')}`];
    },
  },
};
const chosen = (process.argv[3] ?? Object.keys(PROFILES).join(',')).split(',');
const interval = process.argv[4] ?? '1s';

const TICK = 100; // USER_HZ
const cpuOf = (pid) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
};
const peakRssMB = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const seqOf = (gtid) => Number(String(gtid ?? '').split(',').map((g) => g.trim()).find((g) => g.startsWith('0-'))?.split('-')[2] ?? NaN);

const dir = await mkdtemp(join(tmpdir(), 'myreplbench-'));
const server = await startBenchServer(dir);
const results = [];
try {
  for (const name of chosen) {
    const profile = PROFILES[name];
    if (!profile) throw new Error(`no profile ${name} (${Object.keys(PROFILES).join(', ')})`);
    results.push(await run(name, profile));
  }
} finally {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
console.log(`\nreplicate (MariaDB 10.11, --interval ${interval}) lag from commit to segment listed, ${seconds} s per profile, local folder, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
console.log('| profile | tx/s asked → done | rows/s | segments | p50 ms | p95 ms | p99 ms | max ms | unlisted | CPU % of a core | peak RSS MB |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) console.log(`| ${r.name} | ${r.rate} → ${r.done.toFixed(0)} | ${r.rowsPerSecond.toFixed(0)} | ${r.segments} | ${r.p50} | ${r.p95} | ${r.p99} | ${r.max} | ${r.unlisted} | ${r.cpu.toFixed(1)} | ${r.rss.toFixed(0)} |`);

async function run(name, profile) {
  const db = `r_${name}`;
  await server.sql(`CREATE DATABASE ${db}; ${['a', 'b', 'c'].map((t) => `CREATE TABLE ${db}.${t} (id BIGINT AUTO_INCREMENT PRIMARY KEY, n BIGINT, body VARCHAR(200))`).join('; ')}`);
  const repo = join(dir, `repo-${name}`);
  const replicate = spawn(process.execPath, [BIN, 'replicate', '--db', 'mysql', '--url', `mysql://root@127.0.0.1:${server.port}/${db}`, '--out', repo, '--interval', interval, '--json'], {
    env: { ...process.env, DBBACKUP_DATA_DIR: join(dir, `catalog-${name}`), DBBACKUP_LOG_FILE: 'off', MYSQL_PWD: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const listed = []; // { seq, at }
  let pending = Promise.resolve();
  let started;
  const ready = new Promise((resolve) => (started = resolve));
  let buffer = '';
  replicate.stdout.on('data', (d) => {
    buffer += d.toString();
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      if (!line.startsWith('{"event"')) continue;
      const e = JSON.parse(line);
      if (e.event === 'generation') started();
      if (e.event === 'segment') {
        const at = Date.now();
        pending = pending.then(async () => {
          // A segment compacted away before it is read counts with the next.
          const m = await readFile(join(repo, db, e.id, 'manifest.json'), 'utf8').then(JSON.parse, () => undefined);
          if (m) listed.push({ seq: seqOf(m.logPosition?.gtid), at });
        });
      }
    }
  });
  await ready;
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: server.port, user: 'root', database: db, multipleStatements: true });
  const cpu0 = cpuOf(replicate.pid);
  const t0 = Date.now();
  const end = t0 + seconds * 1000;
  const commits = []; // { seq, at }
  let rows = 0;
  for (let n = 0; ; n++) {
    const due = t0 + (n * 1000) / profile.rate;
    if (due >= end) break;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const statements = profile.tx(conn, n);
    const [results] = await conn.query(`BEGIN; ${statements.join('; ')}; COMMIT; SELECT @@last_gtid AS g`);
    const at = Date.now();
    for (const r of results) if (r && typeof r.affectedRows === 'number') rows += r.affectedRows;
    commits.push({ seq: seqOf(results.at(-1)[0].g), at });
  }
  const elapsed = (Date.now() - t0) / 1000;
  // Until the last commit is listed (or 30 s more).
  const last = commits.at(-1).seq;
  for (let i = 0; i < 300 && !(listed.length > 0 && listed.at(-1).seq >= last); i++) {
    await new Promise((r) => setTimeout(r, 100));
    await pending;
  }
  const cpu = (cpuOf(replicate.pid) - cpu0) / ((Date.now() - t0) / 1000);
  const rss = peakRssMB(replicate.pid);
  replicate.kill('SIGTERM');
  await new Promise((resolve) => replicate.on('close', resolve));
  await conn.end();
  await pending;

  listed.sort((a, b) => a.seq - b.seq || a.at - b.at);
  const lags = [];
  let j = 0;
  for (const c of commits) {
    while (j < listed.length && listed[j].seq < c.seq) j++;
    if (j < listed.length) lags.push(listed[j].at - c.at);
  }
  lags.sort((a, b) => a - b);
  const pct = (p) => lags[Math.min(lags.length - 1, Math.floor((p / 100) * lags.length))];
  const r = { name, rate: profile.rate, done: commits.length / elapsed, rowsPerSecond: rows / elapsed, segments: listed.length, p50: pct(50), p95: pct(95), p99: pct(99), max: lags.at(-1), unlisted: commits.length - lags.length, cpu: cpu * 100, rss };
  console.log(`${name}: ${commits.length} commits in ${elapsed.toFixed(1)} s, ${listed.length} segments; lag p50 ${r.p50} ms, p95 ${r.p95} ms, p99 ${r.p99} ms, max ${r.max} ms; CPU ${r.cpu.toFixed(1)} %, RSS ${rss.toFixed(0)} MB`);
  return r;
}
