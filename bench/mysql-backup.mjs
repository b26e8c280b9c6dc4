#!/usr/bin/env node
// Benchmark of the MariaDB FULL backup (issue 23): `dbbackup backup` (zstd, to a local repository)
// against `mariadb-dump > file` (the raw export) and `mariadb-dump | gzip`, on three data profiles
// this script generates itself (bench/mysql-data.mjs: app, sysbench, wide), each run RUNS times
// (default 3) rotating which tool goes first; prints medians, ratios (peer s / dbbackup s), client
// and server CPU seconds (less sensitive to the load of a shared machine than wall time), peak RSS
// and the load average, and writes them as JSON under bench/results/.
//
//   npm run build && node bench/mysql-backup.mjs
//   MYSQL_BENCH_MB=100 RUNS=5 MYSQL_BENCH_DIR=/tmp/x node bench/mysql-backup.mjs   # keep the data for the next run
//   PROFILES=sysbench,app PEERS=dump node bench/mysql-backup.mjs
//   DBBACKUP_BIN=/path/to/bin/dbbackup.js …   # time another build
//   BASE_BIN=/copy/of/old/bin/dbbackup.js …   # also time that build in the same rounds
//   BACKUP_ARGS='--parallel 4' …              # extra flags for both builds' backups
//   node bench/mysql-backup.mjs --stage-profile   # then one more backup per profile with --profile-stages
//   node bench/mysql-backup.mjs --compare [BEFORE.json [AFTER.json]]   # runs nothing: two stored results
//   node bench/mysql-backup.mjs --compare-base [FILE.json]   # runs nothing: a BASE_BIN run's base build → this one
//
// Each tool writes to a file on the same disk (the dump file, the repository); both start from a
// warm buffer pool (the generation or the previous round read every table).
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure, printStageProfile, treeCpuSeconds } from './measure.mjs';
import { generateProfile, profileDatabase, startBenchServer } from './mysql-data.mjs';
import { alternating, compareArgs, folderSize, loadAverage, printComparison, summary, writeResults } from './results.mjs';

const BIN = process.env.DBBACKUP_BIN ?? fileURLToPath(new URL('../bin/dbbackup.js', import.meta.url));
const TARGET_MB = Number(process.env.MYSQL_BENCH_MB ?? 100);
const RUNS = Math.max(1, Number(process.env.RUNS ?? 3));
const PROFILES = (process.env.PROFILES ?? 'app,sysbench,wide').split(',');
const PEERS = (process.env.PEERS ?? 'dump,dumpgz').split(',');
const KEEP = process.env.MYSQL_BENCH_DIR !== undefined;
const BASE = process.env.BASE_BIN;
const EXTRA = (process.env.BACKUP_ARGS ?? '').split(' ').filter(Boolean);
const PEER_NAMES = { dump: 'mariadb-dump > file', dumpgz: 'mariadb-dump | gzip' };

