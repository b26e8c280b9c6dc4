#!/usr/bin/env node
// PostgreSQL logical decoding: what the server's side of an incremental costs per changed row, and
// whether any choice a client of logical decoding makes lowers it (issue #21's "incremental ≤ 0.2× a full").
// Usage: node bench/postgres-decode-floor.mjs [--scale S=16] [--reps N=3] [--strace]
//   needs PostgreSQL 15 server binaries (PG_BIN, default /usr/lib/postgresql/15/bin), test_decoding and
//   pg_waldump; not dist/ (dbbackup itself is not run). The work folder is made under $BENCH_WORK, else /tmp.
//
// Starts its own throwaway server (initdb in a temp dir, a free port, wal_level = logical, autovacuum off,
// no timed checkpoint) and a pgbench database of scale S (pgbench_history with REPLICA IDENTITY FULL, a
// publication of the four pgbench tables as dbbackup makes it: FOR TABLE …). Then, per WAL interval, a
// pgoutput slot is created, pgbench runs S × 1,000 transactions (2 clients; 4 row changes each: ~1 % of the
// accounts, as bench/postgres-incremental.mjs does per round), and every variant decodes that SAME interval
// from a copy of the slot (pg_copy_logical_replication_slot, with the variant's plugin), N times:
//   SQL variants: one backend runs pg_logical_slot_get_binary_changes(copy, end, NULL, options) (count(*)
//   only; or its rows sent to this process by COPY … TO STDOUT, whole or in 10,000-change calls), timed
//   by that backend's own /proc/<pid>/stat utime + stime; `advance` is pg_replication_slot_advance
//   (fast-forward decoding: the WAL read, no reorder buffer, no plugin).
//   walsender variants: pg_recvlogical --endpos (START_REPLICATION as dbbackup sends it) into /dev/null
//   (over TCP, a Unix socket, or a pipe to a reader slower than the WAL sender), timed as the whole
//   server's CPU (its process tree, exited backends included) over the run, minus the median of the same
//   on an empty interval (the connection's fixed cost).
// --strace instead counts the server's system calls (strace -f -c) during one START_REPLICATION of the
//   first interval, per change (its CPU figures would be void under strace, so none are taken).
// Intervals: `fpw off` (full_page_writes = off, as postgres-incremental.mjs runs its server), `fpw on,
// checkpoint` (full_page_writes = on and a CHECKPOINT right before: the most full-page images) and `fpw on,
// warm` (on, right after the previous one, no checkpoint between). Each interval's WAL bytes and the
// full-page images' share come from pg_wal_lsn_diff and pg_waldump --stats.
// Figures: per-change µs of server CPU (medians of N), change = one row insert/update/delete.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { printTable, treeCpuSeconds } from './measure.mjs';

