#!/usr/bin/env node
// Benchmark: MySQL incremental backups from the binary log, on a throwaway MariaDB holding about
// MYSQL_BENCH_MB (default 1024) MB (bench/mysql-data.mjs). A full, then 1 % of the rows changed,
// then an incremental; restores of the full and of the chain, and the incremental's replay alone
// (the connector's, timed in this process) against `mariadb-binlog <the stored files> | mariadb`.
//
//   npm run build && node bench/mysql-incremental.mjs     # ~1 GB, several minutes on 2 cores
//   MYSQL_BENCH_MB=200 node bench/mysql-incremental.mjs     # quicker
//   MYSQL_BENCH_DIR=/tmp/x node bench/mysql-incremental.mjs # keep the server's files and reuse the data
//   MYSQL_BENCH_ROUNDS=3 MYSQL_BENCH_CHANGE_PCT=10 MYSQL_BENCH_SMALL_TXNS=20000 MYSQL_BENCH_SMALL_SPREAD=1 \
//   MYSQL_BENCH_REPLAY_CONNECTIONS=4 MYSQL_BENCH_BASE_DIST=/tmp/main-dist node bench/mysql-incremental.mjs
//     # data profiles; another build's replay (a copy of its dist/) in the same rounds, on the same data
//   MYSQL_BENCH_MB=100 MYSQL_BENCH_BIG_TXN=120000 MYSQL_BENCH_ROUNDS=3 node bench/mysql-incremental.mjs
//     # large transactions: one transaction inserting 120,000 orders and updating 120,000 others (no 1 % updates)
//
// Targets (issue 22): incremental ≤ 0.2× the full's time; replay ≥ 3× faster than mariadb-binlog | mariadb;
// client peak RSS ≤ 200 MB.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure, printTable, treeCpuSeconds } from './measure.mjs';
import { compare, generate, startBenchServer } from './mysql-data.mjs';

const BIN = fileURLToPath(new URL('../bin/dbbackup.js', import.meta.url));
const TARGET_MB = Number(process.env.MYSQL_BENCH_MB ?? 1024);
/** Rounds of the replay comparison (ours and the peer's alternate, each onto a freshly restored full); medians are reported. */
const ROUNDS = Math.max(1, Number(process.env.MYSQL_BENCH_ROUNDS ?? 1));
/** Extra small transactions (one row each) written after the big updates, so that per-commit costs show. */
const SMALL_TXNS = Number(process.env.MYSQL_BENCH_SMALL_TXNS ?? 0);
/** The small transactions go round the three tables (else all to users), so that a parallel replay can spread them. */
const SMALL_SPREAD = process.env.MYSQL_BENCH_SMALL_SPREAD === '1';
/** Which rows the big updates change: id % 100 < CHANGE_PCT (1 = 1 %). */
const CHANGE_PCT = Math.max(1, Math.min(100, Number(process.env.MYSQL_BENCH_CHANGE_PCT ?? 1)));
/** Rows of the one large transaction (inserted into orders, and as many others updated there); replaces the 1 % updates. */
const BIG_TXN = Number(process.env.MYSQL_BENCH_BIG_TXN ?? 0);
/** Another build's dist/ (e.g. main's), replayed in the same rounds onto its own copy: before/after on the same data. */
const BASE_DIST = process.env.MYSQL_BENCH_BASE_DIST;
/** Connections of our replay (--replay-connections); unset = the connector's default. */
const REPLAY_CONNECTIONS = process.env.MYSQL_BENCH_REPLAY_CONNECTIONS === undefined ? undefined : Number(process.env.MYSQL_BENCH_REPLAY_CONNECTIONS);
/** Connections of the base build's replay (e.g. this build's dist/ with 1: serial against parallel). */
const BASE_CONNECTIONS = process.env.MYSQL_BENCH_BASE_CONNECTIONS === undefined ? undefined : Number(process.env.MYSQL_BENCH_BASE_CONNECTIONS);
const KEEP = process.env.MYSQL_BENCH_DIR !== undefined;
const dir = process.env.MYSQL_BENCH_DIR ?? (await mkdtemp(join(tmpdir(), 'myincbench-')));

