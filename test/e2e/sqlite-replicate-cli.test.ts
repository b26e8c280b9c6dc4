import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../helpers/cli.js';
import { Database } from '../helpers/sqlite-fixtures.js';
import { type Replicator, startReplicate, stopReplicate } from '../helpers/replicate-process.js';
import { tempDir } from '../helpers/temp.js';

/**
 * `dbbackup replicate` through the built CLI (`npm run build` first), with real writer processes:
 * restores at instants between segments equal (sqlite3 `.dump`) the source then; `kill -9` never
 * leaves a listed half-written segment nor loses a reported one; a replaced file starts a new
 * generation; a rollback-journal database is refused.
 */
let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
const children: ChildProcess[] = [];
const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });
const dump = (file: string) => execFileSync('sqlite3', [join(dir.path, file), '.dump'], { encoding: 'utf8', maxBuffer: 1 << 28 });
const betterSqlite = createRequire(import.meta.url).resolve('better-sqlite3');

function replicate(db: string, repo: string, ...extra: string[]): Replicator {
  return startReplicate(['--db', 'sqlite', '--database', db, '--out', repo, '--interval', '200ms', ...extra], { cwd: dir.path, env, children });
}

/** A writer process: `bursts` bursts (or bursts forever) of `perBurst` one-row transactions of `bytes` bytes, `pauseMs` before each. */
function writer(db: string, opts: { bursts: number; perBurst: number; bytes: number; pauseMs: number; forever?: boolean }): { child: ChildProcess; done: Promise<number> } {
  const script = join(dir.path, `writer-${Math.random().toString(36).slice(2)}.cjs`);
  writeFileSync(
    script,
    `
const Database = require(${JSON.stringify(betterSqlite)});
const db = new Database(${JSON.stringify(join(dir.path, db))});
db.pragma('busy_timeout = 10000');
const insert = db.prepare('INSERT INTO events (burst, body) VALUES (?, randomblob(?))');
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
for (let b = 1; ${opts.forever ? 'true' : `b <= ${opts.bursts}`}; b++) {
  sleep(${opts.pauseMs});
  for (let i = 0; i < ${opts.perBurst}; i++) insert.run(b, ${opts.bytes});
}
db.close();
`,
  );
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return { child, done: new Promise((resolve) => child.on('close', (code) => resolve(code ?? -1))) };
}

function createSource(file: string, journal: 'WAL' | 'DELETE' = 'WAL'): void {
  const db = new Database(join(dir.path, file));
  db.exec(`PRAGMA journal_mode = ${journal}; CREATE TABLE events (id INTEGER PRIMARY KEY, burst INTEGER, body BLOB);
    INSERT INTO events (burst, body) SELECT 0, randomblob(100) FROM (SELECT 1 UNION ALL SELECT 2);`);
  db.close();
}

const stop = stopReplicate;

