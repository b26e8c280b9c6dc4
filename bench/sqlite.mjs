#!/usr/bin/env node
// SQLite backup/restore benchmark: dbbackup against `sqlite3 .backup` + gzip/zstd, same file, same run.
// Usage: node bench/sqlite.mjs [sizeMB=1000]   (needs `npm run build`, sqlite3, gzip, zstd)
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure, printTable, sizeMB } from './measure.mjs';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'dbbackup.js');
const targetMB = Number(process.argv[2] ?? 1000);
const work = join(root, 'bench', '.work', 'sqlite');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const env = { ...process.env, DBBACKUP_DATA_DIR: join(work, 'data') };

// A realistic, compressible database: events with text, numbers and timestamps, plus an index.
const dbPath = join(work, 'bench.db');
console.log(`building a ~${targetMB} MB SQLite database…`);
const db = new Database(dbPath);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = OFF');
db.exec(`CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER, kind TEXT, payload TEXT, amount REAL, at TEXT);
         CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT);`);
const rowsPerBatch = 100_000;
const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima'];
db.exec(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
         INSERT INTO users SELECT x, 'user ' || x, 'user' || x || '@example.test' FROM c`);
const insert = db.prepare(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${rowsPerBatch})
  INSERT INTO events (user_id, kind, payload, amount, at)
  SELECT abs(random()) % 100000, ?, ? || ' ' || hex(randomblob(8)) || ' ' || (x * 7919 % 100003), (abs(random()) % 100000) / 100.0,
         strftime('%Y-%m-%dT%H:%M:%fZ', 1700000000 + x, 'unixepoch') FROM c`);
while (sizeMB(dbPath) + sizeMB(`${dbPath}-wal`).valueOf() < targetMB * 0.93) {
  const w = words[Math.floor(Math.random() * words.length)];
  insert.run(w, `${w} ${words.join(' ')} ${w.toUpperCase()}`);
  try { sizeMB(`${dbPath}-wal`); } catch {}
}
db.exec('CREATE INDEX events_user ON events(user_id)');
db.pragma('wal_checkpoint(TRUNCATE)');
db.close();
const dbMB = sizeMB(dbPath);
console.log(`database: ${dbMB.toFixed(0)} MB\n`);

const results = [];
const row = (name, r, outPath) => {
  results.push({
    operation: name,
    seconds: r.seconds.toFixed(2),
    'MB/s': (dbMB / r.seconds).toFixed(0),
    'peak RSS MB': r.peakRssMB.toFixed(0),
    'output MB': outPath ? sizeMB(outPath).toFixed(0) : '-',
  });
  return r;
};

const sh = (script) => measure('bash', ['-c', script], { env });
const node = (...args) => measure(process.execPath, [bin, ...args], { env, cwd: work });

const peerGzip = row('sqlite3 .backup + gzip -6', await sh(`sqlite3 '${dbPath}' ".backup '${work}/peer.db'" && gzip -6 -c '${work}/peer.db' > '${work}/peer.db.gz'`), `${work}/peer.db.gz`);
const peerZstd = row('sqlite3 .backup + zstd -1', await sh(`sqlite3 '${dbPath}' ".backup '${work}/peer2.db'" && zstd -q -1 -c '${work}/peer2.db' > '${work}/peer.db.zst'`), `${work}/peer.db.zst`);
const ours = await node('backup', '--file', dbPath, '--out', join(work, 'repo'), '--quiet');
const repoPart = (await import('node:child_process')).execSync(`find '${work}/repo' -name 'main.0.sqlite.zst'`).toString().trim();
row('dbbackup backup (zstd-1, folder)', ours, repoPart);
const keyFile = join(work, 'bench.key');
(await import('node:fs')).writeFileSync(keyFile, (await import('node:crypto')).randomBytes(32).toString('base64'), { mode: 0o600 });
const oursEnc = row('dbbackup backup (zstd-1 + AES-256-GCM)', await node('backup', '--file', dbPath, '--out', join(work, 'repo-enc'), '--encrypt', '--key-file', keyFile, '--quiet'));
const oursGz = row('dbbackup backup (.tar.gz, gzip-6)', await node('backup', '--file', dbPath, '--out', join(work, 'one.tar.gz'), '--quiet'), join(work, 'one.tar.gz'));
const peerRestore = row('gunzip > file (peer restore)', await sh(`gzip -dc '${work}/peer.db.gz' > '${work}/peer-restored.db'`));
const restore = row('dbbackup restore (zstd-1, folder)', await node('restore', '--from', join(work, 'repo'), '--database', join(work, 'restored.db'), '--quiet'));
const restoreGz = row('dbbackup restore (.tar.gz)', await node('restore', '--file', join(work, 'one.tar.gz'), '--database', join(work, 'restored2.db'), '--quiet'));
const verify = row('dbbackup verify (zstd-1, folder)', await node('verify', '--from', join(work, 'repo'), 'latest', '--quiet'));

printTable(results);
console.log('\nratios (peer time / dbbackup time; >1 means dbbackup is faster):');
console.log(`  backup  vs sqlite3+gzip-6: ${(peerGzip.seconds / ours.seconds).toFixed(2)}x   vs sqlite3+zstd-1: ${(peerZstd.seconds / ours.seconds).toFixed(2)}x   (.tar.gz vs sqlite3+gzip-6: ${(peerGzip.seconds / oursGz.seconds).toFixed(2)}x)`);
console.log(`  restore vs gunzip:          ${(peerRestore.seconds / restore.seconds).toFixed(2)}x   (.tar.gz: ${(peerRestore.seconds / restoreGz.seconds).toFixed(2)}x)`);
console.log(`  encryption overhead: ${(((oursEnc.seconds - ours.seconds) / ours.seconds) * 100).toFixed(1)}% of backup time (goal < 10%)`);
const maxRss = Math.max(oursEnc.peakRssMB, ours.peakRssMB, oursGz.peakRssMB, restore.peakRssMB, restoreGz.peakRssMB, verify.peakRssMB);
console.log(`  dbbackup peak RSS: ${maxRss.toFixed(0)} MB (goal < 200 MB): ${maxRss < 200 ? 'OK' : 'OVER'}`);
rmSync(work, { recursive: true, force: true });
