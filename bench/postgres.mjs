#!/usr/bin/env node
// PostgreSQL backup/restore benchmark: dbbackup against pg_dump / pg_restore on the same server, same run.
// Usage: node bench/postgres.mjs [sizeMB=1000] [parallel=cores] [--data realistic|compressible|sysbench|pgbench] [--timeline] [--rounds N]
//          [--backup-rounds N] [--baseline path/to/bin/dbbackup.js] [--stage-profile]
//   needs `npm run build` and PostgreSQL server binaries (PG_BIN, default /usr/lib/postgresql/15/bin).
// Starts its own throwaway server (initdb in a temp dir, a free port), builds a ~sizeMB database
// (bench/pg-data.mjs: `realistic` compresses ~3.7:1 like the reference dump in TESTING.md,
// `compressible` ~9:1), then times: pg_dump -Fc, pg_dump -Fp > /dev/null, dbbackup backup,
// pg_restore -j N, dbbackup restore. Each row shows the client's and the server's CPU seconds: on a
// small machine both share the cores, so client CPU is taken from the server. --timeline logs every
// statement on the server and prints, for both restores, what each connection ran and when.
// --rounds N (default 3) times both restores N times, alternating which goes first, into fresh
// databases, and compares the medians: on a small VM one restore's time moves by ±15 % from run to
// run, so a single pair says little. --backup-rounds N (default 3) does the same for the backups
// (pg_dump -Fc, pg_dump -Fp and dbbackup, in a rotating order). --baseline BIN times another build's
// CLI (e.g. a copy of main's bin/ + dist/) in the same rounds, on the same database: before/after
// figures of an optimisation from one invocation.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { measure, printStageProfile, printTable, sizeMB, treeCpuSeconds } from './measure.mjs';
import { buildSql } from './pg-data.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'dbbackup.js');
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const args = process.argv.slice(2);
const dataAt = args.indexOf('--data');
const profile = dataAt >= 0 ? args.splice(dataAt, 2)[1] : 'realistic';
const timelineAt = args.indexOf('--timeline');
const timeline = timelineAt >= 0 && args.splice(timelineAt, 1).length > 0;
const roundsAt = args.indexOf('--rounds');
const rounds = roundsAt >= 0 ? Number(args.splice(roundsAt, 2)[1]) : 3;
const backupRoundsAt = args.indexOf('--backup-rounds');
const backupRounds = backupRoundsAt >= 0 ? Number(args.splice(backupRoundsAt, 2)[1]) : 3;
const baselineAt = args.indexOf('--baseline');
const baseline = baselineAt >= 0 ? args.splice(baselineAt, 2)[1] : undefined;
const stageProfileAt = args.indexOf('--stage-profile');
const stageProfile = stageProfileAt >= 0 && args.splice(stageProfileAt, 1).length > 0;
const targetMB = Number(args[0] ?? 1000);
const parallel = Number(args[1] ?? availableParallelism());
const work = mkdtempSync('/tmp/pgb-');
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
// Same server settings for both tools; maintenance_work_mem matches what dbbackup's restore sessions use.
// Autovacuum is off: it would process one tool's freshly restored tables while the other tool is timed.
const server = spawn(join(PG_BIN, 'postgres'), ['-D', join(work, 'data'), '-p', String(port), '-k', work, '-c', 'listen_addresses=127.0.0.1',
  '-c', 'shared_buffers=256MB', '-c', 'maintenance_work_mem=256MB', '-c', 'max_wal_size=4GB', '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'autovacuum=off',
  ...(timeline ? ['-c', 'log_min_duration_statement=0', '-c', 'log_line_prefix=%m [%p] ', '-c', 'log_timezone=UTC'] : [])],
  { ...ids, stdio: ['ignore', 'ignore', timeline ? openSync(join(work, 'server.log'), 'w') : 'ignore'] });
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

