#!/usr/bin/env node
// Benchmark: dbbackup's MySQL connector against mariadb-dump | gzip and mariadb < dump.sql on a
// throwaway MariaDB holding about MYSQL_BENCH_MB (default 1024) MB of dump text.
//
//   npm run build && node bench/mysql-bench.mjs          # ~1 GB, several minutes on 2 cores
//   MYSQL_BENCH_MB=200 node bench/mysql-bench.mjs          # quicker
//   MYSQL_BENCH_DIR=/tmp/x node bench/mysql-bench.mjs      # keep the server's files there and reuse
//                                                          # the generated data on the next run
//   node bench/mysql-bench.mjs --stage-profile             # then one more backup and restore with
//                                                          # --profile-stages: where their time goes
//
// Every command runs as a subprocess under /usr/bin/time (wall seconds, peak RSS of the process;
// for a shell pipeline the largest member). Targets (issue 4): backup ≥1.5× faster than
// mariadb-dump | gzip, restore ≥2× faster than replaying the SQL, peak RSS < 200 MB.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { printStageProfile } from './measure.mjs';
import { compare, generate, startBenchServer } from './mysql-data.mjs';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../bin/dbbackup.js', import.meta.url));
const TARGET_MB = Number(process.env.MYSQL_BENCH_MB ?? 1024);
const KEEP = process.env.MYSQL_BENCH_DIR !== undefined;

