#!/usr/bin/env node
// SQLite incremental benchmark: full vs incremental backups and chain restores, on the same files, same run.
// Usage: node bench/sqlite-incremental.mjs [sizeMB=1000] [--runs N=3] [--rounds N=7] [--base FILE] [--baseline DIR]
//        [--keep-wal] [--profiles a,b] [--unchecked]   (needs `npm run build`, sqlite3, zstd)
//   --rounds N      incrementals per chain (default 7, as the goal's chain restore; fewer for a quicker look)
//   --base FILE     back up a copy of FILE instead of building a database (the same data for a before/after)
//   --baseline DIR  also run the dbbackup built in DIR (DIR/bin/dbbackup.js, e.g. a checkout of main) on the
//                   same files in the same runs, interleaved, and print its figures beside ours
//   --keep-wal      the changes come from one connection that stays open with wal_autocheckpoint=0 (an application
//                   that runs its own checkpoints), so the WAL since each backup is still there at the next one;
//                   by default each round's writer runs a TRUNCATE checkpoint and closes (the WAL is gone)
//   --profiles      only these change profiles (random, clustered, append)
//   --unchecked     also time both restores with --no-integrity-check (what the rebuild costs without SQLite's
//                   check; every restore runs PRAGMA integrity_check by default, so the goal compares like with like)
//
// One database is built once (as bench/sqlite.mjs builds it). For every run and change profile a fresh copy of
// it is taken and backed up: `sqlite3 .backup` + `zstd -1` (the peer) and a dbbackup full of that same file,
// then ROUNDS rounds of "change 1 % of the rows, then a dbbackup incremental", then a dbbackup full of the final
// file, then a restore of that full and a restore of the chain (the first full + ROUNDS incrementals), which
// reach the same database. The changes are seeded, so every run sees the same files; figures are medians over runs.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSqliteBenchDb } from './sqlite-data.mjs';
import { measure, printTable, sizeMB } from './measure.mjs';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'dbbackup.js');
const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const runs = runsAt >= 0 ? Number(args.splice(runsAt, 2)[1]) : 3;
const option = (name) => { const at = args.indexOf(name); return at >= 0 ? args.splice(at, 2)[1] : undefined; };
const baseFile = option('--base');
const baselineDir = option('--baseline');
const keepWalAt = args.indexOf('--keep-wal');
const keepWal = keepWalAt >= 0 && Boolean(args.splice(keepWalAt, 1));
const onlyProfiles = option('--profiles')?.split(',');
const uncheckedAt = args.indexOf('--unchecked');
const unchecked = uncheckedAt >= 0 && Boolean(args.splice(uncheckedAt, 1));
const roundsText = option('--rounds');
const ROUNDS = roundsText === undefined ? 7 : Number(roundsText);
if (!(ROUNDS >= 1)) throw new Error('--rounds N: N >= 1');
const bins = { ours: bin, ...(baselineDir ? { baseline: join(baselineDir, 'bin', 'dbbackup.js') } : {}) };
// Every option is taken out above, so the size is the first word left wherever it stood.
const targetMB = Number(args[0] ?? 1000);
if (!(runs >= 1) || !(targetMB > 0)) throw new Error('usage: node bench/sqlite-incremental.mjs [sizeMB] [--runs N] [--rounds N]');
// The work folder (databases of up to several GB) under $BENCH_WORK or the temp folder, not inside the checkout.
const work = join(process.env.BENCH_WORK ?? tmpdir(), 'dbbackup-bench', 'sqlite-incremental');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

// The database, built as bench/sqlite.mjs builds it (bench/sqlite-data.mjs).
const basePath = join(work, 'base.db');
if (baseFile) {
  copyFileSync(baseFile, basePath);
} else {
  console.log(`building a ~${targetMB} MB SQLite database…`);
  buildSqliteBenchDb(basePath, targetMB);
}
const dbMB = sizeMB(basePath);
const baseRows = (() => { const db = new Database(basePath, { readonly: true }); const n = db.prepare('SELECT max(id) AS n FROM events').get().n; db.close(); return n; })();
const changed = Math.round(baseRows / 100);
console.log(`database: ${dbMB.toFixed(0)} MB, ${baseRows} events; ${changed} rows (1 %) changed per round, ${ROUNDS} rounds, ${runs} run(s)\n`);