try {
  const admin = await client();
  await admin.query('CREATE DATABASE bench');
  await admin.end();
  const db = await client('bench');
  const scale = targetMB / 1000;
  console.log(`building a ~${targetMB} MB database (${profile} data, scale ${scale})…`);
  const t0 = Date.now();
  if (profile === 'pgbench') {
    execFileSync(join(PG_BIN, 'pgbench'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-i', '-q', '-s', String(Math.max(1, Math.round(targetMB / 15))), 'bench'], { stdio: 'ignore' });
  } else {
    await db.query(buildSql(profile, scale));
  }
  await db.query('VACUUM ANALYZE');
  const dbMB = Number((await db.query(`SELECT pg_database_size('bench') AS s`)).rows[0].s) / 1e6;
  await db.end();
  console.log(`database: ${dbMB.toFixed(0)} MB (built in ${((Date.now() - t0) / 1000).toFixed(0)} s); parallel = ${parallel}\n`);

  const pgArgs = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'];
  const results = [];
  // The 1-minute load average after each step: other work on the machine skews a row's time.
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  const row = (operation, r, outMB) => {
    results.push({ operation, seconds: r.seconds.toFixed(2), 'MB/s': (dbMB / r.seconds).toFixed(0), 'peak RSS MB': r.peakRssMB.toFixed(0), 'output MB': outMB === undefined ? '-' : outMB.toFixed(0),
      'client CPU s': r.cpuSeconds.toFixed(2), 'server CPU s': r.serverCpu === undefined ? '-' : r.serverCpu.toFixed(2), load: load() });
    return r;
  };
  // Times one command and the server's CPU over the same interval. A CHECKPOINT first (untimed), so
  // that no step pays for writing out the pages the step before it dirtied.
  const timed = async (cmd, cmdArgs, options) => {
    const c = await client();
    await c.query('CHECKPOINT');
    await c.end();
    const before = treeCpuSeconds(server.pid);
    const r = await measure(cmd, cmdArgs, options);
    return { ...r, serverCpu: treeCpuSeconds(server.pid) - before };
  };
  const du = (path) => Number(execFileSync('du', ['-sb', path]).toString().split('\t')[0]) / 1e6;
  const dbb = (...a) => timed(process.execPath, [bin, ...a, '--quiet'], { env, cwd: work });

  row('dbbackup --version (CLI start-up only)', await measure(process.execPath, [bin, '--version'], { env }));
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  // Each backup step runs backupRounds times, the order rotating each round; a row shows the median
  // time (peak RSS: the highest of the rounds).
  const steps = [
    ['pg_dump -Fc', () => timed(join(PG_BIN, 'pg_dump'), [...pgArgs, '-Fc', '-f', join(work, 'bench.dump'), 'bench']), () => sizeMB(join(work, 'bench.dump'))],
    ['pg_dump -Fp > /dev/null', () => timed('bash', ['-c', `'${PG_BIN}/pg_dump' ${pgArgs.join(' ')} -Fp bench > /dev/null`])],
    [`dbbackup backup (zstd-1, --parallel ${parallel})`, () => (rmSync(join(work, 'repo'), { recursive: true, force: true }), dbb('backup', '--db', 'postgres', '--url', url('bench'), '--out', join(work, 'repo'), '--parallel', String(parallel))), () => du(join(work, 'repo'))],
    ...(baseline
      ? [[`baseline backup (zstd-1, --parallel ${parallel})`, () => (rmSync(join(work, 'repo-base'), { recursive: true, force: true }), timed(process.execPath, [baseline, 'backup', '--db', 'postgres', '--url', url('bench'), '--out', join(work, 'repo-base'), '--parallel', String(parallel), '--quiet'], { env, cwd: work })), () => du(join(work, 'repo-base'))]]
      : []),
  ];
  const runs = steps.map(() => []);
  for (let round = 0; round < backupRounds; round++) {
    for (let k = 0; k < steps.length; k++) {
      const i = (k + round) % steps.length;
      runs[i].push(await steps[i][1]());
    }
  }
  const backupRows = steps.map(([name, , out], i) => {
    const times = runs[i].map((r) => r.seconds);
    const peak = runs[i].reduce((a, b) => (a.peakRssMB >= b.peakRssMB ? a : b));
    console.log(`${name}: ${times.map((t) => t.toFixed(2)).join(' ')} s`);
    // CPU seconds (medians too): on a shared machine they move less with the load than wall time does.
    const cpu = { cpuSeconds: median(runs[i].map((r) => r.cpuSeconds)), serverCpu: median(runs[i].map((r) => r.serverCpu)) };
    return row(`${name} (median of ${backupRounds})`, { ...runs[i][0], ...cpu, seconds: median(times), peakRssMB: peak.peakRssMB }, out?.());
  });
  const [fc, fp, ours] = backupRows;
  const base = baseline ? backupRows[3] : undefined;
  const ours1 = row('dbbackup backup (zstd-1, --parallel 1)', await dbb('backup', '--db', 'postgres', '--url', url('bench'), '--out', join(work, 'repo1'), '--parallel', '1'), du(join(work, 'repo1')));
  // Both restores start from an existing empty database (createdb is not timed for either). Each
  // round uses fresh databases; the order alternates so that neither tool always goes first.
  const marks = [];
  const pgTimes = [];
  const ourTimes = [];
  const pgCpu = [];
  const ourCpu = [];
  let pgr;
  let rest;
  for (let round = 0; round < rounds; round++) {
    const suffix = round === 0 ? '' : `_${round}`;
    execFileSync(join(PG_BIN, 'createdb'), [...pgArgs, `r_pg${suffix}`]);
    execFileSync(join(PG_BIN, 'createdb'), [...pgArgs, `r_ours${suffix}`]);
    const runPg = async () => {
      const from = new Date();
      const r = await timed(join(PG_BIN, 'pg_restore'), [...pgArgs, '-j', String(parallel), '-d', `r_pg${suffix}`, join(work, 'bench.dump')]);
      if (round === 0) marks.push(['pg_restore', from, new Date()]);
      pgTimes.push(r.seconds);
      pgCpu.push(r);
      pgr ??= r;
    };
    const runOurs = async () => {
      const from = new Date();
      const r = await dbb('restore', '--from', join(work, 'repo'), '--db', 'postgres', '--url', url(`r_ours${suffix}`), '--parallel', String(parallel));
      if (round === 0) marks.push(['dbbackup restore', from, new Date()]);
      ourTimes.push(r.seconds);
      ourCpu.push(r);
      rest = rest && rest.peakRssMB >= r.peakRssMB ? rest : r; // the round with the highest peak RSS
    };
    if (round % 2 === 0) {
      await runPg();
      await runOurs();
    } else {
      await runOurs();
      await runPg();
    }
    if (round > 0) for (const db of [`r_pg${suffix}`, `r_ours${suffix}`]) execFileSync(join(PG_BIN, 'dropdb'), [...pgArgs, db]);
  }
  const cpuOf = (rs) => ({ cpuSeconds: median(rs.map((r) => r.cpuSeconds)), serverCpu: median(rs.map((r) => r.serverCpu)) });
  const pgRow = row(`pg_restore -j ${parallel} (median of ${rounds})`, { ...pgr, ...cpuOf(pgCpu), seconds: median(pgTimes) });
  const ourRow = row(`dbbackup restore (--parallel ${parallel}, median of ${rounds})`, { ...rest, ...cpuOf(ourCpu), seconds: median(ourTimes) });

  // Every table's row count in the source and in both restores.
  const counts = async (name) => {
    const c = await client(name);
    const tables = (await c.query(`SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace ORDER BY 1`)).rows.map((r) => r.relname);
    const out = {};
    for (const t of tables) out[t] = Number((await c.query(`SELECT count(*) AS n FROM "${t}"`)).rows[0].n);
    await c.end();
    return JSON.stringify(out);
  };
  const [source, restoredOurs, restoredPg] = [await counts('bench'), await counts('r_ours'), await counts('r_pg')];

  printTable(results);
  if (timeline) printTimeline(readFileSync(join(work, 'server.log'), 'utf8'), marks);
  console.log(`\nrows: source ${source}`);
  console.log(`  dbbackup restore ${restoredOurs === source ? 'matches' : `DIFFERS: ${restoredOurs}`}; pg_restore ${restoredPg === source ? 'matches' : `DIFFERS: ${restoredPg}`}`);
  if (restoredOurs !== source) process.exitCode = 1;
  console.log(`\nload average (1/5/15 min) at the end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  console.log('ratios (>1 means dbbackup is faster):');
  const verdict = (ok) => (ok ? 'OK' : 'MISSED');
  const best = Math.min(ours.seconds, ours1.seconds);
  const sizeRatio = du(join(work, 'repo')) / sizeMB(join(work, 'bench.dump'));
  console.log(`  backup vs pg_dump -Fc:             ${(fc.seconds / ours.seconds).toFixed(2)}x  (goal >= 3x: ${verdict(fc.seconds / ours.seconds >= 3)})   --parallel 1: ${(fc.seconds / ours1.seconds).toFixed(2)}x`);
  console.log(`  backup output vs pg_dump -Fc:      ${sizeRatio.toFixed(2)}x  (goal <= 1: ${verdict(sizeRatio <= 1)})`);
  console.log(`  backup vs pg_dump -Fp > /dev/null: ${(fp.seconds / ours.seconds).toFixed(2)}x  (goal >= 1/1.2 = 0.83x: ${verdict(fp.seconds / ours.seconds >= 1 / 1.2)})   --parallel 1: ${(fp.seconds / ours1.seconds).toFixed(2)}x`);
  if (base) {
    console.log(`  baseline backup vs pg_dump -Fc:    ${(fc.seconds / base.seconds).toFixed(2)}x;  vs pg_dump -Fp > /dev/null: ${(fp.seconds / base.seconds).toFixed(2)}x;  this build / baseline time: ${(ours.seconds / base.seconds).toFixed(2)}`);
  }
  const restoreRatio = median(pgTimes) / median(ourTimes);
  console.log(`  restore vs pg_restore -j ${parallel}:        ${restoreRatio.toFixed(2)}x  (goal >= 1x: ${verdict(restoreRatio >= 1)})   medians of ${rounds}; each round: ${pgTimes.map((p, i) => (p / ourTimes[i]).toFixed(2)).join(' ')}`);
  console.log(`    restore seconds, pg_restore: ${pgTimes.map((t) => t.toFixed(2)).join(' ')}; dbbackup: ${ourTimes.map((t) => t.toFixed(2)).join(' ')}`);
  // The same comparisons in CPU seconds (client + server, medians): what decides wall time once other
  // work shares the cores; near the wall-time ratio only on an idle machine.
  const cpuSum = (r) => r.cpuSeconds + r.serverCpu;
  console.log(`  CPU s (client + server): backup ${cpuSum(ours).toFixed(2)}, pg_dump -Fp ${cpuSum(fp).toFixed(2)} (ratio ${(cpuSum(fp) / cpuSum(ours)).toFixed(2)}x), pg_dump -Fc ${cpuSum(fc).toFixed(2)} (${(cpuSum(fc) / cpuSum(ours)).toFixed(2)}x)${base ? `; baseline backup ${cpuSum(base).toFixed(2)}` : ''}`);
  console.log(`  CPU s (client + server): restore ${cpuSum(ourRow).toFixed(2)}, pg_restore -j ${parallel} ${cpuSum(pgRow).toFixed(2)} (ratio ${(cpuSum(pgRow) / cpuSum(ourRow)).toFixed(2)}x)`);
  const maxRss = Math.max(ours.peakRssMB, ours1.peakRssMB, rest.peakRssMB);
  console.log(`  dbbackup peak RSS:                 ${maxRss.toFixed(0)} MB (goal < 200 MB: ${verdict(maxRss < 200)})`);
  console.log(`  fastest backup ${best.toFixed(2)} s; CLI start-up alone ${results[0].seconds} s of it`);
  if (stageProfile) {
    // One more backup and restore with the stage profiler on: where their seconds go.
    execFileSync(join(PG_BIN, 'createdb'), [...pgArgs, 'r_profile']);
    for (const [what, a] of [
      ['backup', ['backup', '--db', 'postgres', '--url', url('bench'), '--out', join(work, 'repo-profile'), '--parallel', String(parallel)]],
      ['restore', ['restore', '--from', join(work, 'repo-profile'), '--db', 'postgres', '--url', url('r_profile'), '--parallel', String(parallel)]],
    ]) {
      const out = join(work, `profile-${what}.json`);
      const r = await dbb(...a, `--profile-stages=${out}`);
      printStageProfile(`dbbackup ${what} (--parallel ${parallel}, ${profile} data)`, r.seconds, JSON.parse(readFileSync(out, 'utf8')));
    }
  }
} finally {
  server.kill('SIGINT');
  await new Promise((r) => server.once('exit', r));
  rmSync(work, { recursive: true, force: true });
}

/**
 * Statements over 50 ms within each mark's [from, to] window, from the server's log: start and end
 * seconds after `from`, duration, backend pid, and the statement's start.
 */
function printTimeline(log, marks) {
  const line = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) UTC \[(\d+)\] LOG:  duration: ([\d.]+) ms  (?:statement|execute [^:]*): (.*)$/;
  const rows = [];
  for (const l of log.split('\n')) {
    const m = line.exec(l);
    if (!m) continue;
    const end = new Date(`${m[1].replace(' ', 'T')}Z`).getTime();
    const ms = Number(m[3]);
    rows.push({ start: end - ms, end, ms, pid: m[2], sql: m[4].slice(0, 90) });
  }
  for (const [name, from, to] of marks) {
    console.log(`\ntimeline of ${name} (s from its start; statements over 50 ms):`);
    for (const r of rows.filter((r) => r.start >= from.getTime() && r.start < to.getTime() && r.ms > 50).sort((a, b) => a.start - b.start)) {
      const at = (t) => ((t - from.getTime()) / 1000).toFixed(2).padStart(7);
      console.log(`${at(r.start)} ${at(r.end)} ${(r.ms / 1000).toFixed(2).padStart(6)}  [${r.pid}] ${r.sql}`);
    }
  }
}
