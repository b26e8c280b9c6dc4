#!/usr/bin/env node
// `dbbackup replicate` under a steady writer: commit-to-listed lag, CPU and peak RSS of the replicate process.
// Usage: node bench/sqlite-replicate.mjs [seconds=30] [txPerSecond=1000]   (needs `npm run build`)
//
// A writer process commits one small row per transaction at a steady rate into a WAL database while
// `dbbackup replicate --json` ships it into a local repository. The lag of a commit is the time from
// its commit (the writer's clock) to the moment replicate reports listed the first segment whose last
// commit was seen at or after it. CPU is the replicate process's user+system time over the run
// (/proc), as a share of one core; peak RSS is its VmHWM just before it is stopped.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'dbbackup.js');
const seconds = Number(process.argv[2] ?? 30);
const rate = Number(process.argv[3] ?? 1000);
const work = join(root, 'bench', '.work', 'sqlite-replicate');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const dbPath = join(work, 'app.db');
const db = new Database(dbPath);
db.exec('PRAGMA journal_mode = WAL; CREATE TABLE events (id INTEGER PRIMARY KEY, at INTEGER, body TEXT)');
db.close();

const ticks = 100; // USER_HZ: clock ticks per second of /proc/PID/stat on Linux
const cpuOf = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / ticks; // utime + stime, seconds
};
const peakRssMB = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

const replicate = spawn(process.execPath, [bin, 'replicate', '--database', dbPath, '--out', join(work, 'repo'), '--json'], {
  env: { ...process.env, DBBACKUP_DATA_DIR: join(work, 'data'), DBBACKUP_LOG_FILE: 'off' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const listed = []; // { through (ms), at (ms: when reported) }
let buffer = '';
let started;
const ready = new Promise((resolve) => (started = resolve));
replicate.stdout.on('data', (d) => {
  buffer += d.toString();
  for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
    const line = buffer.slice(0, i);
    buffer = buffer.slice(i + 1);
    if (!line.startsWith('{"event"')) continue;
    const e = JSON.parse(line);
    if (e.event === 'generation') started();
    if (e.event === 'segment') listed.push({ through: Date.parse(e.through), at: Date.now() });
  }
});
await ready;

const commitsFile = join(work, 'commits.json');
const writerScript = join(work, 'writer.cjs');
writeFileSync(
  writerScript,
  `const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
const db = new Database(${JSON.stringify(dbPath)});
db.pragma('busy_timeout = 10000');
const insert = db.prepare('INSERT INTO events (at, body) VALUES (?, ?)');
const times = [];
const start = Date.now();
const end = start + ${seconds * 1000};
for (let n = 0; ; n++) {
  const due = start + (n * 1000) / ${rate};
  if (due >= end) break;
  const wait = due - Date.now();
  if (wait > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
  insert.run(Date.now(), 'row ' + n);
  times.push(Date.now());
}
db.close();
require('node:fs').writeFileSync(${JSON.stringify(commitsFile)}, JSON.stringify(times));
`,
);
const cpu0 = cpuOf(replicate.pid);
const t0 = Date.now();
const writer = spawn(process.execPath, [writerScript], { stdio: 'inherit' });
await new Promise((resolve) => writer.on('close', resolve));
await new Promise((resolve) => setTimeout(resolve, 3000)); // the last segments
const cpu = (cpuOf(replicate.pid) - cpu0) / ((Date.now() - t0) / 1000);
const rss = peakRssMB(replicate.pid);
replicate.kill('SIGTERM');
await new Promise((resolve) => replicate.on('close', resolve));

const commits = JSON.parse(readFileSync(commitsFile, 'utf8'));
const lags = [];
let j = 0;
for (const c of commits) {
  while (j < listed.length && listed[j].through < c) j++;
  if (j < listed.length) lags.push(listed[j].at - c);
}
lags.sort((a, b) => a - b);
const pct = (p) => lags[Math.min(lags.length - 1, Math.floor((p / 100) * lags.length))];
console.log(`replicate under a writer of ${rate} tx/s for ${seconds} s: ${commits.length} commits, ${listed.length} segments listed`);
console.log(`commit-to-listed lag: p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${lags.at(-1)} ms (${commits.length - lags.length} commits never listed)`);
console.log(`replicate CPU: ${(cpu * 100).toFixed(1)} % of one core; peak RSS ${rss.toFixed(0)} MB`);
