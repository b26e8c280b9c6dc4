#!/usr/bin/env node
// The fixed cost of a run: what dbbackup spends over the native tool when the database is small, where
// start-up is nearly all of the time. Each case is a whole process, timed `--runs` times (default 7)
// in alternating order with its native peer and, with BASE_BIN, another build of dbbackup:
//   --version, --help                      (no peer; `node -e 0` is shown as the floor)
//   SQLite backup, empty and ~10 MB       into a folder repository; peer: `sqlite3 .backup` + `zstd -1`
//   SQLite restore of each                from that repository; peer: `zstd -d` of the peer's file
//   PostgreSQL backup of an empty database on a throwaway server; peer: `pg_dump -Fc`
// Figures are medians of CPU seconds (user + sys of the process and its children, from bash's
// `times`; for PostgreSQL plus the server's) and of wall seconds. CPU is the steady figure on a busy
// machine; wall moves with the load. The overhead is dbbackup's median minus the peer's.
// Usage: node bench/startup.mjs [--runs N] [--bin PATH] [--no-pg] [--mb 10] [--cold]
//   --cold  runs dbbackup without its code cache (DBBACKUP_CODE_CACHE=off): what a command costs
//           before its first successful run has saved one
//   BASE_BIN=/copy/of/main/bin/dbbackup.js …   also times that build in the same rounds (before/after)
//   --bin  the command to time: an installed `dbbackup`, dist/sea/dbbackup, or (default) this
//          clone's bin/dbbackup.js run with this Node.
// Writes bench/results/startup-<time>.json.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { sizeMB, treeCpuSeconds } from './measure.mjs';
import { alternating, loadAverage, median, writeResults } from './results.mjs';
import { buildSqliteBenchDb } from './sqlite-data.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: { bin: { type: 'string' }, runs: { type: 'string', default: '7' }, 'no-pg': { type: 'boolean', default: false }, mb: { type: 'string', default: '10' }, cold: { type: 'boolean', default: false } },
});
const runs = Number(values.runs);
const commandOf = (bin) => (bin.endsWith('.js') ? [process.execPath, resolve(bin)] : [resolve(bin)]);
const builds = { dbbackup: commandOf(values.bin ?? join(root, 'bin', 'dbbackup.js')) };
if (process.env.BASE_BIN) builds.base = commandOf(process.env.BASE_BIN);
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const withPg = !values['no-pg'] && existsSync(join(PG_BIN, 'postgres'));

const work = mkdtempSync('/tmp/dbbackup-startup-');
const ids = userInfo().uid === 0
  ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) }
  : { uid: userInfo().uid, gid: userInfo().gid };
chownSync(work, ids.uid, ids.gid);
// One catalog per build, created before the rounds: the steady state of a machine that backs up often.
const envOf = (build) => ({
  ...process.env,
  DBBACKUP_DATA_DIR: join(work, `data-${build}`),
  XDG_STATE_HOME: join(work, `state-${build}`),
  PGPASSWORD: '',
  ...(values.cold ? { DBBACKUP_CODE_CACHE: 'off' } : {}),
});

const sh = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
/**
 * Runs argv once through bash and returns { seconds, cpu }: CPU from bash's `times` (its children's
 * user + sys, to the millisecond), wall from here.
 */