async function restoreAt(repo: string, at: string, file: string): Promise<{ point: string; links: string[] }> {
  await rm(join(dir.path, file), { force: true });
  const r = await cli('restore', '--from', repo, '--database', file, '--at', at, '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { point: string; links: string[] };
}

/** Every listed backup (a manifest) has all its parts, whole: no half-written segment is ever listed. */
function checkListedComplete(repo: string): number {
  const root = join(dir.path, repo);
  let listed = 0;
  for (const source of readdirSync(root).filter((n) => statSync(join(root, n)).isDirectory())) {
    for (const id of readdirSync(join(root, source))) {
      const folder = join(root, source, id);
      let manifest: { parts: { name: string; storedSize: number }[] };
      try {
        manifest = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as typeof manifest;
      } catch {
        continue; // no manifest: not listed (an interrupted write, cleaned by prune)
      }
      listed++;
      for (const p of manifest.parts) expect(statSync(join(folder, p.name)).size, `${id}/${p.name}`).toBe(p.storedSize);
    }
  }
  return listed;
}

beforeAll(async () => {
  dir = await tempDir('dbb-replicate-cli-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), DBBACKUP_LOG_FILE: 'off', TMPDIR: tmpdir() };
});

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

afterAll(async () => {
  await dir?.cleanup();
});

describe('dbbackup replicate (built CLI)', () => {
  it('ships the WAL under a writer; restore --at each instant equals the source then', async () => {
    createSource('app.db');
    // Compaction every second (1 s, then 3 s buckets), so restores below read compacted segments too.
    const r = replicate('app.db', 'repo', '--compaction', '1s,3s');
    await r.waitFor((e) => e.event === 'generation');
    const shipped = () => r.events.filter((e) => e.event === 'segment').reduce((n, e) => n + Number(e.commits), 0);
    // An instant is recorded once replicate reported every commit before it shipped, and before the
    // next burst starts: the state then is exactly the source's .dump at that moment.
    const states = [{ at: new Date().toISOString(), dump: dump('app.db') }];
    // 4 bursts of 700 transactions of ~2 KiB: over 4 MiB of WAL, so the log is checkpointed and starts over mid-way.
    for (let burst = 1; burst <= 4; burst++) {
      const w = writer('app.db', { bursts: 1, perBurst: 700, bytes: 2000, pauseMs: 0 });
      expect(await w.done).toBe(0);
      await r.waitFor(() => shipped() >= burst * 700);
      states.push({ at: new Date().toISOString(), dump: dump('app.db') });
    }
    // The WAL header's checkpoint sequence is 0 until the log first starts over: it did, under replicate.
    expect(readFileSync(join(dir.path, 'app.db-wal')).readUInt32BE(12)).toBeGreaterThan(0);
    // Then a trickle of small commits for ~7.5 s: a segment every second, so whole 3 s buckets hold several
    // segments however long the bursts took, and the 3 s level compacts them once they are old enough.
    const trickle = writer('app.db', { bursts: 25, perBurst: 1, bytes: 100, pauseMs: 300 });
    expect(await trickle.done).toBe(0);
    await r.waitFor(() => shipped() >= 4 * 700 + 25);
    states.push({ at: new Date().toISOString(), dump: dump('app.db') });
    await r.waitFor((e) => e.event === 'compacted' && e.level === 2);
    await stop(r);
    for (const [i, s] of states.entries()) {
      const out = await restoreAt('repo', s.at, `at-${i}.db`);
      expect(Date.parse(out.point)).toBeLessThanOrEqual(Date.parse(s.at));
      expect(dump(`at-${i}.db`), `state at ${s.at}`).toBe(s.dump);
    }
    await restoreAt('repo', 'latest', 'latest.db');
    expect(dump('latest.db')).toBe(states.at(-1)!.dump);
    const windows = await cli('list', '--from', 'repo', '--windows', '--json');
    expect(windows.code, windows.stderr).toBe(0);
    expect(windows.stdout).toContain(states[0]!.at.slice(0, 10));
    // Fewer objects than segments shipped: compaction replaced them (the snapshot is listed too).
    const listed = checkListedComplete('repo');
    expect(listed).toBeLessThan(r.events.filter((e) => e.event === 'segment').length + 1);
    // The catalog (plain `list`) forgot the compacted segments as they were deleted.
    const catalog = await cli('list', '--json');
    expect((JSON.parse(catalog.stdout) as { backups: { repository: string }[] }).backups.filter((b) => b.repository.endsWith('/repo'))).toHaveLength(listed);
  }, 120_000);

  it('kill -9 at random moments, then a restart: no listed half-written segment, no reported segment lost', async () => {
    createSource('k.db');
    const w = writer('k.db', { bursts: 0, perBurst: 5, bytes: 300, pauseMs: 5, forever: true });
    const reported: { id: string; through: string }[] = [];
    for (let round = 0; round < 3; round++) {
      const r = replicate('k.db', 'krepo');
      await r.waitFor((e) => e.event === 'segment');
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.floor(Math.random() * 900)));
      r.child.kill('SIGKILL');
      await r.exited;
      const last = r.events.filter((e) => e.event === 'segment').at(-1)!;
      reported.push({ id: String(last.id), through: String(last.through) });
      checkListedComplete('krepo');
    }
    const r = replicate('k.db', 'krepo');
    await r.waitFor((e) => e.event === 'resumed' || e.event === 'generation');
    w.child.kill('SIGTERM');
    await w.done;
    const final = dump('k.db');
    await stop(r);
    expect(checkListedComplete('krepo')).toBeGreaterThan(3);
    let previous = 0;
    for (const [i, rep] of reported.entries()) {
      // The reported segment is still listed and restores with its whole chain.
      const byId = await cli('restore', '--from', 'krepo', '--backup', rep.id, '--database', `kid-${i}.db`);
      expect(byId.code, byId.stderr).toBe(0);
      await restoreAt('krepo', rep.through, `k-${i}.db`);
      const db = new Database(join(dir.path, `k-${i}.db`), { readonly: true });
      const { n, max } = db.prepare('SELECT count(*) AS n, max(id) AS max FROM events').get() as { n: number; max: number };
      db.close();
      expect(n).toBe(max); // a prefix of the writer's transactions: a consistent state
      expect(n).toBeGreaterThanOrEqual(previous);
      previous = n;
    }
    await restoreAt('krepo', 'latest', 'k-latest.db');
    expect(dump('k-latest.db')).toBe(final);
  }, 180_000);

  it('after kill -9, a restart resumes the generation where the WAL still holds its last segment', async () => {
    createSource('res.db');
    const r1 = replicate('res.db', 'resrepo');
    const generation = await r1.waitFor((e) => e.event === 'generation');
    const w1 = writer('res.db', { bursts: 1, perBurst: 50, bytes: 100, pauseMs: 10 });
    expect(await w1.done).toBe(0);
    const last = dump('res.db');
    await r1.waitFor((e) => e.event === 'segment' && r1.events.filter((x) => x.event === 'segment').reduce((n, x) => n + Number(x.commits), 0) >= 50);
    r1.child.kill('SIGKILL');
    await r1.exited;
    const r2 = replicate('res.db', 'resrepo');
    const resumed = await r2.waitFor((e) => e.event === 'resumed' || e.event === 'generation');
    expect(resumed, String(resumed.reason)).toMatchObject({ event: 'resumed', generation: generation.generation });
    const w2 = writer('res.db', { bursts: 1, perBurst: 20, bytes: 100, pauseMs: 10 });
    expect(await w2.done).toBe(0);
    const final = dump('res.db');
    await stop(r2);
    await restoreAt('resrepo', 'latest', 'res-latest.db');
    expect(dump('res-latest.db')).toBe(final);
    expect(final).not.toBe(last);
  }, 120_000);

  it('a source file replaced under replicate starts a new generation', async () => {
    createSource('g.db');
    const r = replicate('g.db', 'grepo');
    const first = await r.waitFor((e) => e.event === 'generation');
    const w1 = writer('g.db', { bursts: 1, perBurst: 20, bytes: 100, pauseMs: 10 });
    expect(await w1.done).toBe(0);
    await r.waitFor((e) => e.event === 'segment');
    // Someone restores another database over it: a new file (new inode), the old WAL gone.
    createSource('other.db');
    const o = new Database(join(dir.path, 'other.db'));
    o.exec("INSERT INTO events (burst, body) VALUES (99, x'00'); PRAGMA wal_checkpoint(TRUNCATE);");
    o.close();
    await rm(join(dir.path, 'g.db-wal'), { force: true });
    await rm(join(dir.path, 'g.db-shm'), { force: true });
    await rename(join(dir.path, 'other.db'), join(dir.path, 'g.db'));
    const second = await r.waitFor((e) => e.event === 'generation' && e.generation !== first.generation);
    expect(String(second.reason)).toContain('replaced');
    const w2 = writer('g.db', { bursts: 1, perBurst: 10, bytes: 100, pauseMs: 10 });
    expect(await w2.done).toBe(0);
    const final = dump('g.db');
    await stop(r);
    await restoreAt('grepo', 'latest', 'g-latest.db');
    expect(dump('g-latest.db')).toBe(final);
    expect(final).toContain("99,X'00'");
  }, 120_000);

  it('`schedule run` replicates the config\'s `replicate:` sources and stops them cleanly on SIGTERM', async () => {
    createSource('d.db');
    writeFileSync(
      join(dir.path, 'daemon.yaml'),
      `sources:\n  d: { engine: sqlite, database: ${join(dir.path, 'd.db')} }\ntargets:\n  disk: { url: ${join(dir.path, 'drepo')} }\n` +
        `backups:\n  d: { targets: [disk] }\nreplicate:\n  - { source: d, interval: 200ms }\n`,
    );
    const daemon = spawn(process.execPath, [BIN, 'schedule', 'run', '--config', 'daemon.yaml'], { cwd: dir.path, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(daemon);
    let out = '';
    daemon.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number>((resolve) => daemon.on('close', (code) => resolve(code ?? -1)));
    const seen = (what: string) =>
      new Promise<void>((resolve, reject) => {
        const check = () => (out.includes(what) ? resolve() : daemon.exitCode !== null ? reject(new Error(out)) : setTimeout(check, 50));
        check();
      });
    await seen('replica generation');
    const w = writer('d.db', { bursts: 2, perBurst: 30, bytes: 100, pauseMs: 10 });
    expect(await w.done).toBe(0);
    const final = dump('d.db');
    daemon.kill('SIGTERM');
    expect(await exited, out).toBe(0);
    expect(out).toContain('replica stopped');
    await restoreAt('drepo', 'latest', 'd-latest.db');
    expect(dump('d-latest.db')).toBe(final);
  }, 120_000);

  it('a second replicate of one source into one repository exits 1 (E_LOCKED, naming the holder); after kill -9 of the holder the next one runs', async () => {
    createSource('lock.db');
    const r1 = replicate('lock.db', 'lockrepo');
    await r1.waitFor((e) => e.event === 'generation');
    // The same repository named another way (./lockrepo) is the same lock.
    const second = await cli('replicate', '--database', 'lock.db', '--out', './lockrepo');
    expect(second.code, second.stderr).toBe(1);
    expect(second.stderr).toContain('E_LOCKED');
    expect(second.stderr).toContain(`process ${String(r1.child.pid)}`);
    r1.child.kill('SIGKILL');
    await r1.exited;
    const r2 = replicate('lock.db', 'lockrepo');
    expect(await r2.waitFor((e) => e.event === 'resumed' || e.event === 'generation')).toBeTruthy();
    await stop(r2);
  }, 120_000);

  it('refuses a rollback-journal database, saying how to switch it to WAL (exit 2, E_JOURNAL_MODE)', async () => {
    createSource('j.db', 'DELETE');
    const before = readFileSync(join(dir.path, 'j.db'));
    const r = await cli('replicate', '--database', 'j.db', '--out', 'jrepo');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('E_JOURNAL_MODE');
    expect(r.stderr).toContain('PRAGMA journal_mode=WAL');
    expect(readFileSync(join(dir.path, 'j.db')).equals(before)).toBe(true);
  }, 60_000);
});
