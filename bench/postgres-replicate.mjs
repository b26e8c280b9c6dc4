#!/usr/bin/env node
// `dbbackup replicate --db postgres` under a steady writer: commit-to-listed lag, CPU and peak RSS of the replicate process.
// Usage: node bench/postgres-replicate.mjs [seconds=30] [txPerSecond=500]
//   needs `npm run build` and PostgreSQL server binaries (PG_BIN, default /usr/lib/postgresql/15/bin).
//
// Starts its own throwaway server (wal_level=logical, synchronous_commit on), then a writer (a
// connection in this process) commits one small row per transaction at a steady rate while
// `dbbackup replicate --json` streams the slot into a local repository. The lag of a commit is the
// time from its commit (the writer's clock) to the moment replicate reports listed the first
// segment whose last commit is at or after it. CPU is the replicate process's user+system time
// over the run (/proc), as a share of one core; peak RSS is its VmHWM just before it is stopped.
// Also reported: the slot's retained WAL at the end (pg_replication_slots).
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'dbbackup.js');
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const seconds = Number(process.argv[2] ?? 30);
const rate = Number(process.argv[3] ?? 500);
const work = mkdtempSync('/tmp/pgrb-');
const ids = userInfo().uid === 0
  ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) }
  : { uid: userInfo().uid, gid: userInfo().gid };
chownSync(work, ids.uid, ids.gid);

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
execFileSync(join(PG_BIN, 'initdb'), ['-D', join(work, 'data'), '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], { ...ids, stdio: 'ignore', cwd: '/tmp' });
const server = spawn(join(PG_BIN, 'postgres'), ['-D', join(work, 'data'), '-p', String(port), '-k', work, '-c', 'listen_addresses=127.0.0.1',
  '-c', 'wal_level=logical', '-c', 'max_replication_slots=4', '-c', 'max_wal_senders=4', '-c', 'fsync=off', '-c', 'full_page_writes=off'], { ...ids, stdio: 'ignore' });
const url = (db) => `postgres://postgres@127.0.0.1:${port}/${db}`;
const client = async (db = 'postgres') => {
  for (let i = 0; ; i++) {
    const c = new pg.Client({ connectionString: url(db) });
    c.on('error', () => {});
    try {
      await c.connect();
      return c;
    } catch (err) {
      if (i > 100) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
};

const ticks = 100; // USER_HZ: clock ticks per second of /proc/PID/stat on Linux
const cpuOf = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / ticks;
};
const peakRssMB = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

let replicate;
try {
  const admin = await client();
  await admin.query('CREATE DATABASE bench');
  await admin.end();
  const db = await client('bench');
  await db.query('CREATE TABLE events (id bigserial PRIMARY KEY, at bigint, body text)');

  replicate = spawn(process.execPath, [bin, 'replicate', '--db', 'postgres', '--url', url('bench'), '--out', join(work, 'repo'), '--json'], {
    env: { ...process.env, DBBACKUP_DATA_DIR: join(work, 'catalog'), DBBACKUP_LOG_FILE: 'off', PGPASSWORD: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const listed = []; // { through (ms), at (ms: when reported) }
  let buffer = '';
  let started;
  const ready = new Promise((resolve) => (started = resolve));
  replicate.stdout.on('data', (d) => {
    buffer += d.toString();
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      if (!line.startsWith('{"event"')) continue;
      const e = JSON.parse(line);
      if (e.event === 'generation') started();
      if (e.event === 'segment') listed.push({ through: Date.parse(e.through), at: Date.now() });
    }
  });
  await ready;

  const cpu0 = cpuOf(replicate.pid);
  const t0 = Date.now();
  const commits = [];
  const end = t0 + seconds * 1000;
  for (let n = 0; ; n++) {
    const due = t0 + (n * 1000) / rate;
    if (due >= end) break;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await db.query('INSERT INTO events (at, body) VALUES ($1, $2)', [Date.now(), `row ${n}`]);
    commits.push(Date.now());
  }
  await new Promise((resolve) => setTimeout(resolve, 3000)); // the last segments
  const cpu = (cpuOf(replicate.pid) - cpu0) / ((Date.now() - t0) / 1000);
  const rss = peakRssMB(replicate.pid);
  const slot = (await db.query(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained FROM pg_replication_slots WHERE database = 'bench'`)).rows[0];
  replicate.kill('SIGTERM');
  await new Promise((resolve) => replicate.on('close', resolve));
  await db.end();

  const lags = [];
  let j = 0;
  for (const c of commits) {
    while (j < listed.length && listed[j].through < c) j++;
    if (j < listed.length) lags.push(listed[j].at - c);
  }
  lags.sort((a, b) => a - b);
  const pct = (p) => lags[Math.min(lags.length - 1, Math.floor((p / 100) * lags.length))];
  console.log(`replicate (PostgreSQL) under a writer of ${rate} tx/s for ${seconds} s: ${commits.length} commits, ${listed.length} segments listed`);
  console.log(`commit-to-listed lag: p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${lags.at(-1)} ms (${commits.length - lags.length} commits never listed)`);
  console.log(`replicate CPU: ${(cpu * 100).toFixed(1)} % of one core; peak RSS ${rss.toFixed(0)} MB; slot retained ${(Number(slot?.retained ?? 0) / 1024).toFixed(0)} KiB of WAL at the end`);
} finally {
  if (replicate && replicate.exitCode === null) replicate.kill('SIGKILL');
  server.kill('SIGINT');
  await new Promise((resolve) => server.on('close', resolve));
  rmSync(work, { recursive: true, force: true });
}