const { to: copyTo } = copyStreams;
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : dflt;
};
const scale = opt('--scale', 16);
const reps = opt('--reps', 3);
const transactions = scale * 1000;
/** --strace: only the first interval's START_REPLICATION (dbbackup's options), once, its system calls counted. */
const strace = args.includes('--strace');
const work = mkdtempSync(join(process.env.BENCH_WORK ?? '/tmp', 'pgdf-'));
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
const data = join(work, 'data');
const straceOut = strace ? join(work, 'strace.txt') : undefined;
execFileSync(join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], { ...ids, stdio: 'ignore', cwd: '/tmp' });
const server = spawn(join(PG_BIN, 'postgres'), ['-D', data, '-p', String(port), '-k', work, '-c', 'listen_addresses=127.0.0.1',
  '-c', 'shared_buffers=256MB', '-c', 'maintenance_work_mem=256MB', '-c', 'max_wal_size=8GB', '-c', 'checkpoint_timeout=1h', '-c', 'fsync=off',
  '-c', 'autovacuum=off', '-c', 'wal_level=logical', '-c', 'max_replication_slots=40', '-c', 'max_wal_senders=20'],
{ ...ids, stdio: 'ignore' });
const pgArgs = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'];
const client = async (db = 'bench') => {
  for (let i = 0; ; i++) {
    const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/${db}` });
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
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const lit = (s) => `'${String(s).replace(/'/g, "''")}'`;
/** A process's { user, sys } CPU seconds (/proc/<pid>/stat, 10 ms ticks). */
const pidCpu = (pid) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100 };
};
const cpuDiff = (a, b) => ({ user: b.user - a.user, sys: b.sys - a.sys });
/** The server's WAL senders now (pids). */
const walSenders = () => {
  const out = [];
  for (const t of readdirSync(`/proc/${server.pid}/task`)) {
    for (const p of readFileSync(`/proc/${server.pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) {
      try {
        if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('walsender')) out.push(p);
      } catch {}
    }
  }
  return out;
};
/**
 * pg_recvlogical from slot `copy` to `end` into /dev/null: the server's CPU seconds over the run (its
 * whole process tree, the WAL sender's start and exit included) and the WAL sender's own user/sys split
 * (sampled every 5 ms: its last milliseconds may be missed). With --strace, the server's system
 * calls over the run are counted instead (strace -f -c on the postmaster: its CPU figures are then void).
 */
async function recvlogical(copy, end, options, unixSocket, slowReader) {
  const o = Object.entries(options).flatMap(([k, x]) => ['-o', `${k}=${x}`]);
  const tracer = straceOut ? spawn('strace', ['-f', '-c', '-o', straceOut, '-p', String(server.pid)], { stdio: 'ignore' }) : undefined;
  if (tracer) await new Promise((r) => setTimeout(r, 1000));
  const before = treeCpuSeconds(server.pid);
  const child = spawn(join(PG_BIN, 'pg_recvlogical'), [...pgArgs, ...(unixSocket ? ['-h', work] : []), '-d', 'bench', '-S', copy, '--start', '-E', end, '--no-loop', '-F', '0', '-f', slowReader ? '-' : '/dev/null', ...o], { stdio: ['ignore', slowReader ? 'pipe' : 'ignore', 'ignore'] });
  // A reader slower than the WAL sender: 30 ns of busy CPU per byte (~2.5 µs per change) behind a pipe.
  child.stdout?.on('data', (chunk) => {
    const until = process.hrtime.bigint() + BigInt(chunk.length * 30);
    while (process.hrtime.bigint() < until);
  });
  const seen = new Map();
  const sample = () => {
    for (const p of walSenders()) {
      try {
        seen.set(p, pidCpu(p));
      } catch {}
    }
  };
  const timer = setInterval(sample, 5);
  const code = await new Promise((r) => child.on('close', r));
  clearInterval(timer);
  if (code !== 0) throw new Error(`pg_recvlogical exited with ${code}`);
  if (tracer) {
    tracer.kill('SIGINT');
    await new Promise((r) => tracer.on('close', r));
  }
  const split = [...seen.values()].reduce((a, b) => ({ user: a.user + b.user, sys: a.sys + b.sys }), { user: 0, sys: 0 });
  return { total: treeCpuSeconds(server.pid) - before, ...split };
}
/** Reads a COPY … TO STDOUT to its end, discarding it; returns the bytes read. */
async function copyOut(c, text) {
  const stream = c.query(copyTo(text));
  let bytes = 0;
  for await (const chunk of stream) bytes += chunk.length;
  return bytes;
}

const pgoutput = (pub, extra = {}) => ({ proto_version: '1', publication_names: pub, ...extra });
const dbbackup = pgoutput('pub_all');
/**
 * Variants: [name, { how: 'advance' | 'count' (SQL, count(*) of the output) | 'copy' (SQL, the output
 * sent to this client by COPY) | 'walsender' (pg_recvlogical), plugin, options, gucs }].
 */
const variants = [
  ['advance (WAL read, no decode)', { how: 'advance' }],
  ['pgoutput, empty publication', { how: 'count', plugin: 'pgoutput', options: pgoutput('pub_none') }],
  ['pgoutput v1 text (dbbackup)', { how: 'count', plugin: 'pgoutput', options: dbbackup }],
  ['  same, SQL COPY to client', { how: 'copy', plugin: 'pgoutput', options: dbbackup }],
  ['  same, walsender', { how: 'walsender', plugin: 'pgoutput', options: dbbackup }],
  ['  same, walsender, Unix socket', { how: 'walsender', plugin: 'pgoutput', options: dbbackup, unixSocket: true }],
  ['  same, walsender, slow reader', { how: 'walsender', plugin: 'pgoutput', options: dbbackup, slowReader: true }],
  ['  same, SQL COPY, 10k-change chunks', { how: 'chunks', plugin: 'pgoutput', options: dbbackup }],
  ['pgoutput v1 binary', { how: 'count', plugin: 'pgoutput', options: pgoutput('pub_all', { binary: 'true' }) }],
  ['  same, walsender', { how: 'walsender', plugin: 'pgoutput', options: pgoutput('pub_all', { binary: 'true' }) }],
  ['pgoutput v2 streaming', { how: 'count', plugin: 'pgoutput', options: pgoutput('pub_all', { proto_version: '2', streaming: 'on' }) }],
  ['pgoutput, accounts only', { how: 'count', plugin: 'pgoutput', options: pgoutput('pub_accounts') }],
  ['pgoutput, work_mem 64kB', { how: 'count', plugin: 'pgoutput', options: dbbackup, gucs: { logical_decoding_work_mem: '64kB' } }],
  ['pgoutput, work_mem 1GB', { how: 'count', plugin: 'pgoutput', options: dbbackup, gucs: { logical_decoding_work_mem: '1GB' } }],
  ['test_decoding', { how: 'count', plugin: 'test_decoding', options: { 'skip-empty-xacts': '1', 'include-xids': '0' } }],
];
/** On the full-page-write intervals, only these (by position). */
const fpiVariants = new Set([0, 1, 2, 3, 4, 5]);

/**
 * One decode of [base's start, end) by a copy of slot `base`: { total, user, sys } server CPU seconds
 * (walsender: total is the whole server's, user/sys the WAL sender's own, sampled).
 */
async function decode(base, end, v, n) {
  const copy = `c_${n}`;
  const c = await client();
  try {
    await c.query(`SELECT pg_copy_logical_replication_slot($1, $2, false${v.plugin ? `, ${lit(v.plugin)}` : ''})`, [base, copy]);
    if (v.how === 'walsender') return await recvlogical(copy, end, v.options, v.unixSocket, v.slowReader);
    for (const [k, x] of Object.entries(v.gucs ?? {})) await c.query(`SET ${k} = ${lit(x)}`);
    const pid = (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p;
    const changes = (limit = 'NULL') => `pg_logical_slot_get_binary_changes(${lit(copy)}, ${lit(end)}, ${limit}${Object.entries(v.options ?? {}).map(([k, x]) => `, ${lit(k)}, ${lit(x)}`).join('')})`;
    const before = pidCpu(pid);
    let bytes;
    if (v.how === 'advance') await c.query(`SELECT pg_replication_slot_advance(${lit(copy)}, ${lit(end)})`);
    else if (v.how === 'copy') bytes = await copyOut(c, `COPY (SELECT lsn, xid, data FROM ${changes()}) TO STDOUT (FORMAT binary)`);
    else if (v.how === 'chunks') {
      // An empty binary COPY is its 19-byte header and 2-byte trailer.
      while ((await copyOut(c, `COPY (SELECT lsn, xid, data FROM ${changes(10000)}) TO STDOUT (FORMAT binary)`)) > 21);
    } else await c.query(`SELECT count(*) FROM ${changes()}`);
    const used = cpuDiff(before, pidCpu(pid));
    return { total: used.user + used.sys, ...used, bytes };
  } finally {
    await c.query('SELECT pg_drop_replication_slot($1)', [copy]).catch(() => {});
    await c.end();
  }
}

/** pg_waldump --stats of [start, end): { records, fpiBytes, totalBytes }. */
function walStats(start, end) {
  const out = execFileSync(join(PG_BIN, 'pg_waldump'), ['-p', join(data, 'pg_wal'), '-s', start, '-e', end, '--stats'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const total = out.split('\n').find((l) => l.startsWith('Total'));
  // Total  N  record-size [pct]  FPI-size [pct]  combined [pct]
  const nums = total.split(/\s+/).filter((t) => /^\d+$/.test(t)).map(Number);
  return { records: nums[0], recordBytes: nums[1], fpiBytes: nums[2], totalBytes: nums[3] };
}

let n = 0;
const rows = [];
try {
  const admin = await client('postgres');
  await admin.query('CREATE DATABASE bench');
  await admin.end();
  execFileSync(join(PG_BIN, 'pgbench'), [...pgArgs, '-i', '-q', '-s', String(scale), 'bench'], { stdio: 'ignore' });
  const c = await client();
  await c.query('ALTER TABLE pgbench_history REPLICA IDENTITY FULL');
  await c.query('CREATE PUBLICATION pub_all FOR TABLE ONLY pgbench_accounts, ONLY pgbench_branches, ONLY pgbench_tellers, ONLY pgbench_history');
  await c.query('CREATE PUBLICATION pub_accounts FOR TABLE ONLY pgbench_accounts');
  await c.query('CREATE PUBLICATION pub_none');
  await c.query('VACUUM ANALYZE');
  const dbMB = Number((await c.query("SELECT pg_database_size('bench') AS s")).rows[0].s) / 1e6;
  console.log(`database: ${dbMB.toFixed(0)} MB (pgbench scale ${scale}); ${transactions} pgbench transactions per interval (2 clients); ${reps} decodes per variant and interval; load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}\n`);

  const intervals = [['fpw off', false, false], ['fpw on, checkpoint', true, true], ['fpw on, warm', true, false]];
  for (const [label, fpw, checkpoint] of intervals) {
    await c.query(`ALTER SYSTEM SET full_page_writes = ${fpw ? 'on' : 'off'}`);
    await c.query('SELECT pg_reload_conf()');
    await new Promise((r) => setTimeout(r, 300));
    if (checkpoint) await c.query('CHECKPOINT');
    const base = `base_${label.replace(/\W+/g, '_')}`;
    const start = (await c.query(`SELECT lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')`, [base])).rows[0].lsn;
    execFileSync(join(PG_BIN, 'pgbench'), [...pgArgs, '-n', '-c', '2', '-t', String(transactions / 2), 'bench'], { stdio: 'ignore' });
    const end = (await c.query('SELECT pg_current_wal_lsn() AS l')).rows[0].l;
    // The changes of the interval: counted on a test_decoding copy (untimed).
    await c.query(`SELECT pg_copy_logical_replication_slot($1, 'count', false, 'test_decoding')`, [base]);
    const changes = Number((await c.query(`SELECT count(*) AS n FROM pg_logical_slot_get_changes('count', $1, NULL, 'skip-empty-xacts', '1') WHERE data ~ '^table '`, [end])).rows[0].n);
    await c.query(`SELECT pg_drop_replication_slot('count')`);
    const wal = walStats(start, end);
    console.log(`${label}: ${start} → ${end}, ${(wal.totalBytes / 1e6).toFixed(1)} MB of WAL (${(wal.fpiBytes / 1e6).toFixed(1)} MB full-page images, ${wal.records} records), ${changes} row changes`);
    // A WAL sender's fixed cost (connection, start, exit): pg_recvlogical of an empty interval.
    const fixed = [];
    for (let r = 0; r < reps; r++) fixed.push((await decode(base, start, variants[4][1], n++)).total);
    const walsenderFixed = median(fixed);
    console.log(`  walsender fixed cost (empty interval): ${fixed.map((x) => x.toFixed(2)).join(' ')} s (subtracted below)`);
    if (strace) {
      await decode(base, end, variants[4][1], n++);
      const summary = readFileSync(straceOut, 'utf8');
      console.log(summary);
      for (const line of summary.split('\n')) {
        const f = line.trim().split(/\s+/);
        const calls = Number(f[3]);
        if (f.length >= 5 && Number.isFinite(calls) && calls > changes / 100) console.log(`  ${f[f.length - 1]}: ${(calls / changes).toFixed(2)} per change`);
      }
      await c.query('SELECT pg_drop_replication_slot($1)', [base]);
      break;
    }
    for (const [i, [name, v]] of variants.entries()) {
      if (fpw && !fpiVariants.has(i)) continue;
      const runs = [];
      for (let r = 0; r < reps; r++) runs.push(await decode(base, end, v, n++));
      const totals = runs.map((x) => x.total - (v.how === 'walsender' ? walsenderFixed : 0));
      const m = median(totals);
      const us = (x) => ((x / changes) * 1e6).toFixed(2);
      rows.push({
        interval: label, variant: name, 'WAL MB': (wal.totalBytes / 1e6).toFixed(1), 'FPI MB': (wal.fpiBytes / 1e6).toFixed(1), changes,
        'CPU s': m.toFixed(2), 'all runs': totals.map((x) => x.toFixed(2)).join(' '), 'user s': median(runs.map((x) => x.user)).toFixed(2), 'sys s': median(runs.map((x) => x.sys)).toFixed(2), 'µs/change': us(m),
      });
      console.log(`  ${name}: ${totals.map((x) => x.toFixed(2)).join(' ')} s → ${us(m)} µs/change${runs[0].bytes ? ` (${(runs[0].bytes / 1e6).toFixed(1)} MB sent)` : ''}`);
    }
    await c.query('SELECT pg_drop_replication_slot($1)', [base]);
  }
  await c.end();
  console.log('');
  if (rows.length) printTable(rows);
} finally {
  server.kill('SIGINT');
  await new Promise((r) => server.once('exit', r));
  rmSync(work, { recursive: true, force: true });
}
