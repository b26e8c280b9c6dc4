#!/usr/bin/env node
// Benchmark of the MariaDB FULL restore (issue 23): `dbbackup restore` against `mariadb < dump.sql`
// of the same data, on three data profiles this script generates itself, each restored RUNS times
// (default 3) alternating which tool goes first; prints medians, the ratio, client/server CPU,
// peak RSS and the load average, and writes them as JSON under bench/results/.
//
//   npm run build && node bench/mysql-restore.mjs
//   MYSQL_BENCH_MB=100 RUNS=3 MYSQL_BENCH_DIR=/tmp/x node bench/mysql-restore.mjs   # reuse data next time
//   PROFILES=sysbench,app node bench/mysql-restore.mjs
//   DBBACKUP_BIN=/path/to/bin/dbbackup.js …   # time another build
//   BASE_BIN=/copy/of/old/bin/dbbackup.js …   # also time that build in the same rounds (before/after
//                                              # on the same data, under the same load)
//   node bench/mysql-restore.mjs --compare [BEFORE.json [AFTER.json]]   # runs nothing: prints two stored
//                                              # results (default: the newest two) before → after
//   node bench/mysql-restore.mjs --compare-base [FILE.json]   # a BASE_BIN run: its base build → this build
//
// Profiles (≈ MYSQL_BENCH_MB of dump text each):
//   app       bench/mysql-data.mjs's tables (orders, events, users, files; secondary and unique keys)
//   sysbench  2 tables shaped as `sysbench oltp` prepare makes them (id, k, c CHAR(120), pad CHAR(60),
//             KEY k_1(k)) with random digit strings
//   wide      wide rows: JSON, VARBINARY/BLOB, DECIMAL, DATETIME(6), two secondary keys
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure, treeCpuSeconds } from './measure.mjs';
import { alternating, compareArgs, folderSize, loadAverage, median, printComparison, summary, writeResults } from './results.mjs';
import { generateProfile, profileDatabase, startBenchServer } from './mysql-data.mjs';

const BIN = process.env.DBBACKUP_BIN ?? fileURLToPath(new URL('../bin/dbbackup.js', import.meta.url));
const TARGET_MB = Number(process.env.MYSQL_BENCH_MB ?? 100);
const RUNS = Math.max(1, Number(process.env.RUNS ?? 3));
const PROFILES = (process.env.PROFILES ?? 'app,sysbench,wide').split(',');
const KEEP = process.env.MYSQL_BENCH_DIR !== undefined;
const BASE = process.env.BASE_BIN;
const EXTRA = (process.env.RESTORE_ARGS ?? '').split(' ').filter(Boolean);

