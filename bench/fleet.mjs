#!/usr/bin/env node
// Fleet mode benchmark (issue #28): jobs per minute with 1, 2 and 4 worker processes on this
// machine, N SQLite sources due every minute, and the queue's overhead per job against the local
// daemon. Each run starts its own throwaway redis-server. Figures depend on the machine's load.
// Usage: node bench/fleet.mjs [sources=300] [minutes=2] [workers=1,2,4] [concurrency=2]
// (needs `npm run build`; `npm run bench:fleet` runs it with the defaults)
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable } from './measure.mjs';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'dbbackup.js');
const SOURCES = Number(process.argv[2] ?? 300);
const MINUTES = Number(process.argv[3] ?? 2);
const WORKERS = (process.argv[4] ?? '1,2,4').split(',').filter(Boolean).map(Number);
const CONCURRENCY = Number(process.argv[5] ?? 2);
const work = join(root, 'bench', '.work', 'fleet');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startRedis(dir) {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const child = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (;;) {
    const ok = await new Promise((r) => {
      const s = connect({ port, host: '127.0.0.1' }, () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) break;
    await sleep(50);
  }
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}

console.log(`building ${SOURCES} small SQLite databases…`);
for (let i = 0; i < SOURCES; i++) {
  const db = new Database(join(work, `db${i}.db`));
  db.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 500) INSERT INTO t (v) SELECT 'row ' || x FROM n;`);
  db.close();
}

function config(name, cron, count, queueUrl) {
  const names = Array.from({ length: count }, (_, i) => `db${i}`);
  const file = join(work, `${name}.yaml`);
  writeFileSync(
    file,
    [
      'sources:',
      ...names.map((s) => `  ${s}: { engine: sqlite, database: ${join(work, `${s}.db`)} }`),
      'targets:',
      `  local: { url: ${join(work, name, 'repo')} }`,
      'defaults: { compression: zstd }',
      'schedules:',
      ...names.map((s) => `  - { name: ${s}, cron: "${cron}", task: backup, source: ${s}, timezone: UTC }`),
      ...(queueUrl ? ['queue:', `  url: ${queueUrl}`] : []),
    ].join('\n'),
  );
  return (machine) => ({ ...process.env, DBBACKUP_CONFIG: file, DBBACKUP_DATA_DIR: join(work, name, machine), DBBACKUP_LOG_FILE: 'off' });
}

const start = (args, env) => spawn(process.execPath, [bin, ...args], { env, stdio: 'ignore' });
const stop = async (procs) => {
  for (const p of procs) p.kill('SIGTERM');
  await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r() : p.on('close', r)))));
};
function history(env) {
  const r = spawnSync(process.execPath, [bin, 'schedule', 'history', '--json', '--limit', '1000000'], { env, encoding: 'utf8', maxBuffer: 1 << 30 });
  return JSON.parse(r.stdout).runs.map((x) => ({ ...x, slot: Date.parse(x.slot), startedAt: Date.parse(x.startedAt), finishedAt: Date.parse(x.finishedAt) }));
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};
/** Waits until the next minute starts, plus `extraMs`. */
const nextMinute = (extraMs = 0) => sleep(60_000 - (Date.now() % 60_000) + extraMs);

// 1. Throughput: every source due at the start of each minute; runs finished per minute.
const throughput = [];
for (const w of WORKERS) {
  const redis = await startRedis(join(work, `redis-${w}`));
  const env = config(`tp${w}`, '0 * * * * *', SOURCES, redis.url);
  const procs = [start(['schedule', 'run'], env('scheduler')), ...Array.from({ length: w }, (_, i) => start(['worker', '--concurrency', String(CONCURRENCY), '--retries', '0'], env(`w${i}`)))];
  await nextMinute(); // the first slot after publishing
  const from = Date.now();
  await sleep(MINUTES * 60_000);
  const to = Date.now();
  const runs = history(env('ops')).filter((r) => r.outcome === 'success' && r.finishedAt >= from && r.finishedAt < to);
  await stop(procs);
  redis.stop();
  const perMin = runs.length / ((to - from) / 60_000);
  throughput.push({ workers: w, 'jobs at once': w * CONCURRENCY, 'jobs/min': perMin.toFixed(0), 'median run': `${median(runs.map((r) => r.finishedAt - r.startedAt)).toFixed(0)} ms` });
  console.log(`${w} worker(s): ${perMin.toFixed(0)} jobs/min`);
}
if (throughput.length) printTable(throughput);

// 2. Overhead per job: a light load (10 sources every 10 s) on the local daemon and on the fleet (1 worker).
const LIGHT = Math.min(10, SOURCES);
const overhead = [];
for (const mode of ['local daemon', 'fleet (1 worker)']) {
  const redis = mode.startsWith('fleet') ? await startRedis(join(work, 'redis-light')) : undefined;
  const env = config(mode.startsWith('fleet') ? 'light-fleet' : 'light-local', '*/10 * * * * *', LIGHT, redis?.url);
  const procs = redis
    ? [start(['schedule', 'run'], env('scheduler')), start(['worker', '--concurrency', String(LIGHT), '--retries', '0'], env('w0'))]
    : [start(['schedule', 'run'], env('ops'))];
  await sleep(65_000);
  await stop(procs);
  const runs = history(env('ops')).filter((r) => r.outcome === 'success');
  redis?.stop();
  const latency = median(runs.map((r) => r.startedAt - r.slot));
  const total = median(runs.map((r) => r.finishedAt - r.slot));
  overhead.push({ mode, runs: runs.length, latency, 'slot → start': `${latency.toFixed(0)} ms`, run: `${median(runs.map((r) => r.finishedAt - r.startedAt)).toFixed(0)} ms`, 'slot → done': total, total });
}
printTable(overhead.map(({ total, latency, ...r }) => ({ ...r, 'slot → done': `${total.toFixed(0)} ms` })));
const [local, fleet] = overhead;
// The run itself is the same work in both modes (a worker thread per attempt); under load it is the noisy part.
console.log(`\nqueue overhead per job: slot → start ${(fleet.latency - local.latency).toFixed(0)} ms, slot → done ${(fleet.total - local.total).toFixed(0)} ms (medians)`);