let server;
try {
  server = await startBenchServer(dir);
  const { sql, sock } = server;
  if ((await sql("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'bench'")) === '0') {
    log(`generating ~${TARGET_MB} MB in database bench …`);
    await generate(sql, TARGET_MB);
  } else {
    log('reusing database bench');
  }
  await sql('DROP DATABASE IF EXISTS mine_full; DROP DATABASE IF EXISTS mine_chain; DROP DATABASE IF EXISTS mine_replay; DROP DATABASE IF EXISTS base_replay; DROP DATABASE IF EXISTS peer');
  const repo = join(dir, 'inc-repo');
  await rm(repo, { recursive: true, force: true });
  await rm(join(dir, 'inc-catalog'), { recursive: true, force: true });
  const env = { ...process.env, DBBACKUP_DATA_DIR: join(dir, 'inc-catalog'), MYSQL_PWD: '' };
  const url = (db) => `mysql://root@127.0.0.1:${server.port}/${db}`;
  // The untimed restores of each round stay out of the server's binary log, which is purged after each round
  // (restores read the repository, never the server's log): else every round adds GBs of log to the disk.
  const quiet = (db) => `${url(db)}?binlog=off`;
  const purge = () => sql('FLUSH BINARY LOGS; PURGE BINARY LOGS BEFORE NOW() + INTERVAL 1 SECOND');
  const cli = (...args) => measure('node', [BIN, ...args, '--quiet'], { env });

  log('full backup');
  const full = await cli('backup', '--db', 'mysql', '--url', url('bench'), '--out', repo);
  log('changing 1 % of the rows');
  const rows = Number(await sql('SELECT (SELECT COUNT(*) FROM bench.orders) + (SELECT COUNT(*) FROM bench.events) + (SELECT COUNT(*) FROM bench.users)'));
  const picked = (k) => `(id + ${k}) % 100 < ${CHANGE_PCT}`;
  if (BIG_TXN > 0) {
    const top = Number(await sql('SELECT MAX(id) FROM bench.orders'));
    await sql(`BEGIN;
      INSERT INTO bench.orders SELECT ${top} + seq, seq % 100003, '2024-01-01' + INTERVAL seq SECOND, (seq % 1000) / 100, 'new', CONCAT('big ', seq) FROM bench.seq_1_to_${BIG_TXN};
      UPDATE bench.orders SET amount = amount + 1, status = 'paid', note = CONCAT('changed ', id) WHERE id <= ${BIG_TXN};
      COMMIT;`);
  } else {
    await sql(`UPDATE bench.orders SET amount = amount + 1, status = 'paid' WHERE ${picked(7)};
      UPDATE bench.events SET kind = 'changed' WHERE ${picked(11)};
      UPDATE bench.users SET score = score * 2 WHERE ${picked(13)};`);
  }
  const small = [
    (r) => `UPDATE bench.users SET score = score + 1 WHERE id = ${r};`,
    (r) => `UPDATE bench.orders SET amount = amount + 1 WHERE id = ${r};`,
    (r) => `UPDATE bench.events SET at = at + INTERVAL 1 SECOND WHERE id = ${r};`,
  ];
  for (let i = 0; i < SMALL_TXNS; i += 500) {
    const n = Math.min(500, SMALL_TXNS - i);
    await sql(Array.from({ length: n }, (_, k) => small[SMALL_SPREAD ? (i + k) % 3 : 0](1 + ((i + k) * 37) % 1000)).join('\n'));
  }
  const changed = BIG_TXN > 0 ? 2 * BIG_TXN + SMALL_TXNS : Number(await sql(`SELECT (SELECT COUNT(*) FROM bench.orders WHERE ${picked(7)}) + (SELECT COUNT(*) FROM bench.events WHERE ${picked(11)}) + (SELECT COUNT(*) FROM bench.users WHERE ${picked(13)})`)) + SMALL_TXNS;
  log('incremental backup');
  const inc = await cli('backup', '--db', 'mysql', '--url', url('bench'), '--out', repo, '--type', 'incremental');
  const ids = (await readdir(join(repo, 'bench'))).sort();
  const fullId = ids.find((i) => i.includes('-full-'));
  const incId = ids.find((i) => i.includes('-incremental-'));

  log('restores: the full alone, the chain, and the replay of the incremental alone (timed in this process)');
  const restoreFull = await cli('restore', '--from', repo, '--backup', fullId, '--db', 'mysql', '--url', url('mine_full'), '--create');
  const restoreChain = await cli('restore', '--from', repo, '--backup', incId, '--db', 'mysql', '--url', url('mine_chain'), '--create');
  const changes = join(repo, 'bench', incId, 'changes');
  const files = (await readdir(changes)).filter((f) => /^\d{6}\.binlog/.test(f)).sort();
  // mariadb-binlog seeks in its files: they are unpacked first (not timed).
  const plain = [];
  for (const f of files) {
    plain.push(join(dir, `peer-${plain.length}.binlog`));
    await measure('sh', ['-c', f.endsWith('.zst') ? `zstd -qdc ${join(changes, f)} > ${plain.at(-1)}` : `cp ${join(changes, f)} ${plain.at(-1)}`]);
  }
  const ours = [];
  const bases = [];
  const peers = [];
  const oursCpu = [];
  const peersCpu = [];
  const basesCpu = [];
  for (let round = 0; round < ROUNDS; round++) {
    log(`replay round ${round + 1}/${ROUNDS}: the full restored into mine_replay and peer (not timed), then ours and mariadb-binlog | mariadb`);
    await sql('DROP DATABASE IF EXISTS mine_replay; DROP DATABASE IF EXISTS base_replay; DROP DATABASE IF EXISTS peer');
    await purge();
    await cli('restore', '--from', repo, '--backup', fullId, '--db', 'mysql', '--url', quiet('mine_replay'), '--create');
    if (BASE_DIST) await cli('restore', '--from', repo, '--backup', fullId, '--db', 'mysql', '--url', quiet('base_replay'), '--create');
    await cli('restore', '--from', repo, '--backup', fullId, '--db', 'mysql', '--url', quiet('peer'), '--create');
    // CPU seconds (the server's, plus the client's: this process or the peer's pipeline) tell more than wall time on a loaded machine.
    const runOurs = async () => {
      const s0 = treeCpuSeconds(server.pid);
      const c0 = process.cpuUsage();
      ours.push(await replayAlone(join(repo, 'bench', incId), server.port, 'mine_replay', '../dist', REPLAY_CONNECTIONS));
      const c = process.cpuUsage(c0);
      oursCpu.push({ server: treeCpuSeconds(server.pid) - s0, client: (c.user + c.system) / 1e6 });
    };
    const runPeer = async () => {
      const s0 = treeCpuSeconds(server.pid);
      peers.push(await measure('bash', ['-c', `set -o pipefail; mariadb-binlog --rewrite-db='bench->peer' ${plain.join(' ')} | mariadb --no-defaults -S ${sock} -uroot`]));
      peersCpu.push({ server: treeCpuSeconds(server.pid) - s0, client: peers.at(-1).cpuSeconds });
    };
    const runBase = async () => {
      if (!BASE_DIST) return;
      const s0 = treeCpuSeconds(server.pid);
      const c0 = process.cpuUsage();
      bases.push(await replayAlone(join(repo, 'bench', incId), server.port, 'base_replay', BASE_DIST, BASE_CONNECTIONS));
      const c = process.cpuUsage(c0);
      basesCpu.push({ server: treeCpuSeconds(server.pid) - s0, client: (c.user + c.system) / 1e6 });
    };
    // Rotate who goes first, so that none always meets a warmer server.
    const order = [[runOurs, runPeer, runBase], [runPeer, runBase, runOurs], [runBase, runOurs, runPeer]][round % 3];
    for (const run of order) await run();
    log(`  ours ${ours.at(-1).toFixed(2)} s${BASE_DIST ? `, base ${bases.at(-1).toFixed(2)} s (CPU server ${basesCpu.at(-1).server.toFixed(2)} + client ${basesCpu.at(-1).client.toFixed(2)})` : ''} (CPU server ${oursCpu.at(-1).server.toFixed(2)} + client ${oursCpu.at(-1).client.toFixed(2)}), peer ${peers.at(-1).seconds.toFixed(2)} s (CPU server ${peersCpu.at(-1).server.toFixed(2)} + client ${peersCpu.at(-1).client.toFixed(2)}), load ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')}`);
  }
  const replay = median(ours);
  const peer = { ...peers[0], seconds: median(peers.map((p) => p.seconds)), peakRssMB: Math.max(...peers.map((p) => p.peakRssMB)) };
  const same = await compare(sql, ['bench', 'mine_chain', 'mine_replay', 'peer', ...(BASE_DIST ? ['base_replay'] : [])]);

  const fmt = (m) => ({ seconds: m.seconds.toFixed(2), 'peak RSS MB': m.peakRssMB.toFixed(0) });
  printTable([
    { step: 'full backup', ...fmt(full) },
    { step: `incremental (${changed} of ${rows} rows changed)`, ...fmt(inc) },
    { step: 'restore full', ...fmt(restoreFull) },
    { step: 'restore full + incremental', ...fmt(restoreChain) },
    { step: `replay of the incremental (dbbackup${ROUNDS > 1 ? `, median of ${ROUNDS}` : ''})`, seconds: replay.toFixed(2), 'peak RSS MB': '-' },
    { step: `mariadb-binlog | mariadb (same range${ROUNDS > 1 ? `, median of ${ROUNDS}` : ''})`, ...fmt(peer) },
  ]);
  const incRatio = inc.seconds / full.seconds;
  if (ROUNDS > 1) console.log(`replay rounds (s): ours ${ours.map((x) => x.toFixed(2)).join(' ')}; peer ${peers.map((p) => p.seconds.toFixed(2)).join(' ')}; medians ${replay.toFixed(2)} / ${peer.seconds.toFixed(2)}`);
  if (BASE_DIST) console.log(`base build (${BASE_DIST}, connections ${BASE_CONNECTIONS ?? 'default'}) replay rounds (s): ${bases.map((x) => x.toFixed(2)).join(' ')}; median ${median(bases).toFixed(2)}; peer / base ${(peer.seconds / median(bases)).toFixed(2)}×`);
  console.log(`profile: ${TARGET_MB} MB, ${BIG_TXN > 0 ? `one transaction of ${BIG_TXN} inserts + ${BIG_TXN} updates` : `${CHANGE_PCT} % of rows in 3 big transactions`}, ${SMALL_TXNS} small ones${SMALL_SPREAD ? ' over 3 tables' : ' on users'}, replay connections ${REPLAY_CONNECTIONS ?? 'default'}`);
  const cpu = (xs) => `server ${median(xs.map((x) => x.server)).toFixed(2)} + client ${median(xs.map((x) => x.client)).toFixed(2)}`;
  console.log(`replay CPU seconds (medians): ours ${cpu(oursCpu)}; peer ${cpu(peersCpu)}${BASE_DIST ? `; base ${cpu(basesCpu)}` : ''}`);
  const replayRatio = peer.seconds / Math.max(replay, 0.001);
  const peak = Math.max(full.peakRssMB, inc.peakRssMB, restoreFull.peakRssMB, restoreChain.peakRssMB);
  console.log(`\nincremental / full: ${incRatio.toFixed(3)}× (target ≤ 0.2×) ${incRatio <= 0.2 ? 'OK' : 'MISSED'}`);
  console.log(`replay: ${replayRatio.toFixed(2)}× faster than mariadb-binlog | mariadb (target ≥ 3×) ${replayRatio >= 3 ? 'OK' : 'MISSED'}`);
  console.log(`dbbackup peak RSS: ${peak.toFixed(0)} MB (target ≤ 200 MB) ${peak <= 200 ? 'OK' : 'MISSED'}`);
  console.log(`restored data equal (CHECKSUM TABLE, bench = mine_chain = mine_replay = peer): ${same ? 'yes' : 'NO'}`);
  if (!same) process.exitCode = 1; // a replay that lost or changed data is no figure
} finally {
  await server?.stop();
  if (!KEEP) await rm(dir, { recursive: true, force: true });
}