const comparing = await compareArgs('mysql-restore');
if (comparing) {
  await printComparison(comparing);
  process.exit(0);
}
const dir = process.env.MYSQL_BENCH_DIR ?? (await mkdtemp(join(tmpdir(), 'myrestore-')));
let server;
const results = [];
try {
  server = await startBenchServer(dir);
  const { sql, sock } = server;
  const env = { ...process.env, DBBACKUP_DATA_DIR: join(dir, 'catalog'), MYSQL_PWD: '' };
  const url = (db) => `mysql://root@127.0.0.1:${server.port}/${db}`;
  for (const profile of PROFILES) {
    const db = profileDatabase(profile);
    if (await generateProfile(sql, profile, TARGET_MB)) log(`generated profile ${profile} (~${TARGET_MB} MB)`);
    const dumpSql = join(dir, `${db}.sql`);
    const repo = join(dir, `repo-${db}`);
    if (!(await exists(dumpSql))) {
      await measure('sh', ['-c', `mariadb-dump --no-defaults -S ${sock} -uroot --single-transaction --quick --routines --events --triggers ${db} > ${dumpSql}.tmp && mv ${dumpSql}.tmp ${dumpSql}`]);
    }
    if (!(await exists(join(repo, 'dbbackup-repo.json')))) {
      await rm(repo, { recursive: true, force: true });
      await measure('node', [BIN, 'backup', '--db', 'mysql', '--url', url(db), '--out', repo, '--quiet'], { env });
    }
    const times = { peer: [], ours: [], base: [] };
    const last = await alternating(BASE ? ['peer', 'ours', 'base'] : ['peer', 'ours'], RUNS, async (who) => {
      await sql('DROP DATABASE IF EXISTS r_peer; DROP DATABASE IF EXISTS r_mine');
      if (who === 'peer') {
        await sql(`CREATE DATABASE r_peer`);
        times.peer.push(await timed('sh', ['-c', `mariadb --no-defaults -S ${sock} -uroot r_peer < ${dumpSql}`], process.env));
      } else {
        const bin = who === 'ours' ? BIN : BASE;
        times[who].push(await timed('node', [bin, 'restore', '--from', repo, '--db', 'mysql', '--url', url('r_mine'), '--create', '--quiet', ...EXTRA], env));
      }
      log(`${profile} ${who}: ${times[who].at(-1).seconds.toFixed(2)} s`);
    });
    if (last !== 'ours') {
      // The checks below are of this build's restore: make one more (untimed) if another went last.
      await sql('DROP DATABASE IF EXISTS r_mine');
      await timed('node', [BIN, 'restore', '--from', repo, '--db', 'mysql', '--url', url('r_mine'), '--create', '--quiet', ...EXTRA], env);
    }
    const { peer, ours, base } = times;
    const same = (await sql(`CHECKSUM TABLE ${await tablesOf(sql, db, 'r_mine')} EXTENDED`)).replace(/^\S+?\./gm, '') ===
      (await sql(`CHECKSUM TABLE ${await tablesOf(sql, db, db)} EXTENDED`)).replace(/^\S+?\./gm, '');
    const ddlSame = (await showCreates(sql, db)) === (await showCreates(sql, 'r_mine'));
    const row = {
      profile,
      dumpMB: (await stat(dumpSql)).size / 2 ** 20,
      repoMB: (await folderSize(repo)) / 2 ** 20,
      peer: summary(peer),
      dbbackup: summary(ours),
      ratio: median(peer.map((t) => t.seconds)) / median(ours.map((t) => t.seconds)),
      ...(BASE ? { base: summary(base), baseRatio: median(peer.map((t) => t.seconds)) / median(base.map((t) => t.seconds)) } : {}),
      dataEqual: same,
      showCreateEqual: ddlSame,
      loadavg: await loadAverage(),
    };
    results.push(row);
    await sql('DROP DATABASE IF EXISTS r_peer; DROP DATABASE IF EXISTS r_mine');
  }
  console.log(`\nMariaDB restore, medians of ${RUNS} (alternating order), ~${TARGET_MB} MB per profile, ${BIN}`);
  console.log('profile    dump MB  peer s (runs)              dbbackup s (runs)          ratio  srv CPU peer/ours  RSS MB  equal  loadavg');
  for (const r of results) {
    console.log(
      `${r.profile.padEnd(9)} ${r.dumpMB.toFixed(0).padStart(7)}  ${r.peer.median.toFixed(2).padStart(6)} (${r.peer.runs.join(' ')})`.padEnd(51) +
        ` ${r.dbbackup.median.toFixed(2).padStart(6)} (${r.dbbackup.runs.join(' ')})`.padEnd(28) +
        ` ${r.ratio.toFixed(2).padStart(5)}×  ${r.peer.serverCpu.toFixed(1).padStart(6)}/${r.dbbackup.serverCpu.toFixed(1).padEnd(6)}` +
        `      ${r.dbbackup.peakRssMB.toFixed(0).padStart(5)}  ${r.dataEqual && r.showCreateEqual ? 'yes' : 'NO'}    ${r.loadavg}`,
    );
    if (r.base) console.log(`  base build: ${r.base.median.toFixed(2)} s (${r.base.runs.join(' ')}), ratio ${r.baseRatio.toFixed(2)}×, server CPU ${r.base.serverCpu.toFixed(1)} s, RSS ${r.base.peakRssMB.toFixed(0)} MB`);
  }
  console.log(`written ${await writeResults('mysql-restore', { bin: BIN, base: BASE, targetMB: TARGET_MB, runs: RUNS, results })}`);
} finally {
  await server?.stop();
  if (!KEEP) await rm(dir, { recursive: true, force: true });
}

async function tablesOf(sql, source, db) {
  const names = (await sql(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${source}' AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1`)).split('\n');
  return names.map((n) => `${db}.${n}`).join(', ');
}

async function showCreates(sql, db) {
  const names = (await sql(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${db}' AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1`)).split('\n');
  let all = '';
  for (const n of names) all += (await sql(`SHOW CREATE TABLE ${db}.${n}`)).replace(/ AUTO_INCREMENT=\d+/, '') + '\n';
  return all;
}

/** Wall seconds, peak RSS and the client's and the server's CPU seconds of one command. */
async function timed(cmd, args, env) {
  const before = treeCpuSeconds(server.pid);
  const r = await measure(cmd, args, { env });

  return { seconds: r.seconds, peakRssMB: r.peakRssMB, clientCpu: r.cpuSeconds, serverCpu: treeCpuSeconds(server.pid) - before };
}

async function exists(p) {
  return stat(p).then(() => true, () => false);
}

function log(msg) {
  process.stderr.write(`[mysql-restore] ${msg}\n`);
}
