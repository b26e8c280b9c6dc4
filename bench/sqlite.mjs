#!/usr/bin/env node
// SQLite full backup and restore (issue 23): `dbbackup backup` / `dbbackup restore` (zero-config: a file
// in, a local repository out, zstd) against the native way, on data profiles this script generates itself
// (bench/sqlite-data.mjs: text = sysbench oltp's shape, numeric = pgbench -i's, wide = JSON + BLOB rows,
// app, tables10k = 10,000 small tables), each run RUNS times rotating which tool goes first:
//   backup peer   `sqlite3 SRC ".backup DST"` then `zstd -1` of DST (the time of both; stored: DST.zst)
//   restore peers `zstd -d` of that file into place, and the same followed by `PRAGMA integrity_check`
//                 (dbbackup's restore ends with one by default)
// Prints per profile medians, each run, CPU seconds (process tree), peak RSS, s/GB, stored sizes and
// ratios (peer s / dbbackup s, > 1: dbbackup faster; size: ours / the peer's), checks the last restore of
// each tool (integrity_check and a SHA-256 of `sqlite3 .dump` against the source's), and writes the
// figures as JSON under bench/results/ (sqlite-backup-*.json, sqlite-restore-*.json).
//
//   npm run build && node bench/sqlite.mjs [--profiles text,numeric,wide] [--runs 3] [--mb 100]
//   node bench/sqlite.mjs --profiles tables10k --runs 1
//   node bench/sqlite.mjs --scale --mb 5120 [--profiles text] [--base-mb 100]
//       scale check: the first profile at --base-mb and at --mb, then s/GB and peak RSS at both sizes
//       (cost should grow linearly, memory not at all); JSON as sqlite-scale-*.json
//   node bench/sqlite.mjs --compare [BEFORE.json [AFTER.json]]   runs nothing: two stored results
//   env DBBACKUP_BIN (another build), SQLITE_BENCH_DIR (work folder, default /tmp/sqlite-bench-*, removed)
// Disk: about 2× the database plus its compressed copy twice (source, one restored copy, the peer's .zst, the repository).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measure } from './measure.mjs';
import { alternating, compareArgs, folderSize, loadAverage, printComparison, summary, writeResults } from './results.mjs';
import { buildSqliteProfileDb } from './sqlite-data.mjs';

const { values: o } = parseArgs({
  options: {
    profiles: { type: 'string' },
    runs: { type: 'string', default: '3' },
    mb: { type: 'string', default: '100' },
    scale: { type: 'boolean', default: false },
    'base-mb': { type: 'string', default: '100' },
    compare: { type: 'boolean', default: false },
  },
  allowPositionals: true,
  strict: false,
});
const BIN = process.env.DBBACKUP_BIN ?? fileURLToPath(new URL('../bin/dbbackup.js', import.meta.url));
const RUNS = Math.max(1, Number(o.runs));
const TARGET_MB = Number(o.mb);
const PROFILES = (o.profiles ?? (o.scale ? 'text' : 'text,numeric,wide')).split(',');
const PEER_BACKUP = 'sqlite3 .backup + zstd -1';
const PEER_RESTORE = { unzstd: 'zstd -d', unzstdcheck: 'zstd -d + integrity_check' };

if (o.compare) {
  // Named files: those two; else the two newest of each result kind.
  const kinds = o.scale ? ['sqlite-scale'] : ['sqlite-backup', 'sqlite-restore'];
  for (const bench of process.argv.slice(2).some((a) => a.endsWith('.json')) ? kinds.slice(0, 1) : kinds) {
    console.log(`\n== ${bench}`);
    await printComparison(await compareArgs(bench));
  }
  process.exit(0);
}

const dir = process.env.SQLITE_BENCH_DIR ?? (await mkdtemp(join(tmpdir(), 'sqlite-bench-')));
const env = { ...process.env, DBBACKUP_DATA_DIR: join(dir, 'catalog') };
const runs = o.scale
  ? [{ profile: PROFILES[0], mb: Number(o['base-mb']) }, { profile: PROFILES[0], mb: TARGET_MB }]
  : PROFILES.map((profile) => ({ profile, mb: TARGET_MB }));
