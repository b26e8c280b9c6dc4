#!/usr/bin/env node
import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);
// PostgreSQL change-capture benchmark: full vs incremental vs differential backups, change apply speed,
// and what a backup costs the source's pgbench throughput.
// Usage: node bench/postgres-incremental.mjs [--scale S=20] [--runs N=3] [--rounds R=3]
//   needs `npm run build` and PostgreSQL server binaries (PG_BIN, default /usr/lib/postgresql/15/bin).
//
// Starts its own throwaway server (initdb in a temp dir, a free port, wal_level = logical) and builds a
// pgbench database of scale S (S = 20: 2 M accounts, ~300 MB; fixed so runs compare). Each run, in a
// fresh repository (zstd-1, the CLI as a user runs it):
//   full (--capture changes) → R × [pgbench changes ~1 % of the accounts (S × 1,000 transactions of
//   `pgbench -t`, each one account, teller, branch update and one history insert), then an incremental]
//   → a differential (the net change of the R incrementals, plus the tail since the last).
// Then the change apply: the full restored once (CLI), copied per measurement (CREATE DATABASE … TEMPLATE),
// and the incrementals (one after the other) or the differential applied to a copy in this process
// through the connector (dist/), timed alone: rows/s = changes applied / seconds. The copies are compared
// with the source (every table's content hash). Last, pgbench TPS for 10 s alone and for 10 s while
// incrementals (and, separately, fulls) of the source run back to back.
// Figures are medians over runs; peak RSS is the highest of every CLI run.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { measure, printTable } from './measure.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'dbbackup.js');
const dist = (p) => import(join(root, 'dist', p));
const { PostgresConnector } = await dist('adapters/connectors/postgres/postgres-connector.js');
const { LocalRepositoryOpener } = await dist('adapters/storage/repository-opener.js');
const { MapCodecRegistry } = await dist('adapters/compression/codec-registry.js');
const { ZstdCodec } = await dist('adapters/compression/zstd-codec.js');
const { NoneCodec } = await dist('adapters/compression/none-codec.js');
const { PartReader } = await dist('application/pipeline/part-reader.js');
const { scanRepository } = await dist('application/services/backup-repository.js');

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : dflt;
};
const scale = opt('--scale', 20);
const runs = opt('--runs', 3);
const rounds = opt('--rounds', 3);
const perRound = scale * 1000; // pgbench transactions per round: ~1 % of the accounts
const work = mkdtempSync('/tmp/pgi-');
const ids = userInfo().uid === 0
  ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) }
  : { uid: userInfo().uid, gid: userInfo().gid };
