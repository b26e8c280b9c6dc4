#!/usr/bin/env node
// PostgreSQL full backup/restore benchmark (issue 23): dbbackup against pg_dump / pg_restore on the
// same throwaway server, in the same invocation, on data profiles this script generates itself.
//
//   npm run build && node bench/postgres.mjs [--profiles sysbench,pgbench,wide] [--mb 100] [--runs 3] [--parallel N]
//   node bench/postgres.mjs --profiles tables10k --mb 20          # 10,000 small tables
//   node bench/postgres.mjs --profiles sysbench --scale-mb 5120   # plus the same profile at 5 GB: s/GB and peak RSS at both sizes
//   node bench/postgres.mjs --compare [BEFORE.json [AFTER.json]]  # runs nothing: two stored results, before → after
//   node bench/postgres.mjs --compare-base [FILE.json]            # runs nothing: a --baseline run's baseline → this build
//   options: --timeline (what each restore connection ran, from the server's log), --stage-profile (one more
//   backup and restore per profile with --profile-stages), --baseline BIN (another build's bin/dbbackup.js
//   timed in the same rounds), DBBACKUP_BIN (the build to time), PG_BIN (default /usr/lib/postgresql/15/bin).
//   Old form still read: node bench/postgres.mjs [sizeMB] [parallel] [--data PROFILE] [--rounds N].
//
// Profiles (≈ --mb MB of database each, bench/pg-data.mjs):
//   sysbench   sysbench's oltp tables (2 × 2 M rows per GB, random digit strings): `sysbench oltp_common
//              prepare` when sysbench is installed, else the same tables made in SQL (said in the output)
//   pgbench    `pgbench -i -s mb/15` (numeric)
//   wide       wide rows: jsonb, json, bytea, arrays, uuid; plus ~10 kB TOASTed attachments
//   tables10k  10,000 small tables
//   realistic, compressible: the earlier application-like profiles
// Per profile: the backups (pg_dump -Fc, pg_dump -Fp > /dev/null, dbbackup backup) run --runs times
// each, rotating which goes first; then the restores (pg_restore -j N of the -Fc dump, dbbackup
// restore of its backup, both into an empty database made untimed) --runs times, alternating. A
// CHECKPOINT (untimed) precedes every timed step. Prints medians (results.mjs: the mean of the two
// middles for an even count), ratio = peer s / dbbackup s (> 1: dbbackup faster), the same ratio in
// CPU seconds (client process tree + server), output sizes and peak RSS; every restore is checked
// against the source (per table: row count and an order-independent hash of every row's text;
// sequences' values; `pg_dump -s` of the first restore equal to the source's). Writes
// bench/results/postgres-<time>.json (exit 1 if a restore differs).
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { measure, printStageProfile, printTable, treeCpuSeconds } from './measure.mjs';
import { buildSql } from './pg-data.mjs';
import { alternating, compareArgs, folderSize, loadAverage, printComparison, summary, writeResults } from './results.mjs';

