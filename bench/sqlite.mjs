#!/usr/bin/env node
// SQLite backup/restore benchmark: dbbackup against `sqlite3 .backup` + gzip/zstd, same file, same run.
// Usage: node bench/sqlite.mjs [sizeMB=1000]   (needs `npm run build`, sqlite3, gzip, zstd)
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSqliteBenchDb } from './sqlite-data.mjs';
import { measure, printTable, sizeMB } from './measure.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'dbbackup.js');
const targetMB = Number(process.argv[2] ?? 1000);
const work = join(root, 'bench', '.work', 'sqlite');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const env = { ...process.env, DBBACKUP_DATA_DIR: join(work, 'data') };

// A realistic, compressible database (bench/sqlite-data.mjs).
const dbPath = join(work, 'bench.db');
console.log(`building a ~${targetMB} MB SQLite database…`);
buildSqliteBenchDb(dbPath, targetMB);
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
