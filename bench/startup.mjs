#!/usr/bin/env node
// Start-up of the CLI: `dbbackup --version` and a backup of a tiny SQLite database (where start-up is
// nearly all of the time), medians of --runs, and which files each loads from node_modules.
// Usage: node bench/startup.mjs [--bin PATH] [--runs N]   (needs GNU time, /usr/bin/time)
//   --bin  the command to time: an installed `dbbackup` (npm install -g …), dist/sea/dbbackup, or
//          (default) this clone's bin/dbbackup.js run with this Node.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { bin: { type: 'string' }, runs: { type: 'string', default: '15' } } });
const runs = Number(values.runs);
const command = values.bin ? [resolve(values.bin)] : [process.execPath, join(root, 'bin', 'dbbackup.js')];
const work = join(root, 'bench', '.work', 'startup');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const env = { ...process.env, DBBACKUP_DATA_DIR: join(work, 'data'), XDG_STATE_HOME: join(work, 'state') };

const db = new Database(join(work, 'app.db'));
db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO t (name) VALUES ('a'), ('b'), ('c');");
db.close();

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Wall time and CPU time (user + sys, from GNU time: steadier than wall time on a busy machine), medians. */
function time(args) {
  const wall = [];
  const cpu = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', ['-f', 'cpu %U %S', ...command, ...args], { cwd: work, env, encoding: 'utf8' });
    wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    const [, user, sys] = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr) ?? [];
    cpu.push((Number(user) + Number(sys)) * 1000);
  }
  return { wall: median(wall), cpu: median(cpu) };
}

const cases = [
  ['--version', ['--version']],
  ['backup (SQLite, 3 rows)', ['backup', '--db', 'sqlite', '--file', 'app.db', '--out', 'repo', '--compress', 'zstd']],
];
console.log(`command: ${command.join(' ')}  (median of ${runs})`);
for (const [name, args] of cases) {
  const t = time(args);
  console.log(`${name.padEnd(26)} wall ${t.wall.toFixed(0).padStart(5)} ms   cpu ${t.cpu.toFixed(0).padStart(5)} ms`);
}