const comparing = await compareArgs('postgres');
if (comparing) {
  await printComparison(comparing);
  process.exit(0);
}
const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    profiles: { type: 'string' },
    data: { type: 'string' },
    mb: { type: 'string' },
    runs: { type: 'string' },
    rounds: { type: 'string' },
    parallel: { type: 'string' },
    'scale-mb': { type: 'string' },
    'scale-profile': { type: 'string', default: 'sysbench' },
    baseline: { type: 'string' },
    timeline: { type: 'boolean', default: false },
    'stage-profile': { type: 'boolean', default: false },
  },
});
const root = fileURLToPath(new URL('..', import.meta.url));
const BIN = resolve(process.env.DBBACKUP_BIN ?? join(root, 'bin', 'dbbackup.js'));
const BASE = opt.baseline && resolve(opt.baseline);
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const PROFILES = (opt.profiles ?? opt.data ?? 'sysbench,pgbench,wide').split(',').filter(Boolean);
const TARGET_MB = Number(opt.mb ?? positionals[0] ?? 100);
const RUNS = Math.max(1, Number(opt.runs ?? opt.rounds ?? 3));
const PARALLEL = Number(opt.parallel ?? positionals[1] ?? availableParallelism());
const SCALE_MB = opt['scale-mb'] ? Number(opt['scale-mb']) : undefined;
const SCALE_PROFILE = opt['scale-profile'];
const SYSBENCH = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v sysbench']).toString().trim() || undefined;
  } catch {
    return undefined;
  }
})();

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
// Same server settings for every tool; maintenance_work_mem matches what dbbackup's restore sessions use.
// Autovacuum is off: it would process one tool's freshly restored tables while the other tool is timed.
// max_locks_per_transaction: pg_dump and a restore of 10,000 tables hold a lock on each.
const server = spawn(join(PG_BIN, 'postgres'), ['-D', join(work, 'data'), '-p', String(port), '-k', work, '-c', 'listen_addresses=127.0.0.1',
  '-c', 'shared_buffers=256MB', '-c', 'maintenance_work_mem=256MB', '-c', 'max_wal_size=4GB', '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'autovacuum=off',
  '-c', 'max_locks_per_transaction=1024',
  ...(opt.timeline ? ['-c', 'log_min_duration_statement=0', '-c', 'log_line_prefix=%m [%p] ', '-c', 'log_timezone=UTC'] : [])],
  { ...ids, stdio: ['ignore', 'ignore', opt.timeline ? openSync(join(work, 'server.log'), 'w') : 'ignore'] });
