#!/usr/bin/env node
// Runs every engine's bench on its generated profiles, one after the other, and prints one table of
// every row of every result file they wrote (bench/results/, results.mjs's format). A bench that
// fails is reported and the others still run (exit 1 at the end).
//
//   npm run bench                                    # = npm run build && node bench/run.mjs
//   npm run bench -- --only postgres,mysql --mb 100 --runs 3
//   npm run bench -- --scale [--scale-mb 5120]       # the scale runs instead: 10,000 small tables (collections),
//                                                    # and one profile at --mb and at --scale-mb (s/GB, peak RSS)
//   npm run bench -- --compare [--only …]            # runs nothing: each bench's newest result against the
//                                                    # one before it of the same size with a profile in common
//
// Benches (--only takes these names; `mysql` = both MariaDB benches):
//   postgres       bench/postgres.mjs --profiles sysbench,pgbench,wide --mb --runs
//                  scale: --profiles tables10k --scale-profile sysbench --scale-mb
//   mysql-backup   bench/mysql-backup.mjs  env MYSQL_BENCH_MB, RUNS (profiles app, sysbench, wide); no scale run yet
//   mysql-restore  bench/mysql-restore.mjs env MYSQL_BENCH_MB, RUNS; no scale run yet
//   sqlite         bench/sqlite.mjs --mb --runs; scale: --profiles tables10k, then --scale --mb S --base-mb mb
//   storage        bench/storage.mjs --mb --runs; scale: --profiles tables10k, then --profiles text --mb S
//   mongodb        bench/mongodb.mjs --mb --runs; scale: --profiles collections10k only (CongoDB holds the data in memory)
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { printTable } from './measure.mjs';
import { compareArgs, printComparison, RESULTS_DIR } from './results.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const { values: opt } = parseArgs({
  options: {
    only: { type: 'string' },
    mb: { type: 'string', default: '100' },
    runs: { type: 'string', default: '3' },
    scale: { type: 'boolean', default: false },
    'scale-mb': { type: 'string', default: '5120' },
    compare: { type: 'boolean', default: false },
  },
});
const { mb, runs } = opt;
const flags = ['--mb', mb, '--runs', runs];
const mysqlEnv = { MYSQL_BENCH_MB: mb, RUNS: runs };
const S = opt['scale-mb'];
// name: { script, args, env, results (the names its result files start with), scale: [args, …] (the
// invocations of its scale runs; absent: the bench has none yet, or `why` not) }
const BENCHES = {
  postgres: { script: 'postgres.mjs', args: [...flags, '--profiles', 'sysbench,pgbench,wide'], results: ['postgres'],
    scale: [[...flags, '--profiles', 'tables10k', '--scale-profile', 'sysbench', '--scale-mb', S]] },
  'mysql-backup': { script: 'mysql-backup.mjs', args: [], env: mysqlEnv, results: ['mysql-backup'] },
  'mysql-restore': { script: 'mysql-restore.mjs', args: [], env: mysqlEnv, results: ['mysql-restore'] },
  sqlite: { script: 'sqlite.mjs', args: flags, results: ['sqlite-backup', 'sqlite-restore', 'sqlite-scale'],
    scale: [[...flags, '--profiles', 'tables10k'], ['--scale', '--mb', S, '--base-mb', mb, '--runs', runs]] },
  storage: { script: 'storage.mjs', args: flags, results: ['storage'],
    scale: [[...flags, '--profiles', 'tables10k'], ['--profiles', 'text', '--mb', S, '--runs', runs]] },
  mongodb: { script: 'mongodb.mjs', args: flags, results: ['mongodb-backup', 'mongodb-restore'],
    scale: [[...flags, '--profiles', 'collections10k']], why: 'no run at --scale-mb: CongoDB holds the whole database in memory' },
};
// Readable names for the peers the older result files name by a short key.
const PEER_NAMES = {
  'mysql-backup': { dump: 'mariadb-dump > file', dumpgz: 'mariadb-dump | gzip' },
  'mysql-restore': { peer: 'mariadb < dump.sql' },
  'sqlite-backup': { peer: 'sqlite3 .backup + zstd -1' },
  'sqlite-restore': { unzstd: 'zstd -d', unzstdcheck: 'zstd -d + integrity_check' },
  storage: { aws: '.backup + zstd -1 + aws s3 cp', sdk: '.backup + zstd -1 + SDK upload' },
  'mongodb-backup': { rawread: 'driver read (reference; no native peer)' },
};
const picked = opt.only ? opt.only.split(',').flatMap((n) => (n === 'mysql' ? ['mysql-backup', 'mysql-restore'] : [n])) : Object.keys(BENCHES);
const unknown = picked.filter((n) => !BENCHES[n]);
if (unknown.length) {
  console.error(`unknown bench ${unknown.join(', ')}: ${Object.keys(BENCHES).join(', ')} (or mysql)`);
  process.exit(2);
}