chownSync(work, ids.uid, ids.gid);
const env = { ...process.env, DBBACKUP_DATA_DIR: join(work, 'catalog'), PGPASSWORD: '' };

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
execFileSync(join(PG_BIN, 'initdb'), ['-D', join(work, 'data'), '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], { ...ids, stdio: 'ignore', cwd: '/tmp' });
const server = spawn(join(PG_BIN, 'postgres'), ['-D', join(work, 'data'), '-p', String(port), '-k', work, '-c', 'listen_addresses=127.0.0.1',
  '-c', 'shared_buffers=256MB', '-c', 'maintenance_work_mem=256MB', '-c', 'max_wal_size=4GB', '-c', 'fsync=off', '-c', 'full_page_writes=off',
  '-c', 'wal_level=logical', '-c', 'max_replication_slots=20', '-c', 'max_wal_senders=20', '-c', 'log_min_duration_statement=0', '-c', 'logging_collector=off'], { ...ids, stdio: ['ignore', 'ignore', require('fs').openSync('/tmp/pgprof.log', 'w')] });
const url = (db) => `postgres://postgres@127.0.0.1:${port}/${db}`;
const pgArgs = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'];
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
const sql = async (db, text) => {
  const c = await client(db);
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pgbench = (...a) => execFileSync(join(PG_BIN, 'pgbench'), [...pgArgs, ...a], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
let peakRss = 0;
const cli = async (...a) => {
  const r = await measure(process.execPath, [bin, ...a, '--quiet'], { env, cwd: work });
  peakRss = Math.max(peakRss, r.peakRssMB);
  return r;
};

/** Every table's row count and content hash. */
async function hashes(db) {
  const c = await client(db);
  try {
    const out = {};
    for (const t of ['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history']) {
      out[t] = (await c.query(`SELECT count(*)::int AS n, md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) AS h FROM ${t} t`)).rows[0];
    }
    return JSON.stringify(out);
  } finally {
    await c.end();
  }
}

/** Applies `manifests` (oldest first) onto database `db` in this process; returns { rows, seconds }. */
async function applyLinks(repo, manifests, db) {
  const { store } = await new LocalRepositoryOpener().open(repo, 'read');
  const codecs = new MapCodecRegistry([new ZstdCodec(), new NoneCodec()]);
  const connector = new PostgresConnector();
  const session = await connector.connect({ engine: 'postgres', host: '127.0.0.1', port, user: 'postgres', database: db, options: {} }, 'restore');
  try {
    const signal = new AbortController().signal;
    const started = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    let rows = 0;
    for (const m of manifests) rows += (await session.changes.applyChanges(new PartReader(store, m, codecs, undefined, undefined, 'when-needed'), undefined, signal)).rows;
    const used = process.cpuUsage(cpu);
    return { rows, seconds: Number(process.hrtime.bigint() - started) / 1e9, cpu: (used.user + used.system) / 1e6 };
  } finally {
    await session.close();
  }
}

/** pgbench TPS over `seconds`, with `during` (a function returning a promise) run back to back meanwhile. */
async function tps(seconds, during) {
  const child = spawn(join(PG_BIN, 'pgbench'), [...pgArgs, '-n', '-c', '2', '-T', String(seconds), 'bench'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const done = new Promise((resolve) => child.on('close', resolve));
  let running = true;
  done.then(() => (running = false));
  let backups = 0;
  if (during) {
    while (running) {
      await during();
      backups++;
    }
  }
  await done;
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
  return { tps: Number(m?.[1] ?? NaN), backups };
}

try {
  await sql('postgres', 'CREATE DATABASE bench');
  pgbench('-i', '-q', '-s', String(scale), 'bench');
  const c = await client('bench');
  const keys = Array.from({ length: 5000 }, (_, i) => String(1 + ((i * 7919) % (scale * 100000))));
  const rows = (await c.query({ text: 'SELECT aid::text, bid::text, abalance::text, filler::text FROM pgbench_accounts WHERE aid = ANY($1::int[])', values: [keys], rowMode: 'array' })).rows;
  const cols = [0, 1, 2, 3].map((j) => rows.map((r) => r[j]));
  const q = async (label, text, values) => {
    await c.query('BEGIN');
    const t = Date.now();
    const plan = (await c.query({ text: 'EXPLAIN (ANALYZE, BUFFERS) ' + text, values })).rows.map((r) => r['QUERY PLAN']);
    console.log(label, Date.now() - t, 'ms'); console.log(plan.slice(0, 8).join('\n'));
    await c.query('ROLLBACK');
  };
  await c.query('SET session_replication_role = replica');
  await q('delete unnest', 'DELETE FROM ONLY public.pgbench_accounts AS t USING unnest($1::text[]) AS u(c0) WHERE t.aid = u.c0::integer', [cols[0]]);
  await q('delete any', 'DELETE FROM ONLY public.pgbench_accounts AS t WHERE t.aid = ANY($1::integer[])', [cols[0]]);
  await q('update unnest', 'UPDATE ONLY public.pgbench_accounts AS t SET bid = u.c1::integer, abalance = u.c2::integer, filler = u.c3::bpchar FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(c0, c1, c2, c3) WHERE t.aid = u.c0::integer', cols);
  await c.query('BEGIN');
  await c.query('DELETE FROM ONLY public.pgbench_accounts AS t WHERE t.aid = ANY($1::integer[])', [cols[0]]);
  let t = Date.now();
  const p = (await c.query({ text: 'EXPLAIN (ANALYZE, BUFFERS) INSERT INTO public.pgbench_accounts (aid, bid, abalance, filler) OVERRIDING SYSTEM VALUE SELECT u.c0::integer, u.c1::integer, u.c2::integer, u.c3::bpchar FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(c0, c1, c2, c3)', values: cols })).rows.map((r) => r['QUERY PLAN']);
  console.log('insert after delete', Date.now() - t, 'ms'); console.log(p.join('\n'));
  await c.query('ROLLBACK');
  await c.end();
} finally {
  server.kill('SIGINT');
  await new Promise((r) => server.once('exit', r));
  rmSync(work, { recursive: true, force: true });
}