const url = (db) => `postgres://postgres@127.0.0.1:${port}/${db}`;
const pgArgs = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'];
const pgTool = (name, a, options = {}) => execFileSync(join(PG_BIN, name), [...pgArgs, ...a], { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'], ...options });
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
const PEERS = { fc: 'pg_dump -Fc', fp: 'pg_dump -Fp > /dev/null', restore: `pg_restore -j ${PARALLEL}` };

const results = [];
const scale = [];
const tables = [];
const stageProfiles = [];
try {
  for (const profile of PROFILES) results.push(...(await benchProfile(profile, TARGET_MB)));
  if (SCALE_MB) {
    // The same profile at the normal and at the large size: the cost must grow linearly, memory not at all.
    const small = results.filter((r) => r.profile.startsWith(`${SCALE_PROFILE} `));
    if (small.length === 0) results.push(...(await benchProfile(SCALE_PROFILE, TARGET_MB)));
    results.push(...(await benchProfile(SCALE_PROFILE, SCALE_MB, `${SCALE_PROFILE}@${SCALE_MB}MB`)));
    const at = (name) => results.find((r) => r.profile === name);
    for (const step of ['backup', 'restore']) {
      const [a, b] = [at(`${SCALE_PROFILE} ${step}`), at(`${SCALE_PROFILE}@${SCALE_MB}MB ${step}`)];
      for (const [tool, sa, sb] of [['dbbackup', a.dbbackup, b.dbbackup], ...Object.keys(b.peers).map((p) => [p, a.peers[p], b.peers[p]])]) {
        const perGB = (s, dbMB) => s.median / (dbMB / 1000);
        scale.push({
          step, tool,
          [`s/GB @${TARGET_MB}MB`]: perGB(sa, a.dbMB).toFixed(2), [`s/GB @${SCALE_MB}MB`]: perGB(sb, b.dbMB).toFixed(2),
          'time/GB growth': `${(perGB(sb, b.dbMB) / perGB(sa, a.dbMB)).toFixed(2)}×`,
          [`CPU s/GB @${TARGET_MB}MB`]: (cpu(sa) / (a.dbMB / 1000)).toFixed(2), [`CPU s/GB @${SCALE_MB}MB`]: (cpu(sb) / (b.dbMB / 1000)).toFixed(2),
          [`RSS MB @${TARGET_MB}MB`]: sa.peakRssMB.toFixed(0), [`RSS MB @${SCALE_MB}MB`]: sb.peakRssMB.toFixed(0),
        });
      }
    }
  }
} finally {
  server.kill('SIGINT');
  await new Promise((r) => server.once('exit', r));
  rmSync(work, { recursive: true, force: true });
}

console.log(`\nPostgreSQL full backup and restore, medians of ${RUNS} (rotating order), ~${TARGET_MB} MB per profile, parallel ${PARALLEL}, ${BIN}`);
console.log('ratio = peer s / dbbackup s (> 1: dbbackup faster); CPU ratio: the same in CPU seconds (client process tree + server)');
for (const [title, rows, runs] of tables) {
  console.log(`\n${title}`);
  printTable(rows);
  for (const line of runs) console.log(`  ${line}`);
}
if (scale.length) {
  console.log(`\nscale: ${SCALE_PROFILE} at ${TARGET_MB} MB and at ${SCALE_MB} MB (database sizes: ${results.filter((r) => r.profile.startsWith(SCALE_PROFILE) && r.profile.endsWith('backup')).map((r) => `${r.dbMB.toFixed(0)} MB`).join(', ')})`);
  printTable(scale);
}
for (const [title, seconds, report] of stageProfiles) printStageProfile(title, seconds, report);
console.log(`\nload average (1/5/15 min) at the end: ${await loadAverage()}`);
const written = await writeResults('postgres', { bin: BIN, base: BASE, targetMB: TARGET_MB, scaleMB: SCALE_MB, runs: RUNS, parallel: PARALLEL, sysbench: SYSBENCH ?? 'generated in SQL (sysbench not installed)', results, scale });
console.log(`written ${written}`);
if (results.some((r) => r.verified === false)) {
  console.log('A RESTORE DIFFERS FROM ITS SOURCE (see above)');
  process.exitCode = 1;
}

/** Builds one profile's database, times the backups and the restores, checks every restore; returns its two result rows. */
async function benchProfile(profile, targetMB, label = profile) {
  const src = `src_${label.replace(/\W/g, '_').toLowerCase()}`;
  const admin = await client();
  await admin.query(`DROP DATABASE IF EXISTS ${src}`);
  await admin.query(`CREATE DATABASE ${src}`);
  await admin.end();
  const t0 = Date.now();
  let generator = 'SQL';
  if (profile === 'pgbench') {
    generator = `pgbench -i -s ${Math.max(1, Math.round(targetMB / 15))}`;
    pgTool('pgbench', ['-i', '-q', '-s', String(Math.max(1, Math.round(targetMB / 15))), src], { stdio: 'ignore' });
  } else if (profile === 'sysbench' && SYSBENCH) {
    const rows = Math.max(1, Math.round((2_000_000 * targetMB) / 1000));
    generator = `sysbench oltp_common --tables=2 --table-size=${rows} prepare`;
    execFileSync(SYSBENCH, ['oltp_common', '--db-driver=pgsql', '--pgsql-host=127.0.0.1', `--pgsql-port=${port}`, '--pgsql-user=postgres', `--pgsql-db=${src}`,
      '--tables=2', `--table-size=${rows}`, 'prepare'], { stdio: 'ignore' });
  } else {
    if (profile === 'sysbench') generator = 'SQL: sysbench is not installed, the same tables and value shapes';
    const db = await client(src);
    await db.query(buildSql(profile, targetMB / 1000));
    await db.end();
  }
  const db = await client(src);
  await db.query('VACUUM ANALYZE');
  const dbMB = Number((await db.query('SELECT pg_database_size(current_database()) AS s')).rows[0].s) / 1e6;
  await db.end();
  const source = await contentOf(src);
  log(`${label}: ${dbMB.toFixed(0)} MB database, ${source.tables} tables, ${source.rows} rows, built in ${((Date.now() - t0) / 1000).toFixed(0)} s by ${generator}`);

  const dump = join(work, 'bench.dump');
  const repo = (who) => join(work, `repo-${who}`);
  const dbb = (bin, ...a) => timed(process.execPath, [bin, ...a, '--quiet'], { env, cwd: work });
  const backups = {
    fc: () => timed(join(PG_BIN, 'pg_dump'), [...pgArgs, '-Fc', '-f', dump, src]),
    fp: () => timed('bash', ['-c', `'${PG_BIN}/pg_dump' ${pgArgs.join(' ')} -Fp ${src} > /dev/null`]),
    ours: () => (rmSync(repo('ours'), { recursive: true, force: true }), dbb(BIN, 'backup', '--db', 'postgres', '--url', url(src), '--out', repo('ours'), '--parallel', String(PARALLEL))),
    base: () => (rmSync(repo('base'), { recursive: true, force: true }), dbb(BASE, 'backup', '--db', 'postgres', '--url', url(src), '--out', repo('base'), '--parallel', String(PARALLEL))),
  };
  const times = { fc: [], fp: [], ours: [], base: [] };
  await alternating(['fc', 'fp', 'ours', ...(BASE ? ['base'] : [])], RUNS, async (who) => {
    times[who].push(await backups[who]());
    log(`${label} backup ${who}: ${times[who].at(-1).seconds.toFixed(2)} s`);
  });
  const sizes = { fc: statSync(dump).size / 1e6, ours: (await folderSize(repo('ours'))) / 1e6, base: BASE ? (await folderSize(repo('base'))) / 1e6 : undefined };

  // Restores: each into a fresh empty database (created untimed), checked against the source, dropped.
  const restoreTimes = { restore: [], ours: [], base: [] };
  const marks = [];
  let verified = true;
  let schemaSame;
  const restores = {
    restore: (target) => timed(join(PG_BIN, 'pg_restore'), [...pgArgs, '-j', String(PARALLEL), '-d', target, dump]),
    ours: (target) => dbb(BIN, 'restore', '--from', repo('ours'), '--db', 'postgres', '--url', url(target), '--parallel', String(PARALLEL)),
    base: (target) => dbb(BASE, 'restore', '--from', repo('base'), '--db', 'postgres', '--url', url(target), '--parallel', String(PARALLEL)),
  };
  await alternating(['restore', 'ours', ...(BASE ? ['base'] : [])], RUNS, async (who, round) => {
    const target = `r_${who}`;
    pgTool('dropdb', ['--if-exists', target]);
    pgTool('createdb', [target]);
    const from = new Date();
    restoreTimes[who].push(await restores[who](target));
    if (round === 0) marks.push([`${who === 'restore' ? PEERS.restore : who === 'ours' ? 'dbbackup restore' : 'baseline restore'}, ${label}`, from, new Date()]);
    const got = await contentOf(target);
    const same = got.digest === source.digest;
    if (!same) {
      verified = false;
      console.log(`${label}: the ${who} restore of round ${round + 1} DIFFERS from the source: ${describeDiff(source, got)}`);
    }
    if (round === 0 && who === 'ours') schemaSame = schemaOf(target) === schemaOf(src);
    log(`${label} restore ${who}: ${restoreTimes[who].at(-1).seconds.toFixed(2)} s, content ${same ? 'matches' : 'DIFFERS'}`);
    pgTool('dropdb', [target]);
  });
  if (schemaSame === false) {
    verified = false;
    console.log(`${label}: pg_dump -s of dbbackup's restore differs from the source's`);
  }
  if (opt.timeline) printTimeline(readFileSync(join(work, 'server.log'), 'utf8'), marks);
  if (opt['stage-profile']) {
    // One more backup and restore with the stage profiler on: where their seconds go.
    pgTool('createdb', ['r_profile']);
    for (const [what, a] of [
      ['backup', ['backup', '--db', 'postgres', '--url', url(src), '--out', repo('profile'), '--parallel', String(PARALLEL)]],
      ['restore', ['restore', '--from', repo('profile'), '--db', 'postgres', '--url', url('r_profile'), '--parallel', String(PARALLEL)]],
    ]) {
      const out = join(work, `profile-${what}.json`);
      const r = await dbb(BIN, ...a, `--profile-stages=${out}`);
      stageProfiles.push([`dbbackup ${what} (--parallel ${PARALLEL}, ${label})`, r.seconds, JSON.parse(readFileSync(out, 'utf8'))]);
    }
    pgTool('dropdb', ['r_profile']);
  }
  for (const who of ['ours', 'base', 'profile']) rmSync(repo(who), { recursive: true, force: true });
  rmSync(dump, { force: true });
  pgTool('dropdb', [src]);

  const loadavg = await loadAverage();
  const backupRow = row(`${label} backup`, dbMB, { fc: [times.fc, sizes.fc], fp: [times.fp, undefined] }, [times.ours, sizes.ours], BASE && [times.base, sizes.base], loadavg);
  const restoreRow = row(`${label} restore`, dbMB, { restore: [restoreTimes.restore, sizes.fc] }, [restoreTimes.ours, sizes.ours], BASE && [restoreTimes.base, sizes.base], loadavg);
  restoreRow.verified = verified;
  restoreRow.schemaEqual = schemaSame;
  const lines = [];
  for (const [step, r, ts] of [['backup', backupRow, times], ['restore', restoreRow, restoreTimes]]) {
    lines.push(`${step} runs (s): ${Object.keys(ts).filter((p) => !['ours', 'base'].includes(p)).map((p) => `${PEERS[p]} ${ts[p].map((t) => t.seconds.toFixed(2)).join(' ')}`).join('; ')}; dbbackup ${ts.ours.map((t) => t.seconds.toFixed(2)).join(' ')}${BASE ? `; baseline ${ts.base.map((t) => t.seconds.toFixed(2)).join(' ')}` : ''}`);
  }
  lines.push(`restores checked against the source (${source.tables} tables, ${source.rows} rows, row hashes, sequences): ${verified ? 'all match' : 'SOME DIFFER'}; pg_dump -s of dbbackup's restore ${schemaSame ? 'equal' : 'DIFFERS'}`);
  const tableRows = [];
  for (const [step, r] of [['backup', backupRow], ['restore', restoreRow]]) {
    for (const [p, s] of Object.entries(r.peers)) {
      const line = (who, ours, oursMB, ratio, cpuRatio) => ({
        step, peer: p + who, 'peer s': s.median.toFixed(2), 'ours s': ours.median.toFixed(2), ratio: `${ratio.toFixed(2)}×`, 'CPU ratio': `${cpuRatio.toFixed(2)}×`,
        'peer MB': s.sizeMB === undefined ? '-' : s.sizeMB.toFixed(1), 'ours MB': oursMB.toFixed(1), 'peer RSS MB': s.peakRssMB.toFixed(0), 'ours RSS MB': ours.peakRssMB.toFixed(0),
      });
      tableRows.push(line('', r.dbbackup, r.repoMB, r.ratios[p], r.cpuRatios[p]));
      if (r.base) tableRows.push(line(' (baseline build)', r.base, r.baseMB, r.baseRatios[p], cpu(s) / cpu(r.base)));
    }
  }
  tables.push([`${label}: ${dbMB.toFixed(0)} MB database, ${source.tables} tables, ${source.rows} rows (${generator}); load average ${loadavg}`, tableRows, lines]);
  return [backupRow, restoreRow];
}

/** A results.mjs row: the peers' and dbbackup's summaries, ratios (time and CPU), sizes. */
function row(name, dbMB, peers, [ours, oursMB], base, loadavg) {
  const o = summary(ours);
  const ps = Object.fromEntries(Object.entries(peers).map(([p, [ts, mb]]) => [PEERS[p], { ...summary(ts), sizeMB: mb }]));
  const b = base ? summary(base[0]) : undefined;
  return {
    profile: name,
    dbMB,
    repoMB: oursMB,
    peers: ps,
    dbbackup: o,
    ratios: Object.fromEntries(Object.entries(ps).map(([p, s]) => [p, s.median / o.median])),
    cpuRatios: Object.fromEntries(Object.entries(ps).map(([p, s]) => [p, cpu(s) / cpu(o)])),
    ...(b ? { base: b, baseMB: base[1], baseRatios: Object.fromEntries(Object.entries(ps).map(([p, s]) => [p, s.median / b.median])) } : {}),
    loadavg,
  };
}

function cpu(s) {
  return s.clientCpu + s.serverCpu;
}

/**
 * Times one command and the server's CPU over the same interval. A CHECKPOINT first (untimed), so
 * that no step pays for writing out the pages the step before it dirtied.
 */
async function timed(cmd, cmdArgs, options) {
  const c = await client();
  await c.query('CHECKPOINT');
  await c.end();
  const before = treeCpuSeconds(server.pid);
  const r = await measure(cmd, cmdArgs, options);
  return { seconds: r.seconds, peakRssMB: r.peakRssMB, clientCpu: r.cpuSeconds, serverCpu: treeCpuSeconds(server.pid) - before };
}

/**
 * What a database holds, per user table: its row count and the sum of a 60-bit hash of each row's
 * text (order-independent, one pass, no sort), and every sequence's value; `digest` joins them all.
 */
async function contentOf(name) {
  const c = await client(name);
  try {
    const names = (await c.query(`SELECT format('%I.%I', n.nspname, t.relname) AS t FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE t.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1`)).rows.map((r) => r.t);
    const perTable = {};
    for (let i = 0; i < names.length; i += 200) {
      const q = names.slice(i, i + 200).map((t) => `SELECT ${c.escapeLiteral(t)} AS t, count(*) AS n, coalesce(sum(('x' || substr(md5(x::text), 1, 15))::bit(60)::bigint), 0)::text AS h FROM ${t} x`).join(' UNION ALL ');
      for (const r of (await c.query(q)).rows) perTable[r.t] = `${r.n}:${r.h}`;
    }
    const seqs = (await c.query(`SELECT format('%I.%I', schemaname, sequencename) AS s, last_value FROM pg_sequences ORDER BY 1`)).rows.map((r) => `${r.s}=${r.last_value}`);
    const rows = Object.values(perTable).reduce((sum, v) => sum + Number(v.split(':')[0]), 0);
    return { tables: names.length, rows, perTable, seqs, digest: JSON.stringify([perTable, seqs]) };
  } finally {
    await c.end();
  }
}

function describeDiff(a, b) {
  const diffs = [...new Set([...Object.keys(a.perTable), ...Object.keys(b.perTable)])].filter((t) => a.perTable[t] !== b.perTable[t]);
  const seq = JSON.stringify(a.seqs) === JSON.stringify(b.seqs) ? '' : `; sequences ${JSON.stringify(a.seqs).slice(0, 200)} → ${JSON.stringify(b.seqs).slice(0, 200)}`;
  return `${diffs.length} tables: ${diffs.slice(0, 5).map((t) => `${t} ${a.perTable[t] ?? 'absent'} → ${b.perTable[t] ?? 'absent'}`).join(', ')}${seq}`;
}

/** `pg_dump -s` of a database, without the lines that name the server's version. */
function schemaOf(name) {
  return pgTool('pg_dump', ['-s', name]).toString().split('\n').filter((l) => !l.startsWith('-- Dumped') && !l.startsWith('\\restrict') && !l.startsWith('\\unrestrict')).join('\n');
}

function log(msg) {
  process.stderr.write(`[postgres] ${msg}\n`);
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