if (opt.compare) {
  for (const name of picked) {
    for (const results of BENCHES[name].results) {
      console.log(`\n=== ${results}`);
      try {
        await printComparison(await comparable(results));
      } catch (err) {
        console.log(`  nothing to compare: ${err.message}`);
      }
    }
  }
  process.exit(0);
}

const outcomes = [];
for (const name of picked) {
  const { script, args, env = {}, scale, why } = BENCHES[name];
  const invocations = opt.scale ? scale ?? [] : [args];
  if (invocations.length === 0) outcomes.push({ name, status: 'no scale run in this bench yet: skipped', files: [] });
  else if (opt.scale && why) outcomes.push({ name, status: why, files: [] });
  for (const argv of invocations) {
    const before = new Set(await resultFiles());
    const command = `node bench/${script} ${argv.join(' ')}`;
    console.log(`\n=== ${name}: ${command}${Object.keys(env).length ? `  (${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')})` : ''}`);
    const started = Date.now();
    const code = await new Promise((resolve) => {
      const child = spawn(process.execPath, [join(HERE, script), ...argv], { stdio: 'inherit', env: { ...process.env, ...env } });
      child.on('error', (err) => {
        console.error(`${name}: ${err.message}`);
        resolve(-1);
      });
      child.on('close', (c, signal) => resolve(signal ? signal : c));
    });
    const files = (await resultFiles()).filter((f) => !before.has(f));
    const minutes = ((Date.now() - started) / 60000).toFixed(1);
    outcomes.push({ name: `${name}${invocations.length > 1 ? ` (${argv.join(' ')})` : ''}`, status: code === 0 ? `ok (${minutes} min)` : `FAILED: exit ${code} after ${minutes} min`, files });
  }
}

const rows = [];
for (const { name, files } of outcomes) {
  for (const file of files) {
    let data;
    try {
      data = JSON.parse(await readFile(join(RESULTS_DIR, file), 'utf8'));
    } catch (err) {
      console.log(`${file}: unreadable (${err.message})`);
      continue;
    }
    for (const r of data.results ?? []) {
      const ours = r.dbbackup;
      const fmt = (x, digits = 2) => (typeof x === 'number' ? x.toFixed(digits) : '-');
      const peers = Object.entries(r.peers ?? (r.peer ? { peer: r.peer } : {}));
      const ratios = r.ratios ?? (r.ratio !== undefined ? { peer: r.ratio } : {});
      const base = { bench: data.bench ?? name, profile: r.profile };
      if (peers.length === 0) rows.push({ ...base, comparison: '-', 'peer s': '-', 'ours s': fmt(ours?.median), ratio: '-', 'peer RSS MB': '-', 'ours RSS MB': fmt(ours?.peakRssMB, 0) });
      for (const [peer, s] of peers) {
        rows.push({ ...base, comparison: PEER_NAMES[data.bench ?? name]?.[peer] ?? peer, 'peer s': fmt(s?.median), 'ours s': fmt(ours?.median), ratio: ratios[peer] === undefined ? '-' : `${ratios[peer].toFixed(2)}×`, 'peer RSS MB': fmt(s?.peakRssMB, 0), 'ours RSS MB': fmt(ours?.peakRssMB, 0) });
      }
    }
  }
}
console.log(`\n=== summary: ${opt.scale ? 'scale runs' : `~${mb} MB per profile, medians of ${runs}`} (ratio = peer s / dbbackup s; > 1: dbbackup faster)`);
if (rows.length) printTable(rows);
else console.log('no result rows were written');
console.log('');
for (const o of outcomes) console.log(`${o.name.padEnd(14)}  ${o.status}${o.files.length ? `  → ${o.files.map((f) => `bench/results/${f}`).join(', ')}` : ''}`);
if (outcomes.some((o) => o.status.startsWith('FAILED'))) process.exitCode = 1;

/**
 * The bench's newest result and the newest one before it of the same size with a profile in common
 * (a scale run or a run of other profiles in between is passed over); else results.mjs's two newest.
 */
async function comparable(bench) {
  const files = (await resultFiles()).filter((f) => f.startsWith(`${bench}-`) && /^\d/.test(f.slice(bench.length + 1))).sort();
  const read = async (f) => JSON.parse(await readFile(join(RESULTS_DIR, f), 'utf8'));
  if (files.length >= 2) {
    const after = await read(files.at(-1));
    const profiles = new Set((after.results ?? []).map((r) => r.profile));
    for (const f of files.slice(0, -1).reverse()) {
      const before = await read(f).catch(() => undefined);
      if (before?.targetMB === after.targetMB && (before.results ?? []).some((r) => profiles.has(r.profile))) return [join(RESULTS_DIR, f), join(RESULTS_DIR, files.at(-1))];
    }
  }
  return compareArgs(bench, ['--compare']);
}

async function resultFiles() {
  return (await readdir(RESULTS_DIR).catch(() => [])).filter((f) => f.endsWith('.json'));
}