const backups = [];
const restores = [];
try {
  for (const { profile, mb } of runs) {
    const label = o.scale ? `${profile}@${mb}MB` : profile;
    const src = join(dir, `${profile}-${mb}.db`);
    let t = Date.now();
    buildSqliteProfileDb(src, profile, mb);
    const dbBytes = (await stat(src)).size;
    log(`${label}: built ${(dbBytes / 1e6).toFixed(1)} MB in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    t = Date.now();
    const sourceHash = await dumpHash(src);
    log(`${label}: source hashed in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    const { backup, restore } = await benchProfile(label, src, dbBytes, sourceHash);
    backups.push(backup);
    restores.push(restore);
    await rm(src, { force: true });
  }
  const meta = { bin: BIN, targetMB: o.scale ? `${o['base-mb']},${TARGET_MB}` : TARGET_MB, runs: RUNS };
  print('backup', backups, { ours: 'dbbackup backup (zstd)', peers: { peer: PEER_BACKUP } });
  print('restore', restores, { ours: 'dbbackup restore', peers: PEER_RESTORE });
  if (o.scale) printScale();
  const name = o.scale ? 'sqlite-scale' : 'sqlite';
  if (o.scale) console.log(`\nwritten ${await writeResults(name, { ...meta, results: backups.map((b, i) => ({ ...b, restore: restores[i] })) })}`);
  else {
    console.log(`\nwritten ${await writeResults(`${name}-backup`, { ...meta, results: backups })}`);
    console.log(`written ${await writeResults(`${name}-restore`, { ...meta, results: restores })}`);
  }
} finally {
  if (process.env.SQLITE_BENCH_DIR === undefined) await rm(dir, { recursive: true, force: true });
}

/** Times both tools' backups and restores of `src`, RUNS rounds each, and checks the last restores. */
async function benchProfile(label, src, dbBytes, sourceHash) {
  const repo = join(dir, 'repo');
  const copy = join(dir, 'peer.db');
  const zst = `${copy}.zst`;
  const back = { peer: [], ours: [] };
  const sizes = {};
  await alternating(['peer', 'ours'], RUNS, async (who) => {
    if (who === 'peer') {
      await rm(copy, { force: true });
      await rm(zst, { force: true });
      back.peer.push(await timed('sh', ['-c', `sqlite3 '${src}' ".backup '${copy}'" && zstd -q -1 -f '${copy}' -o '${zst}'`]));
      sizes.peer = (await stat(zst)).size;
      await rm(copy, { force: true }); // disk: only the compressed copy is kept
    } else {
      await rm(repo, { recursive: true, force: true });
      back.ours.push(await timed('node', [BIN, 'backup', '--file', src, '--out', repo, '--quiet']));
      sizes.ours = await folderSize(repo);
    }
    log(`${label} backup ${who}: ${back[who].at(-1).seconds.toFixed(2)} s`);
  });
  const restored = join(dir, 'restored.db');
  const peerRestored = join(dir, 'peer-restored.db');
  const clean = (f) => Promise.all(['', '-wal', '-shm', '-journal'].map((s) => rm(f + s, { force: true })));
  const rest = { unzstd: [], unzstdcheck: [], ours: [] };
  const checks = {};
  // The last restore of each tool is checked, then deleted (one restored copy on disk at a time).
  const check = async (who, file) => {
    const integrity = (await capture('sqlite3', [file, 'PRAGMA integrity_check'])).trim();
    const same = (await dumpHash(file)) === sourceHash;
    checks[who] = `integrity ${integrity}, content ${same ? 'same' : 'DIFFERENT'}`;
    if (integrity !== 'ok' || !same) process.exitCode = 1;
    await clean(file);
  };
  await alternating(['unzstd', 'unzstdcheck', 'ours'], RUNS, async (who, round) => {
    if (who === 'ours') {
      await clean(restored);
      rest.ours.push(await timed('node', [BIN, 'restore', '--from', repo, '--database', restored, '--quiet']));
    } else {
      await clean(peerRestored);
      const checked = who === 'unzstdcheck' ? ` && test "$(sqlite3 '${peerRestored}' 'PRAGMA integrity_check')" = ok` : '';
      rest[who].push(await timed('sh', ['-c', `zstd -q -d -f '${zst}' -o '${peerRestored}'${checked}`]));
    }
    log(`${label} restore ${who}: ${rest[who].at(-1).seconds.toFixed(2)} s`);
    if (round === RUNS - 1 && who === 'ours') await check('ours', restored);
    if (round === RUNS - 1 && who === 'unzstd') await check('peer', peerRestored);
  });
  await rm(repo, { recursive: true, force: true });
  await Promise.all([clean(restored), clean(peerRestored), rm(copy, { force: true }), rm(zst, { force: true })]);
  const loadavg = await loadAverage();
  const ours = summary(back.ours);
  const peer = summary(back.peer);
  const oursR = summary(rest.ours);
  const peersR = Object.fromEntries(Object.keys(PEER_RESTORE).map((p) => [p, summary(rest[p])]));
  return {
    backup: {
      profile: label, dbMB: dbBytes / 1e6, repoMB: sizes.ours / 1e6,
      dbbackup: ours, peers: { peer: { ...peer, sizeMB: sizes.peer / 1e6 } }, ratios: { peer: peer.median / ours.median },
      sizeRatio: sizes.ours / sizes.peer, loadavg,
    },
    restore: {
      profile: label, dbMB: dbBytes / 1e6, dbbackup: oursR, peers: peersR,
      ratios: Object.fromEntries(Object.entries(peersR).map(([p, s]) => [p, s.median / oursR.median])), checks, loadavg,
    },
  };
}

function print(what, rows, names) {
  console.log(`\nSQLite ${what}, medians of ${RUNS} (rotating order), ${BIN}`);
  console.log('ratio = peer s / dbbackup s (> 1: dbbackup faster); CPU = user+sys of the process tree; s/GB of the database file');
  for (const r of rows) {
    console.log(`\n${r.profile}: ${r.dbMB.toFixed(1)} MB   (load average ${r.loadavg})${r.checks ? `\n  checks: dbbackup ${r.checks.ours}; peer ${r.checks.peer}` : ''}`);
    const line = (tool, s, sizeMB, ratio = '') =>
      console.log(
        `  ${tool.padEnd(26)} ${s.median.toFixed(2).padStart(6)} s (${s.runs.join(' ')})  ${(s.median / (r.dbMB / 1000)).toFixed(2).padStart(6)} s/GB  CPU ${s.clientCpu.toFixed(2)} s  RSS ${s.peakRssMB.toFixed(0).padStart(4)} MB${sizeMB === undefined ? '' : `  ${sizeMB.toFixed(1).padStart(7)} MB stored`}${ratio}`,
      );
    for (const [p, s] of Object.entries(r.peers)) line(names.peers[p], s, s.sizeMB, `   ratio ${r.ratios[p].toFixed(2)}×`);
    line(names.ours, r.dbbackup, r.repoMB, r.sizeRatio === undefined ? '' : `   size ${r.sizeRatio.toFixed(2)}× the peer's`);
  }
}

function printScale() {
  console.log('\nscale (dbbackup; cost should grow linearly with the size, peak RSS not at all):');
  const per = (s, r) => s.median / (r.dbMB / 1000);
  for (let i = 0; i < backups.length; i++) {
    const [b, r] = [backups[i], restores[i]];
    console.log(`  ${b.profile.padEnd(18)} ${b.dbMB.toFixed(0).padStart(6)} MB  backup ${per(b.dbbackup, b).toFixed(2)} s/GB, RSS ${b.dbbackup.peakRssMB.toFixed(0)} MB (peer ${per(b.peers.peer, b).toFixed(2)} s/GB)   restore ${per(r.dbbackup, r).toFixed(2)} s/GB, RSS ${r.dbbackup.peakRssMB.toFixed(0)} MB`);
  }
  const [small, large] = backups;
  if (small && large) console.log(`  large/small: backup s/GB ×${(per(large.dbbackup, large) / per(small.dbbackup, small)).toFixed(2)}, RSS ${(large.dbbackup.peakRssMB - small.dbbackup.peakRssMB).toFixed(0)} MB more; restore s/GB ×${(per(restores[1].dbbackup, restores[1]) / per(restores[0].dbbackup, restores[0])).toFixed(2)}, RSS ${(restores[1].dbbackup.peakRssMB - restores[0].dbbackup.peakRssMB).toFixed(0)} MB more`);
}

/** Wall seconds, peak RSS and CPU seconds of one command's process tree. */
async function timed(cmd, args) {
  const r = await measure(cmd, args, { env, cwd: dir });
  return { seconds: r.seconds, peakRssMB: r.peakRssMB, clientCpu: r.cpuSeconds, serverCpu: 0 };
}

/** SHA-256 of `sqlite3 FILE .dump` (schema and rows in order), streamed. */
function dumpHash(file) {
  return new Promise((resolve, reject) => {
    const child = spawn('sqlite3', ['-readonly', file, '.dump'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const hash = createHash('sha256');
    child.stdout.on('data', (d) => hash.update(d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(hash.digest('hex')) : reject(new Error(`sqlite3 .dump ${basename(file)} exited ${code}`))));
  });
}

function capture(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

function log(msg) {
  process.stderr.write(`[sqlite] ${msg}\n`);
}
