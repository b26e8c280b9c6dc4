#!/usr/bin/env node
// Multi-target fan-out benchmark: one SQLite snapshot into 1 vs 3 local folders (concurrent tee and
// sequential copy) against the way without fan-out, three separate backups (the same run, same file).
// Usage: node bench/fanout.mjs [sizeMB=300]   (needs `npm run build`)
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure, printTable, sizeMB } from './measure.mjs';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'dbbackup.js');
const targetMB = Number(process.argv[2] ?? 300);
const work = join(root, 'bench', '.work', 'fanout');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const env = { ...process.env, DBBACKUP_DATA_DIR: join(work, 'data') };

const dbPath = join(work, 'bench.db');
console.log(`building a ~${targetMB} MB SQLite database…`);
const db = new Database(dbPath);
db.pragma('journal_mode = OFF');
db.pragma('synchronous = OFF');
db.exec('CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER, kind TEXT, payload TEXT, at TEXT)');
const insert = db.prepare(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
  INSERT INTO events (user_id, kind, payload, at)
  SELECT abs(random()) % 100000, 'kind' || (x % 7), 'payload ' || hex(randomblob(12)) || ' ' || (x * 7919 % 100003),
         strftime('%Y-%m-%dT%H:%M:%fZ', 1700000000 + x, 'unixepoch') FROM c`);
while (sizeMB(dbPath) < targetMB) insert.run();
db.close();
const dbMB = sizeMB(dbPath);
console.log(`database: ${dbMB.toFixed(0)} MB\n`);

let n = 0;
const outs = (k) => Array.from({ length: k }, () => join(work, `repo-${n++}`));
const backup = (repos, ...extra) => measure(process.execPath, [bin, 'backup', '--db', 'sqlite', '--file', dbPath, ...repos.flatMap((r) => ['--out', r]), ...extra], { env, cwd: work });

const results = [];
const row = (name, r) => {
  results.push({ operation: name, seconds: r.seconds.toFixed(2), 'MB/s': (dbMB / r.seconds).toFixed(0), 'peak RSS MB': r.peakRssMB.toFixed(0) });
  return r;
};
await backup(outs(1)); // warm the page cache
const one = row('1 folder', await backup(outs(1)));
const naive = { seconds: 0, peakRssMB: 0 };
for (const repo of outs(3)) {
  const r = await backup([repo]);
  naive.seconds += r.seconds;
  naive.peakRssMB = Math.max(naive.peakRssMB, r.peakRssMB);
}
row('3 folders, 3 separate backups (no fan-out)', naive);
const conc = row('3 folders, concurrent fan-out', await backup(outs(3)));
const seq = row('3 folders, sequential (copy from first)', await backup(outs(3), '--fanout', 'sequential'));
const mixed = row('folder + .tar.gz, concurrent (2 codec chains)', await backup([join(work, `repo-${n++}`), join(work, 'one.tar.gz')]));
printTable(results);
console.log(`\nconcurrent fan-out to 3: ${(conc.seconds / one.seconds).toFixed(2)}× the time of 1 target; ` +
  `${(naive.seconds / conc.seconds).toFixed(2)}× faster than 3 separate backups (sequential: ${(naive.seconds / seq.seconds).toFixed(2)}×)`);
console.log(`peak RSS: 1 target ${one.peakRssMB.toFixed(0)} MB, 3 targets ${conc.peakRssMB.toFixed(0)} MB, mixed chains ${mixed.peakRssMB.toFixed(0)} MB`);
rmSync(work, { recursive: true, force: true });