const comparing = await compareArgs('mysql-backup');
if (comparing) {
  await printComparison(comparing);
  process.exit(0);
}
const dir = process.env.MYSQL_BENCH_DIR ?? (await mkdtemp(join(tmpdir(), 'mybackup-')));
let server;
const results = [];
const stageProfiles = [];
try {
  server = await startBenchServer(dir);
  const { sql, sock } = server;
  const env = { ...process.env, DBBACKUP_DATA_DIR: join(dir, 'catalog'), MYSQL_PWD: '' };
  const url = (db) => `mysql://root@127.0.0.1:${server.port}/${db}`;
  for (const profile of PROFILES) {
    const db = profileDatabase(profile);
    if (await generateProfile(sql, profile, TARGET_MB)) log(`generated profile ${profile} (~${TARGET_MB} MB)`);
    const dumpFile = join(dir, `backup-${db}.sql`);
    const repo = (who) => join(dir, `backup-repo-${who}`);
    const dump = `mariadb-dump --no-defaults -S ${sock} -uroot --single-transaction --quick --routines --events --triggers ${db}`;
    const commands = {
      dump: ['sh', ['-c', `${dump} > ${dumpFile}`]],
      dumpgz: ['sh', ['-c', `${dump} | gzip > ${dumpFile}.gz`]],
    };
    const times = Object.fromEntries([...PEERS, 'ours', 'base'].map((t) => [t, []]));
    const sizes = {};
    await alternating([...PEERS, 'ours', ...(BASE ? ['base'] : [])], RUNS, async (who) => {
      if (commands[who]) {
        times[who].push(await timed(...commands[who], process.env));
        sizes[who] = (await stat(who === 'dump' ? dumpFile : `${dumpFile}.gz`)).size;
      } else {
        await rm(repo(who), { recursive: true, force: true });
        const bin = who === 'ours' ? BIN : BASE;
        times[who].push(await timed('node', [bin, 'backup', '--db', 'mysql', '--url', url(db), '--out', repo(who), '--quiet', ...EXTRA], env));
        sizes[who] = await folderSize(repo(who));
      }
      log(`${profile} ${who}: ${times[who].at(-1).seconds.toFixed(2)} s`);
    });
    if (process.argv.includes('--stage-profile')) {
      const file = join(dir, `profile-backup-${db}.json`);
      await rm(repo('profile'), { recursive: true, force: true });
      const t = await timed('node', [BIN, 'backup', '--db', 'mysql', '--url', url(db), '--out', repo('profile'), '--quiet', `--profile-stages=${file}`, ...EXTRA], env);
      stageProfiles.push([`dbbackup backup, ${profile}`, t.seconds, JSON.parse(await readFile(file, 'utf8'))]);
    }
    const ours = summary(times.ours);
    results.push({
      profile,
      dumpMB: (sizes.dump ?? 0) / 2 ** 20,
      repoMB: sizes.ours / 2 ** 20,
      peers: Object.fromEntries(PEERS.map((p) => [p, { ...summary(times[p]), sizeMB: sizes[p] / 2 ** 20 }])),
      dbbackup: ours,
      ratios: Object.fromEntries(PEERS.map((p) => [p, summary(times[p]).median / ours.median])),
      ...(BASE ? { base: summary(times.base), baseMB: sizes.base / 2 ** 20, baseRatios: Object.fromEntries(PEERS.map((p) => [p, summary(times[p]).median / summary(times.base).median])) } : {}),
      loadavg: await loadAverage(),
    });
    for (const who of ['ours', 'base', 'profile']) await rm(repo(who), { recursive: true, force: true });
    await rm(dumpFile, { force: true });
    await rm(`${dumpFile}.gz`, { force: true });
  }
  console.log(`\nMariaDB backup, medians of ${RUNS} (rotating order), ~${TARGET_MB} MB per profile, ${BIN}`);
  console.log('ratio = peer s / dbbackup s (> 1: dbbackup faster); CPU s = client (process tree) / server (mariadbd)');
  for (const r of results) {
    console.log(`\n${r.profile}   (load average ${r.loadavg})`);
    const line = (tool, s, size, ratio) =>
      console.log(
        `  ${tool.padEnd(24)} ${s.median.toFixed(2).padStart(6)} s (${s.runs.join(' ')})  CPU ${s.clientCpu.toFixed(2)} / ${s.serverCpu.toFixed(2)} s  RSS ${s.peakRssMB.toFixed(0).padStart(4)} MB  ${(size / 2 ** 20).toFixed(1).padStart(7)} MB${ratio ?? ''}`,
      );
    for (const [p, s] of Object.entries(r.peers)) line(PEER_NAMES[p], s, s.sizeMB * 2 ** 20, `   ratio ${r.ratios[p].toFixed(2)}×`);
    line('dbbackup backup (zstd)', r.dbbackup, r.repoMB * 2 ** 20);
    if (r.base) line('base build', r.base, r.baseMB * 2 ** 20, `   ratios ${Object.entries(r.baseRatios).map(([p, x]) => `${p} ${x.toFixed(2)}×`).join(', ')}`);
  }
  for (const [title, seconds, report] of stageProfiles) printStageProfile(title, seconds, report);
  console.log(`\nwritten ${await writeResults('mysql-backup', { bin: BIN, base: BASE, targetMB: TARGET_MB, runs: RUNS, results })}`);
} finally {
  await server?.stop();
  if (!KEEP) await rm(dir, { recursive: true, force: true });
}

/** Wall seconds, peak RSS and the client's and the server's CPU seconds of one command. */
async function timed(cmd, args, env) {
  const before = treeCpuSeconds(server.pid);
  const r = await measure(cmd, args, { env });
  return { seconds: r.seconds, peakRssMB: r.peakRssMB, clientCpu: r.cpuSeconds, serverCpu: treeCpuSeconds(server.pid) - before };
}

function log(msg) {
  process.stderr.write(`[mysql-backup] ${msg}\n`);
}