const dir = process.env.MYSQL_BENCH_DIR ?? (await mkdtemp(join(tmpdir(), 'mybench-')));
let server;
try {
  server = await startBenchServer(dir);
  const { sql, sock } = server;
  if ((await sql("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'bench'")) === '0') {
    log(`generating ~${TARGET_MB} MB in database bench …`);
    const t0 = Date.now();
    await generate(sql, TARGET_MB);
    log(`generated in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } else {
    log('reusing database bench');
  }
  await sql('DROP DATABASE IF EXISTS peer; DROP DATABASE IF EXISTS mine; FLUSH TABLES');
  await rm(join(dir, 'repo'), { recursive: true, force: true });
  await rm(join(dir, 'catalog'), { recursive: true, force: true });

  const dumpGz = join(dir, 'dump.sql.gz');
  const dumpSql = join(dir, 'dump.sql');
  const repo = join(dir, 'repo');
  const env = { ...process.env, DBBACKUP_DATA_DIR: join(dir, 'catalog'), MYSQL_PWD: '' };
  const url = (db) => `mysql://root@127.0.0.1:${server.port}/${db}`;

  const peerBackup = await timed('sh', ['-c', `mariadb-dump --no-defaults -S ${sock} -uroot --single-transaction --quick --routines --events --triggers bench | gzip > ${dumpGz}`]);
  const ours = await timed('node', [BIN, 'backup', '--db', 'mysql', '--url', url('bench'), '--out', repo, '--quiet'], env);
  await run('sh', ['-c', `gunzip -c ${dumpGz} > ${dumpSql}`]);
  await sql('CREATE DATABASE peer');
  const peerRestore = await timed('sh', ['-c', `mariadb --no-defaults -S ${sock} -uroot peer < ${dumpSql}`]);
  const oursRestore = await timed('node', [BIN, 'restore', '--from', repo, '--db', 'mysql', '--url', url('mine'), '--create', '--quiet'], env);

  const same = await compare(sql, ['bench', 'peer', 'mine']);
  const profiles = [];
  if (process.argv.includes('--stage-profile')) {
    // Untimed by the table below: one more backup and restore with the stage profiler on.
    for (const [what, a] of [
      ['backup', ['backup', '--db', 'mysql', '--url', url('bench'), '--out', join(dir, 'repo-profile')]],
      ['restore', ['restore', '--from', join(dir, 'repo-profile'), '--db', 'mysql', '--url', url('mine_profile'), '--create']],
    ]) {
      const file = join(dir, `profile-${what}.json`);
      const t = await timed('node', [BIN, ...a, '--quiet', `--profile-stages=${file}`], env);
      profiles.push([`dbbackup ${what}`, t.seconds, JSON.parse(await readFile(file, 'utf8'))]);
    }
    await sql('DROP DATABASE IF EXISTS mine_profile');
    await rm(join(dir, 'repo-profile'), { recursive: true, force: true });
  }
  const repoBytes = await folderSize(repo);
  const rows = [
    ['backup', 'mariadb-dump | gzip', peerBackup, (await stat(dumpGz)).size],
    ['backup', 'dbbackup (zstd)', ours, repoBytes],
    ['restore', 'mariadb < dump.sql', peerRestore, (await stat(dumpSql)).size],
    ['restore', 'dbbackup restore', oursRestore, repoBytes],
  ];
  console.log('\nstep     tool                     wall s   client CPU s  server CPU s   peak RSS       size');
  for (const [step, tool, t, size] of rows) {
    console.log(
      `${step.padEnd(8)} ${tool.padEnd(24)} ${t.seconds.toFixed(1).padStart(6)}  ${t.clientCpu.toFixed(1).padStart(12)}  ${t.serverCpu.toFixed(1).padStart(12)}  ${mb(t.rssKb * 1024).padStart(9)}  ${mb(size).padStart(9)}`,
    );
  }
  const backupRatio = peerBackup.seconds / ours.seconds;
  const restoreRatio = peerRestore.seconds / oursRestore.seconds;
  console.log(`\nraw dump text: ${mb((await stat(dumpSql)).size)}; load average now: ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')}`);
  const cpu = (t) => t.clientCpu + t.serverCpu;
  console.log(`CPU work (client + server): backup ${(cpu(peerBackup) / cpu(ours)).toFixed(2)}× less, restore ${(cpu(peerRestore) / cpu(oursRestore)).toFixed(2)}× less than the peers`);
  console.log(`backup speed-up:  ${backupRatio.toFixed(2)}×  (target ≥ 1.5×) ${backupRatio >= 1.5 ? 'OK' : 'MISSED'}`);
  console.log(`restore speed-up: ${restoreRatio.toFixed(2)}×  (target ≥ 2×)   ${restoreRatio >= 2 ? 'OK' : 'MISSED'}`);
  const peak = Math.max(ours.rssKb, oursRestore.rssKb) * 1024;
  console.log(`dbbackup peak RSS: ${mb(peak)}  (target < 200 MB) ${peak < 200 * 1024 * 1024 ? 'OK' : 'MISSED'}`);
  console.log(`restored data equal (CHECKSUM TABLE, bench = peer = mine): ${same ? 'yes' : 'NO'}`);
  for (const [title, seconds, report] of profiles) printStageProfile(title, seconds, report);
} finally {
  await server?.stop();
  if (!KEEP) await rm(dir, { recursive: true, force: true });
}

/** Runs a command under /usr/bin/time; returns wall seconds and peak RSS (KiB). Fails on a non-zero exit. */
async function timed(cmd, args, env = process.env) {
  const out = join(dir, 'time.out');
  log(`running: ${cmd} ${args.join(' ').slice(0, 140)}`);
  const serverBefore = await serverTicks();
  const started = process.hrtime.bigint();
  await new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-o', out, '-f', '%M %U %S', cmd, ...args], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`))));
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const [rssKb, user, sys] = (await readFile(out, 'utf8')).trim().split('\n').pop().split(' ').map(Number);
  const serverCpu = (await serverTicks()) - serverBefore;
  return { seconds, rssKb, clientCpu: user + sys, serverCpu };
}

/** CPU seconds mariadbd has used so far (utime + stime from /proc). */
async function serverTicks() {
  const fields = (await readFile(`/proc/${server.pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function folderSize(path) {
  let total = 0;
  for (const entry of await readdir(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath ?? entry.path, entry.name))).size;
  }
  return total;
}

function mb(bytes) {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function log(msg) {
  process.stderr.write(`[mysql-bench] ${msg}\n`);
}