function timeOnce(argv, env) {
  const script = `${argv.map(sh).join(' ')} >/dev/null 2>"$ERR" || { cat "$ERR" >&2; exit 1; }; times`;
  const t0 = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', script], { cwd: work, env: { ...env, ERR: join(work, 'stderr') }, encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const lines = r.stdout.trim().split('\n');
  const [user, sys] = [...lines.at(-1).matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return { seconds, cpu: user + sys };
}

let server;
let serverPid;
if (withPg) {
  const port = await new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => done(p));
    });
  });
  execFileSync(join(PG_BIN, 'initdb'), ['-D', join(work, 'pg'), '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], { ...ids, stdio: 'ignore', cwd: '/tmp' });
  server = spawn(join(PG_BIN, 'postgres'), ['-D', join(work, 'pg'), '-p', String(port), '-k', work, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'autovacuum=off'], { ...ids, stdio: 'ignore' });
  serverPid = server.pid;
  server.url = `postgres://postgres@127.0.0.1:${port}/empty`;
  for (let i = 0; ; i++) {
    const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    c.on('error', () => {});
    try {
      await c.connect();
      await c.query('CREATE DATABASE empty');
      await c.end();
      break;
    } catch (err) {
      if (i > 100) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** CPU of a run plus the server's share (its backends, reaped by the postmaster once they exit). */
async function timeWithServer(argv, env) {
  const before = treeCpuSeconds(serverPid);
  const t = timeOnce(argv, env);
  // The backend's CPU reaches the postmaster's counters when it has been reaped.
  await new Promise((r) => setTimeout(r, 50));
  return { ...t, server: treeCpuSeconds(serverPid) - before };
}

const sqlite = { empty: join(work, 'empty.db'), [`${values.mb} MB`]: join(work, 'ten.db') };
execFileSync('sqlite3', [sqlite.empty, 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);']);
buildSqliteBenchDb(sqlite[`${values.mb} MB`], Number(values.mb), { step: 10000 });

let n = 0;
const fresh = (name) => join(work, `${name}-${++n}`);
const cases = [
  { name: '--version', tools: { 'node -e 0': () => [process.execPath, '-e', '0'] }, args: () => ['--version'] },
  { name: '--help', tools: {}, args: () => ['--help'] },
];
for (const [label, db] of Object.entries(sqlite)) {
  const repos = {};
  cases.push({
    name: `SQLite backup, ${label}`,
    peerName: 'sqlite3 .backup + zstd -1',
    tools: {
      peer: () => {
        const out = `${fresh('peer')}.db`;
        return ['bash', '-c', `sqlite3 ${sh(db)} ".backup '${out}'" && zstd -1 -q --rm ${sh(out)}`];
      },
    },
    args: (build) => ['backup', '--db', 'sqlite', '--file', db, '--out', (repos[build] = fresh(`repo-${build}`)), '--compress', 'zstd', '--level', '1'],
  });
  cases.push({
    name: `SQLite restore, ${label}`,
    peerName: 'zstd -d',
    tools: { peer: () => ['zstd', '-d', '-q', '-f', join(work, `peer-${label}.db.zst`), '-o', fresh('peer-restored')] },
    before: () => {
      execFileSync('bash', ['-c', `sqlite3 ${sh(db)} ".backup '${join(work, `peer-${label}.db`)}'" && zstd -1 -q -f --rm ${sh(join(work, `peer-${label}.db`))}`]);
    },
    args: (build) => ['restore', '--from', repos[build], '--backup', 'latest', '--db', 'sqlite', '--database', fresh('restored')],
  });
}
if (withPg) {
  cases.push({
    name: 'PostgreSQL backup, empty',
    peerName: 'pg_dump -Fc',
    server: true,
    tools: { peer: () => [join(PG_BIN, 'pg_dump'), '-Fc', '-f', fresh('pg_dump'), server.url] },
    args: (build) => ['backup', '--db', 'postgres', '--url', server.url, '--out', fresh(`pg-repo-${build}`)],
  });
}

// Warm-up: each build creates its catalog and the OS caches its files.
for (const [build, cmd] of Object.entries(builds)) timeOnce([...cmd, 'backup', '--db', 'sqlite', '--file', sqlite.empty, '--out', fresh('warm')], envOf(build));

const results = [];
const fmt = (s) => (s === undefined ? '     -' : s.toFixed(3).padStart(6));
console.log(`dbbackup: ${builds.dbbackup.join(' ')}${builds.base ? `\nbase:     ${builds.base.join(' ')}` : ''}${values.cold ? '\nwithout the code cache (--cold)' : ''}\nmedians of ${runs} runs, CPU s (wall s); load ${await loadAverage()}`);
console.log(`SQLite: ${Object.entries(sqlite).map(([label, db]) => `${label} ${sizeMB(db).toFixed(1)} MB (${execFileSync('sqlite3', [db, 'PRAGMA journal_mode']).toString().trim()} mode)`).join(', ')}\n`);
console.log(`${'case'.padEnd(26)} ${'peer'.padEnd(16)} ${'dbbackup'.padEnd(16)} ${'overhead'.padEnd(16)} ${builds.base ? 'base (overhead)' : ''}`);
for (const c of cases) {
  c.before?.();
  const samples = {};
  const tools = [...Object.keys(c.tools), ...Object.keys(builds)];
  await alternating(tools, runs, async (tool) => {
    const argv = c.tools[tool] ? c.tools[tool]() : [...builds[tool], ...c.args(tool)];
    const env = envOf(c.tools[tool] ? 'dbbackup' : tool);
    const t = c.server ? await timeWithServer(argv, env) : timeOnce(argv, env);
    (samples[tool] ??= []).push(t);
  });
  // The shape bench/results.mjs reads (median = wall seconds), plus cpu = client + server CPU.
  const sum = (ts) =>
    ts && {
      median: median(ts.map((t) => t.seconds)),
      runs: ts.map((t) => t.seconds.toFixed(3)),
      clientCpu: median(ts.map((t) => t.cpu)),
      serverCpu: c.server ? median(ts.map((t) => t.server)) : undefined,
      cpu: median(ts.map((t) => t.cpu + (t.server ?? 0))),
    };
  const peerKey = Object.keys(c.tools)[0];
  const peer = sum(samples[peerKey]);
  const ours = sum(samples.dbbackup);
  const base = sum(samples.base);
  const over = (x) => x && peer && { cpu: x.cpu - peer.cpu, median: x.median - peer.median };
  const peerName = c.peerName ?? peerKey;
  const row = { profile: c.name, dbbackup: ours, peers: peer ? { [peerName]: peer } : undefined, overhead: over(ours), base, baseOverhead: over(base) };
  results.push(row);
  const pair = (x) => (x ? `${fmt(x.cpu)} (${fmt(x.median)})` : '').padEnd(16);
  console.log(`${c.name.padEnd(26)} ${pair(peer)} ${pair(ours)} ${pair(row.overhead)} ${base ? `${pair(base)} ${row.baseOverhead ? pair(row.baseOverhead) : ''}` : ''}`);
}
console.log('\npeers: ' + [...new Set(cases.map((c) => c.peerName ?? Object.keys(c.tools)[0]).filter(Boolean))].join('; '));
const file = await writeResults('startup', { bin: builds.dbbackup.join(' '), base: builds.base?.join(' '), cold: values.cold, runs, targetMB: Number(values.mb), loadavg: await loadAverage(), results });
console.log(`results: ${file}`);

if (server) {
  server.kill('SIGINT');
  await new Promise((r) => server.once('exit', r));
}
rmSync(work, { recursive: true, force: true });