/** Seeded PRNG (mulberry32): every run changes the same rows. */
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Change profiles: each changes 1 % of the rows of `events` in one transaction, the same way in every run.
const updateSql = `UPDATE events SET amount = amount + 1, at = strftime('%Y-%m-%dT%H:%M:%fZ', 1800000000 + id, 'unixepoch') WHERE id = ?`;
const profiles = {
  random: (db, round) => {
    const next = prng(1000 + round);
    const update = db.prepare(updateSql);
    for (let i = 0; i < changed; i++) update.run(1 + Math.floor(next() * baseRows));
  },
  clustered: (db, round) => {
    const first = 1 + Math.floor(prng(2000 + round)() * (baseRows - changed));
    db.prepare(`UPDATE events SET amount = amount + 1, at = strftime('%Y-%m-%dT%H:%M:%fZ', 1800000000 + id, 'unixepoch') WHERE id BETWEEN ? AND ?`)
      .run(first, first + changed - 1);
  },
  append: (db, round) => {
    db.prepare(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)
      INSERT INTO events (user_id, kind, payload, amount, at)
      SELECT (x * 7919 + ?) % 100000, 'appended', 'appended row ' || printf('%016X', (x * 2654435761 + ?) % 4294967296) || ' ' || (x * 7919 % 100003),
             (x * 31 % 100000) / 100.0, strftime('%Y-%m-%dT%H:%M:%fZ', 1900000000 + x, 'unixepoch') FROM c`).run(changed, round, round);
  },
};

/** The application's connection with --keep-wal (open for a whole run), else undefined. */
let app;
function change(path, profile, round) {
  if (app) {
    app.transaction(() => profiles[profile](app, round))();
    return;
  }
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.transaction(() => profiles[profile](db, round))();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

/** The file whose pages are the database's: the file itself after a TRUNCATE checkpoint, else a `.backup` copy. */
function databaseImage(path) {
  if (!app) return path;
  const copy = join(work, 'image.db');
  rmSync(copy, { force: true });
  execFileSync('sqlite3', [path, `.backup '${copy}'`]);
  return copy;
}

/** sha1 of every page of a database file (after a checkpoint, the file is the database). */
function pageHashes(path) {
  const fd = openSync(path, 'r');
  try {
    const header = Buffer.alloc(100);
    readSync(fd, header, 0, 100, 0);
    const pageSize = header.readUInt16BE(16) === 1 ? 65536 : header.readUInt16BE(16);
    const chunk = Buffer.alloc(pageSize * 1024);
    const hashes = [];
    for (let at = 0; ; ) {
      const n = readSync(fd, chunk, 0, chunk.length, at);
      if (n === 0) break;
      for (let p = 0; p < n; p += pageSize) hashes.push(createHash('sha1').update(chunk.subarray(p, Math.min(p + pageSize, n))).digest('base64'));
      at += n;
    }
    return { pageSize, hashes };
  } finally {
    closeSync(fd);
  }
}

/** The pages of `path` whose hash differs from `before` (or that are new), and their size compressed with `zstd -1`. */
function changedPages(path, before, after) {
  const pages = [];
  after.hashes.forEach((h, i) => { if (before.hashes[i] !== h) pages.push(i); });
  const out = join(work, 'changed-pages.bin');
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(pages.length * after.pageSize);
  pages.forEach((p, i) => readSync(fd, buf, i * after.pageSize, after.pageSize, p * after.pageSize));
  closeSync(fd);
  writeFileSync(out, buf);
  execFileSync('zstd', ['-q', '-f', '-1', out, '-o', `${out}.zst`]);
  const zstdBytes = statSync(`${out}.zst`).size;
  rmSync(out);
  rmSync(`${out}.zst`);
  return { pages: pages.length, zstdBytes };
}

function dirBytes(dir) {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) total += e.isDirectory() ? dirBytes(join(dir, e.name)) : statSync(join(dir, e.name)).size;
  return total;
}

/** Runs a dbbackup backup and returns its measure() figures with the new backup's id and stored bytes (all its files). */
async function backup(bin, env, dbPath, repo, type) {
  const sourceDir = join(repo, 'db');
  const before = new Set(safeList(sourceDir));
  const r = await measure(process.execPath, [bin, 'backup', '--type', type, '--file', dbPath, '--out', repo, '--quiet'], { env });
  const fresh = safeList(sourceDir).filter((id) => !before.has(id));
  if (fresh.length !== 1) throw new Error(`expected one new backup in ${sourceDir}, found ${fresh.join(', ') || 'none'}`);
  const id = fresh[0];
  const pagesPart = join(sourceDir, id, 'changes', 'pages.bin.zst');
  return { ...r, id, storedBytes: dirBytes(join(sourceDir, id)), pagesBytes: safeSize(pagesPart) };
}
const safeList = (dir) => { try { return readdirSync(dir); } catch { return []; } };
const safeSize = (path) => { try { return statSync(path).size; } catch { return 0; } };

async function restore(bin, env, repo, id, outPath, ...extra) {
  rmSync(outPath, { force: true });
  return measure(process.execPath, [bin, 'restore', '--from', repo, '--backup', id, '--db', 'sqlite', '--database', outPath, '--quiet', ...extra], { env });
}

// samples[profile][operation] = [{ seconds, storedBytes, peakRssMB, … }, …] (one per run)
const samples = {};
const add = (profile, op, s) => ((samples[profile] ??= {})[op] ??= []).push(s);
const mismatches = [];

for (let run = 1; run <= runs; run++) {
  for (const profile of Object.keys(profiles).filter((p) => !onlyProfiles || onlyProfiles.includes(p))) {
    for (const [who, bin] of Object.entries(bins)) {
      process.stdout.write(`run ${run}/${runs}, ${profile}, ${who}…`);
      const dir = join(work, 'run');
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const env = { ...process.env, DBBACKUP_DATA_DIR: join(dir, 'data') };
      const dbPath = join(dir, 'db.sqlite'); // source name "db"
      const repo = join(dir, 'repo');
      copyFileSync(basePath, dbPath);
      const key = baselineDir ? `${profile} (${who})` : profile;

      const peer = await measure('bash', ['-c', `sqlite3 '${dbPath}' ".backup '${dir}/peer.db'" && zstd -q -1 -c '${dir}/peer.db' > '${dir}/peer.db.zst'`]);
      add(key, 'sqlite3 .backup + zstd -1 (peer full)', { ...peer, storedBytes: statSync(`${dir}/peer.db.zst`).size });
      rmSync(`${dir}/peer.db`);
      rmSync(`${dir}/peer.db.zst`);
      if (keepWal) {
        // A running application: its connection is open and its WAL has begun (a rewrite of one row, same values).
        app = new Database(dbPath);
        app.pragma('wal_autocheckpoint = 0');
        app.prepare('UPDATE users SET name = name WHERE id = 1').run();
      }
      const full = await backup(bin, env, dbPath, repo, 'full');
      add(key, 'dbbackup full', full);

      let hashes = pageHashes(databaseImage(dbPath));
      let last;
      for (let round = 1; round <= ROUNDS; round++) {
        change(dbPath, profile, round);
        const image = databaseImage(dbPath);
        const now = pageHashes(image);
        const delta = changedPages(image, hashes, now);
        hashes = now;
        last = await backup(bin, env, dbPath, repo, 'incremental');
        add(key, `dbbackup incremental ${round}`, { ...last, changedPages: delta.pages, changedZstdBytes: delta.zstdBytes });
      }
      const fullAfter = await backup(bin, env, dbPath, repo, 'full');
      app?.close();
      app = undefined;
      add(key, `dbbackup full after round ${ROUNDS}`, fullAfter);
      const restoredFull = join(dir, 'restored-full.db');
      const restoredChain = join(dir, 'restored-chain.db');
      add(key, `dbbackup restore full after round ${ROUNDS}`, await restore(bin, env, repo, fullAfter.id, restoredFull));
      add(key, `dbbackup restore chain: full + ${ROUNDS} incrementals`, await restore(bin, env, repo, last.id, restoredChain));
      if (unchecked && who === 'ours') {
        // (a baseline build may not know the flag)
        add(key, `dbbackup restore full, --no-integrity-check`, await restore(bin, env, repo, fullAfter.id, join(dir, 'unchecked.db'), '--no-integrity-check'));
        add(key, `dbbackup restore chain, --no-integrity-check`, await restore(bin, env, repo, last.id, join(dir, 'unchecked.db'), '--no-integrity-check'));
      }
      // Both restores must be the source database (same pages; page 1 may differ only in its change counters).
      for (const [what, path] of [['full', restoredFull], ['chain', restoredChain]]) {
        const got = pageHashes(path).hashes;
        const want = hashes.hashes;
        const differing = want.filter((h, i) => i > 0 && got[i] !== h).length + Math.abs(got.length - want.length);
        if (differing) mismatches.push(`run ${run} ${key}: the ${what} restore differs from the source in ${differing} page(s)`);
      }
      rmSync(dir, { recursive: true, force: true });
      console.log(' done');
    }
  }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const med = (list, key) => median(list.map((s) => s[key]));
const MB = (bytes) => (bytes / 1e6).toFixed(2);

const rows = [];
const verdicts = [];
let maxRss = 0;
for (const [profile, ops] of Object.entries(samples)) {
  for (const [op, list] of Object.entries(ops)) {
    const rss = Math.max(...list.map((s) => s.peakRssMB));
    if (op.startsWith('dbbackup')) maxRss = Math.max(maxRss, rss);
    const incr = list[0].changedPages !== undefined;
    rows.push({
      profile,
      operation: op,
      seconds: med(list, 'seconds').toFixed(2),
      'cpu s': med(list, 'cpuSeconds').toFixed(2),
      'stored MB': list[0].storedBytes !== undefined ? MB(med(list, 'storedBytes')) : '-',
      'pages part MB': incr ? MB(med(list, 'pagesBytes')) : '-',
      'changed pages': incr ? String(med(list, 'changedPages')) : '-',
      'changed zstd-1 MB': incr ? MB(med(list, 'changedZstdBytes')) : '-',
      'stored/changed': incr ? (med(list, 'storedBytes') / med(list, 'changedZstdBytes')).toFixed(2) : '-',
      'peak RSS MB': rss.toFixed(0),
    });
  }
  const incrs = Object.entries(ops).filter(([op]) => op.startsWith('dbbackup incremental')).map(([, list]) => list);
  const fullS = med(ops['dbbackup full'], 'seconds');
  const incrS = median(incrs.map((list) => med(list, 'seconds')));
  const storedRatios = incrs.map((list) => med(list, 'storedBytes') / med(list, 'changedZstdBytes'));
  const restoreFull = med(ops[`dbbackup restore full after round ${ROUNDS}`], 'seconds');
  const restoreChain = med(ops[`dbbackup restore chain: full + ${ROUNDS} incrementals`], 'seconds');
  const peer = med(ops['sqlite3 .backup + zstd -1 (peer full)'], 'seconds');
  // CPU seconds (the process tree's user + system time) move far less than wall time on a busy machine.
  const cpu = (list) => med(list, 'cpuSeconds');
  const incrCpu = median(incrs.map(cpu));
  const fullCpu = cpu(ops['dbbackup full']);
  const restoreFullCpu = cpu(ops[`dbbackup restore full after round ${ROUNDS}`]);
  const restoreChainCpu = cpu(ops[`dbbackup restore chain: full + ${ROUNDS} incrementals`]);
  const ok = (good) => (good ? 'OK' : 'MISSED');
  verdicts.push(`  ${profile}:`);
  verdicts.push(`    incremental / full time: ${(incrS / fullS).toFixed(2)}x (median incremental ${incrS.toFixed(2)} s, full ${fullS.toFixed(2)} s; goal <= 0.3x): ${ok(incrS / fullS <= 0.3)}`);
  verdicts.push(`    incremental stored / changed pages zstd-1: median ${median(storedRatios).toFixed(2)}x, worst ${Math.max(...storedRatios).toFixed(2)}x (goal <= 1.5x): ${ok(Math.max(...storedRatios) <= 1.5)}`);
  verdicts.push(`    restore full + ${ROUNDS} incrementals / restore full: ${(restoreChain / restoreFull).toFixed(2)}x (${restoreChain.toFixed(2)} s vs ${restoreFull.toFixed(2)} s; goal <= 1.5x): ${ok(restoreChain / restoreFull <= 1.5)}`);
  verdicts.push(`    by CPU seconds: incremental / full ${(incrCpu / fullCpu).toFixed(2)}x (${incrCpu.toFixed(2)} vs ${fullCpu.toFixed(2)}); restore chain / full ${(restoreChainCpu / restoreFullCpu).toFixed(2)}x (${restoreChainCpu.toFixed(2)} vs ${restoreFullCpu.toFixed(2)})`);
  if (ops['dbbackup restore chain, --no-integrity-check']) {
    const u = (op) => ({ s: med(ops[op], 'seconds'), cpu: cpu(ops[op]) });
    const [f, c] = [u('dbbackup restore full, --no-integrity-check'), u('dbbackup restore chain, --no-integrity-check')];
    verdicts.push(`    without integrity_check: restore chain / full ${(c.s / f.s).toFixed(2)}x (${c.s.toFixed(2)} s vs ${f.s.toFixed(2)} s), by CPU ${(c.cpu / f.cpu).toFixed(2)}x (${c.cpu.toFixed(2)} vs ${f.cpu.toFixed(2)})`);
  }
  verdicts.push(`    dbbackup full vs peer (sqlite3 .backup + zstd -1): ${(peer / fullS).toFixed(2)}x (peer time / dbbackup time; >1 means dbbackup is faster)`);
}

console.log(`\nboth restores end with PRAGMA integrity_check (dbbackup's default)${unchecked ? '; the --no-integrity-check rows skip it' : ''}; load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(`${keepWal ? 'WAL kept between backups (--keep-wal); ' : 'WAL checkpointed (TRUNCATE) after each round; '}${baselineDir ? `ours: ${root}; baseline: ${baselineDir}; ` : ''}medians of ${runs} run(s); peak RSS is the highest of the runs; database ${dbMB.toFixed(0)} MB, ${changed} rows changed per round`);
printTable(rows);
console.log('\ngoals:');
for (const v of verdicts) console.log(v);
console.log(`  dbbackup peak RSS, every child: ${maxRss.toFixed(0)} MB (goal <= 200 MB): ${maxRss <= 200 ? 'OK' : 'OVER'}`);
console.log(mismatches.length ? `\nRESTORE MISMATCH:\n  ${mismatches.join('\n  ')}` : `\nevery restore (full and chain) has the source's pages`);
rmSync(work, { recursive: true, force: true });