/**
 * The connector's replay of a stored incremental onto `db` (its full already restored there), timed
 * alone: the built adapter with the backup's parts unpacked by zstd as they are read.
 */
async function replayAlone(backupDir, port, db, dist = '../dist', replayConnections = undefined) {
  const from = (m) => (dist.startsWith('.') ? new URL(`${dist}/${m}`, import.meta.url).href : `file://${dist}/${m}`);
  const { applyBinlogChanges } = await import(from('adapters/connectors/mysql/mysql-binlog-apply.js'));
  const { resolveEndpoint } = await import(from('adapters/connectors/mysql/mysql-connection.js'));
  const manifest = JSON.parse(await readFile(join(backupDir, 'manifest.json'), 'utf8'));
  const parts = {
    manifest,
    open: async (part) => {
      const file = join(backupDir, part.name);
      if (!part.name.endsWith('.zst')) return createReadStream(file);
      return spawn('zstd', ['-qdc', file], { stdio: ['ignore', 'pipe', 'inherit'] }).stdout;
    },
  };
  const endpoint = resolveEndpoint({ engine: 'mysql', host: '127.0.0.1', port, user: 'root', password: '', database: db, options: replayConnections ? { replayConnections } : {} });
  const started = process.hrtime.bigint();
  await applyBinlogChanges(endpoint, parts, undefined, new AbortController().signal, new Map([['bench', db]]));
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function log(msg) {
  process.stderr.write(`[mysql-incremental] ${msg}\n`);
}
