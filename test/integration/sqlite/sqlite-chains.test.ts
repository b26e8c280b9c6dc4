import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { readdir, rename, rm, writeFile, readFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MapCodecRegistry } from '../../../src/adapters/compression/codec-registry.js';
import { NoneCodec } from '../../../src/adapters/compression/none-codec.js';
import { ZstdCodec } from '../../../src/adapters/compression/zstd-codec.js';
import { MapConnectorRegistry } from '../../../src/adapters/connectors/connector-registry.js';
import { SqliteConnector } from '../../../src/adapters/connectors/sqlite/sqlite-connector.js';
import { SqliteContents } from '../../../src/adapters/connectors/sqlite/sqlite-contents.js';
import { LocalRepositoryOpener } from '../../../src/adapters/storage/repository-opener.js';
import type { BackupKind } from '../../../src/domain/backup-kind.js';
import { isDbBackupError } from '../../../src/domain/errors.js';
import type { Manifest } from '../../../src/domain/manifest.js';
import { RestoreBackup, type RestoreBackupInput } from '../../../src/application/use-cases/restore-backup.js';
import { RunBackup } from '../../../src/application/use-cases/run-backup.js';
import { RunScheduledTask } from '../../../src/application/use-cases/run-scheduled-task.js';
import { VerifyBackup } from '../../../src/application/use-cases/verify-backup.js';
import { VerifyRestore } from '../../../src/application/use-cases/verify-restore.js';
import { PartReader } from '../../../src/application/pipeline/part-reader.js';
import type { TableDigest } from '../../../src/application/ports/table-contents.js';
import { NullProgress } from '../../../src/infrastructure/progress.js';
import { MemoryCatalog, silentLogger } from '../../helpers/fakes.js';
import { Database } from '../../helpers/sqlite-fixtures.js';

const signal = new AbortController().signal;
let dir: string;

function services() {
  const deps = {
    connectors: new MapConnectorRegistry([new SqliteConnector()]),
    opener: new LocalRepositoryOpener(),
    codecs: new MapCodecRegistry([new ZstdCodec(), new NoneCodec()]),
    catalog: new MemoryCatalog(),
    clock: { now: () => new Date() },
    logger: silentLogger,
    progress: new NullProgress(),
  };
  const restoreBackup = new RestoreBackup(deps);
  const verifyRestore = new VerifyRestore({ ...deps, restoreBackup, parts: deps });
  return { runBackup: new RunBackup({ ...deps, toolVersion: 'test' }), restoreBackup, verifyBackup: new VerifyBackup(deps), verifyRestore, codecs: deps.codecs };
}
const app = services();

async function backup(db: string, repo: string | string[], kind: BackupKind, autoFull = false): Promise<Manifest> {
  const { manifest } = await app.runBackup.execute(
    { target: { engine: 'sqlite', database: db }, repository: repo, kind, compression: { codec: 'zstd' }, parallel: 1, autoFull },
    signal,
  );
  return manifest;
}

async function restore(repo: string, into: string, extra: Partial<RestoreBackupInput> = {}) {
  return app.restoreBackup.execute({ repository: repo, backup: 'latest', target: { engine: 'sqlite', database: into }, clean: false, ...extra }, signal);
}

/**
 * Each table's pages hashes of the restored file at `path`, as verify --deep computes them: of its
 * pages, and of the page map backup `m` recorded (read from the repository; a link's is a delta
 * from its full's).
 */
async function pagesHashesOf(path: string, m: Manifest, repository: string, all: Manifest[]): Promise<TableDigest[]> {
  const opened = await new LocalRepositoryOpener().open(repository, 'read');
  try {
    const reader = (id: string) => new PartReader(opened.store, all.find((b) => b.id === id)!, app.codecs);
    const recorded = async () => ({ backup: reader(m.id), full: reader(m.baseFull ?? m.id) });
    return await new SqliteContents(path).digest({ recorded }, signal);
  } finally {
    await opened.close();
  }
}

/** This process's live child processes (zombies not yet reaped left out). */
function childPids(): number[] {
  const out: number[] = [];
  for (const task of readdirSync('/proc/self/task')) {
    for (const pid of readFileSync(`/proc/self/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) {
      const state = (() => {
        try {
          return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
        } catch {
          return 'gone';
        }
      })();
      if (state !== 'Z' && state !== 'gone') out.push(Number(pid));
    }
  }
  return out;
}

/** Everything but the writer's `log` table, as exact values: schema rows, then each table's rows by rowid. */
function stateOf(path: string): string {
  const db = new Database(path, { readonly: true });
  db.defaultSafeIntegers(true);
  try {
    const schema = db.prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'log%' ORDER BY name").all() as { type: string; name: string }[];
    const h = createHash('sha256');
    const text = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : Buffer.isBuffer(x) ? x.toString('hex') : x));
    h.update(text(schema));
    for (const t of schema.filter((r) => r.type === 'table' && !r.name.startsWith('sqlite_'))) {
      // WITHOUT ROWID tables have no rowid; they are scanned in primary-key order.
      const withoutRowid = /WITHOUT\s+ROWID/i.test((t as { sql?: string }).sql ?? '');
      const sql = withoutRowid ? `SELECT * FROM "${t.name}"` : `SELECT rowid AS _r, * FROM "${t.name}" ORDER BY rowid`;
      for (const row of db.prepare(sql).iterate()) h.update(text(row));
    }
    return h.digest('hex');
  } finally {
    db.close();
  }
}

/** The writer commits 5 rows per transaction: a consistent copy holds only whole transactions, 1..n without a gap. */
function logTransactions(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare('SELECT txn, count(*) AS n FROM log GROUP BY txn ORDER BY txn').all() as { txn: number; n: number }[];
    rows.forEach((r, i) => {
      expect(r.txn).toBe(i + 1);
      expect(r.n).toBe(5);
    });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    return rows.length;
  } finally {
    db.close();
  }
}

/** A separate process committing small transactions into `log` until killed. */
async function startWriter(db: string): Promise<ChildProcess> {
  const script = `
    const D = require('better-sqlite3'); const db = new D(process.argv[1]); db.pragma('busy_timeout = 10000');
    const ins = db.prepare('INSERT INTO log (txn, payload) VALUES (?, ?)');
    const batch = db.transaction((t) => { for (let i = 0; i < 5; i++) ins.run(t, 'w'.repeat(40)); });
    let txn = 0; process.stdout.write('ready\\n');
    const tick = () => { batch(++txn); setTimeout(tick, 5); }; tick();`;
  const child = spawn(process.execPath, ['-e', script, db], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`writer exited with ${code}`)));
  });
  return child;
}

async function stopWriter(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const closed = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await closed;
}

function createSource(path: string): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER, data BLOB);
    CREATE INDEX items_name ON items(name);
    CREATE TABLE log (id INTEGER PRIMARY KEY, txn INTEGER NOT NULL, payload TEXT);`);
  const ins = db.prepare('INSERT INTO items (name, qty, data) VALUES (?, ?, ?)');
  db.transaction(() => {
    for (let i = 0; i < 20_000; i++) ins.run(`item ${i}`, i, Buffer.alloc(40, i % 251));
  })();
  db.close();
}

/** Round `round`'s changes: ~1 % of rows updated, some inserted and deleted, now and then the schema. */
function mutate(path: string, round: number): void {
  const db = new Database(path);
  db.pragma('busy_timeout = 10000');
  try {
    db.transaction(() => {
      db.prepare('UPDATE items SET qty = qty + ?, name = name || ? WHERE id % 97 = ?').run(round, `.${round}`, round % 97);
      const ins = db.prepare('INSERT INTO items (name, qty, data) VALUES (?, ?, ?)');
      for (let i = 0; i < 150; i++) ins.run(`new ${round}.${i}`, i, Buffer.alloc(60, round));
      db.prepare('DELETE FROM items WHERE id % 211 = ?').run(round % 211);
      if (round % 3 === 0) db.exec(`CREATE TABLE extra_${round} (k TEXT PRIMARY KEY, v) WITHOUT ROWID; INSERT INTO extra_${round} VALUES ('a', ${round});`);
    })();
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbb-sqlite-chains-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('SQLite chains (page-level incrementals and differentials)', () => {
  const taken: { manifest: Manifest; state: string }[] = [];
  const repo = () => join(dir, 'repo');
  const source = () => join(dir, 'source.db');
  let n = 0;
  const target = () => join(dir, `restored-${++n}.db`);

  beforeAll(async () => {
    createSource(source());
    const writer = await startWriter(source());
    try {
      // Every shape: full + incrementals, full + differential + incrementals, a second full with both after it.
      const plan: BackupKind[] = ['full', 'incremental', 'incremental', 'differential', 'incremental', 'incremental', 'differential', 'full', 'incremental', 'differential', 'incremental'];
      for (const [round, kind] of plan.entries()) {
        if (round > 0) mutate(source(), round);
        const state = stateOf(source());
        taken.push({ manifest: await backup(source(), repo(), kind), state });
      }
    } finally {
      await stopWriter(writer);
    }
  }, 120_000);

  it('records parent, base full, position and restorable for every kind', () => {
    const [full, inc1, inc2, diff1, inc3] = taken.map((t) => t.manifest);
    expect(full!.parent).toBeNull();
    expect(full!.position?.to).toMatchObject({ pageSize: 4096, pageMap: expect.stringMatching(/^changes\/pagemap\.bin/) });
    expect(inc1).toMatchObject({ kind: 'incremental', parent: full!.id, baseFull: full!.id });
    expect(inc2).toMatchObject({ parent: inc1!.id, baseFull: full!.id });
    expect(inc2!.position!.from).toEqual(inc1!.position!.to);
    expect(diff1).toMatchObject({ kind: 'differential', parent: full!.id, baseFull: full!.id });
    expect(inc3).toMatchObject({ parent: diff1!.id, baseFull: full!.id });
    for (const { manifest: m } of taken) expect(m.restorable).toEqual({ from: m.consistentAt, to: m.consistentAt });
    // An incremental stores the changed pages, not the database.
    expect(inc1!.engineInfo.changes).toBeGreaterThan(0);
    expect(inc1!.engineInfo.changes).toBeLessThan(inc1!.engineInfo.pageCount as number);
    // Its pages and its fast map: no sha256 page map (format 4, the full has a fast map).
    expect(inc1!.parts.map((p) => p.role)).toEqual(['changes', 'changes']);
    expect(inc1!.formatVersion).toBe(4);
    // Compared by the full's fast map; the link carries its own for the next one.
    expect(inc1!.engineInfo.pagesComparedBy).toBe('fast hash');
    for (const { manifest: m } of taken.filter((t) => t.manifest.kind !== 'full')) {
      const to = m.position?.to as { pageMap?: string; fastMap?: string; mapBase?: string };
      expect(to.fastMap).toMatch(/^changes\/fastmap\.bin/);
      expect(to).not.toHaveProperty('pageMap');
      expect(to).not.toHaveProperty('mapBase');
    }
  });

  it('restores every backup of every shape to exactly the state it was taken at (a writer ran during each)', async () => {
    let lastTxns = 0;
    for (const { manifest, state } of taken) {
      const into = target();
      const result = await restore(repo(), into, { backup: manifest.id });
      expect(result.chain.links.at(-1)!.id).toBe(manifest.id);
      expect(result.chain.point).toBe(manifest.consistentAt);
      expect(stateOf(into)).toBe(state);
      // Each table's pages by the page map the backup recorded (a link's: its new map, a delta from the full's) are the restored file's.
      const digests = await pagesHashesOf(into, manifest, repo(), taken.map((t) => t.manifest));
      expect(digests.length).toBeGreaterThan(1);
      for (const d of digests) expect(d, manifest.kind).toMatchObject({ pagesHash: expect.stringMatching(/^[0-9a-f]{16}$/), recordedPagesHash: d.pagesHash });
      expect(new Set(digests.map((d) => d.pagesHash)).size).toBe(digests.length);
      const txns = logTransactions(into);
      expect(txns).toBeGreaterThanOrEqual(lastTxns);
      lastTxns = txns;
    }
    expect(lastTxns).toBeGreaterThan(0);
  }, 120_000);

  it('takes the cheapest chain: full, at most one differential, then incrementals', async () => {
    const ids = taken.map((t) => t.manifest.id);
    const plan = await restore(repo(), target(), { backup: ids[5]!, dryRun: true });
    expect(plan.chain.links.map((l) => l.id)).toEqual([ids[0], ids[3], ids[4], ids[5]]);
    expect(plan.chain.links.map((l) => l.kind)).toEqual(['full', 'differential', 'incremental', 'incremental']);
    expect(plan.chain.links.slice(1).every((l) => typeof l.changes === 'number' && l.changes > 0)).toBe(true);
    const latest = await restore(repo(), target(), { at: 'latest', dryRun: true });
    expect(latest.chain.links.map((l) => l.id)).toEqual([ids[7], ids[9], ids[10]]);
  });

  it('--at between two backups restores the newest point at or before it', async () => {
    for (const i of [2, 6, 9]) {
      const [a, b] = [taken[i]!.manifest, taken[i + 1]!.manifest];
      const between = new Date((Date.parse(a.consistentAt) + Date.parse(b.consistentAt)) / 2);
      const into = target();
      const result = await restore(repo(), into, { at: between, now: new Date() });
      expect(result.manifest.id).toBe(a.id);
      expect(result.chain.point).toBe(a.consistentAt);
      expect(stateOf(into)).toBe(taken[i]!.state);
    }
    const before = await restore(repo(), target(), { at: new Date(Date.parse(taken[0]!.manifest.consistentAt) - 60_000) }).catch((e: unknown) => e);
    expect(isDbBackupError(before, 'E_NO_RESTORE_POINT')).toBe(true);
    expect((before as Error).message).toContain(taken[0]!.manifest.consistentAt);
  });

  it('--tables restores chosen tables from a chain', async () => {
    const into = target();
    const last = taken.at(-1)!.manifest;
    const result = await restore(repo(), into, { backup: last.id, tables: ['extra_3'] });
    expect(result.outcome!.objects).toEqual(['extra_3']);
    const db = new Database(into, { readonly: true });
    try {
      expect(db.prepare('SELECT k, v FROM extra_3').all()).toEqual([{ k: 'a', v: 3 }]);
      expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'items'").get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });

  it('verify of a chain member checks every link it needs', async () => {
    const ids = taken.map((t) => t.manifest.id);
    const result = await app.verifyBackup.execute({ repository: repo(), backup: ids[5]! }, signal);
    expect(result.chain).toEqual([ids[0], ids[3], ids[4], ids[5]]);
    // The full's parts, then each link's two (pages, fast map).
    expect(result.checks.length).toBe(taken[0]!.manifest.parts.length + 6);
    // verify --deep of it: restored into a scratch file, each table's pages are the ones its recorded fast map says.
    const deep = await app.verifyRestore.execute({ repository: repo(), manifest: taken[5]!.manifest }, signal);
    expect(deep.tables.length).toBeGreaterThan(1);
    for (const t of deep.tables) expect(t).toMatchObject({ ok: true, expectedPagesHash: expect.stringMatching(/^[0-9a-f]{16}$/), pagesHash: t.expectedPagesHash });
    // A scratch copy whose one table holds a changed value (same row count) is not what the page map recorded: exit 4, that table named.
    const altering = {
      execute: async (input: RestoreBackupInput, s: AbortSignal) => {
        const result = await app.restoreBackup.execute(input, s);
        const db = new Database(input.target.database!);
        db.exec('UPDATE items SET qty = qty + 1 WHERE id = (SELECT max(id) FROM items)');
        db.close();
        return result;
      },
    } as unknown as RestoreBackup;
    const parts = { opener: new LocalRepositoryOpener(), codecs: app.codecs };
    const failed = await new VerifyRestore({ connectors: new MapConnectorRegistry([new SqliteConnector()]), restoreBackup: altering, logger: silentLogger, parts })
      .execute({ repository: repo(), manifest: taken[5]!.manifest }, signal)
      .catch((e: unknown) => e);
    expect(isDbBackupError(failed) && [failed.code, failed.message]).toEqual([
      'E_DIFFERENT',
      expect.stringMatching(new RegExp(`^Backup ${ids[5]} restored into a scratch database does not hold what it recorded: items holds other pages \\(hash [0-9a-f]{16}, the backup recorded [0-9a-f]{16}\\)\\.$`)),
    ]);
  });

  it('a damaged middle link fails with exit 4 naming it, and leaves the target alone', async () => {
    const link = taken[3]!.manifest; // the first differential
    const folder = join(repo(), link.source, link.id, 'changes');
    const pages = join(folder, (await readdir(folder)).find((f) => f.startsWith('pages'))!);
    const original = await readFile(pages);
    const damaged = Buffer.from(original);
    damaged[damaged.length >> 1]! ^= 0xff;
    await writeFile(pages, damaged);
    try {
      const into = target();
      const err = await restore(repo(), into, { backup: taken[5]!.manifest.id }).catch((e: unknown) => e);
      expect(isDbBackupError(err, 'E_CHECKSUM')).toBe(true);
      expect((err as { exitCode: number }).exitCode).toBe(4);
      expect((err as Error).message).toContain(link.id);
      await expect(readFile(into)).rejects.toThrow();
    } finally {
      await writeFile(pages, original);
    }
  });

  it('a missing middle link fails with exit 4 naming it', async () => {
    const link = taken[4]!.manifest;
    const folder = join(repo(), link.source, link.id);
    await rename(folder, `${folder}.away`);
    try {
      const err = await restore(repo(), target(), { backup: taken[5]!.manifest.id }).catch((e: unknown) => e);
      expect(isDbBackupError(err, 'E_CHAIN_BROKEN')).toBe(true);
      expect((err as { exitCode: number }).exitCode).toBe(4);
      expect((err as Error).message).toContain(link.id);
      const verify = await app.verifyBackup.execute({ repository: repo(), backup: taken[5]!.manifest.id }, signal).catch((e: unknown) => e);
      expect(isDbBackupError(verify, 'E_CHAIN_BROKEN')).toBe(true);
      // The differential before it still restores.
      await expect(restore(repo(), target(), { backup: taken[3]!.manifest.id })).resolves.toBeDefined();
    } finally {
      await rename(`${folder}.away`, folder);
    }
  });
});

describe('SQLite chains: links written the old way (a sha256 page map each) and format 4 links (fast map only)', () => {
  const repo = () => join(dir, 'mixed-repo');
  const source = () => join(dir, 'mixed.db');
  const taken: { manifest: Manifest; state: string }[] = [];

  beforeAll(async () => {
    // The live page reader (a separate process) on this small file, as on a large one.
    process.env.DBBACKUP_SQLITE_IN_MEMORY_MAX = '0';
    createSource(source());
    const take = async (kind: BackupKind, round: number, oldWay: boolean) => {
      if (round > 0) mutate(source(), round);
      if (oldWay) process.env.DBBACKUP_SQLITE_LINK_SHA256 = '1';
      try {
        taken.push({ state: stateOf(source()), manifest: await backup(source(), repo(), kind) });
      } finally {
        delete process.env.DBBACKUP_SQLITE_LINK_SHA256;
      }
    };
    await take('full', 0, false);
    await take('incremental', 1, true);
    await take('differential', 2, true);
    await take('incremental', 3, true);
    await take('incremental', 4, false);
    await take('incremental', 5, false);
  }, 60_000);
  afterAll(() => {
    delete process.env.DBBACKUP_SQLITE_IN_MEMORY_MAX;
  });

  it('old-way links carry a page map, new ones only a fast map; both kinds of chain restore, and their pages match the map recorded', async () => {
    const maps = taken.map((t) => Object.keys(t.manifest.position!.to as object).filter((k) => k === 'pageMap' || k === 'fastMap').sort());
    expect(maps).toEqual([['fastMap', 'pageMap'], ['fastMap', 'pageMap'], ['fastMap', 'pageMap'], ['fastMap', 'pageMap'], ['fastMap'], ['fastMap']]);
    for (const { manifest } of taken.slice(1)) expect(manifest.engineInfo.pagesComparedBy).toBe('fast hash');
    // An old-way differential and incremental (sha256 proof), and the last link, whose chain mixes both (fast-map proof).
    for (const { manifest, state } of [taken[2]!, taken[3]!, taken[5]!]) {
      const into = join(dir, `mixed-${manifest.id}.db`);
      await restore(repo(), into, { backup: manifest.id });
      expect(stateOf(into), manifest.id).toBe(state);
      // Old-way links: the sha256 page map; format 4 links: the fast map (the chain of inc 5 mixes both).
      const digests = await pagesHashesOf(into, manifest, repo(), taken.map((t) => t.manifest));
      expect(digests.length).toBeGreaterThan(1);
      for (const d of digests) expect(d).toMatchObject({ pagesHash: expect.stringMatching(/^[0-9a-f]{16}$/), recordedPagesHash: d.pagesHash });
    }
  }, 60_000);

  it('a tampered page in a format 4 link is caught: its part checksum (exit 4), nothing restored', async () => {
    const link = taken.at(-2)!.manifest;
    const folder = join(repo(), link.source, link.id, 'changes');
    const pages = join(folder, (await readdir(folder)).find((f) => f.startsWith('pages'))!);
    const original = await readFile(pages);
    const damaged = Buffer.from(original);
    damaged[damaged.length - 100]! ^= 0x01;
    await writeFile(pages, damaged);
    try {
      const into = join(dir, 'mixed-tampered.db');
      const err = await restore(repo(), into, { backup: taken.at(-1)!.manifest.id }).catch((e: unknown) => e);
      expect(isDbBackupError(err, 'E_CHECKSUM')).toBe(true);
      expect((err as Error).message).toContain(link.id);
      await expect(readFile(into)).rejects.toThrow();
    } finally {
      await writeFile(pages, original);
    }
  });
});

describe('SQLite chains: no usable parent', () => {
  it('an incremental with no backup yet fails with E_NO_PARENT; --auto-full takes a full and says why', async () => {
    const db = join(dir, 'lone.db');
    createSource(db);
    const repo = join(dir, 'lone-repo');
    // The page reader started ahead (warmUp) is ended although no session took it over.
    process.env.DBBACKUP_SQLITE_IN_MEMORY_MAX = '0';
    const before = childPids();
    const err = await backup(db, repo, 'incremental').catch((e: unknown) => e).finally(() => delete process.env.DBBACKUP_SQLITE_IN_MEMORY_MAX);
    expect(isDbBackupError(err, 'E_NO_PARENT')).toBe(true);
    expect((err as { exitCode: number }).exitCode).toBe(1);
    for (let i = 0; i < 200 && childPids().some((p) => !before.includes(p)); i++) await new Promise((r) => setTimeout(r, 25));
    expect(childPids().filter((p) => !before.includes(p))).toEqual([]);
    const m = await backup(db, repo, 'differential', true);
    expect(m.kind).toBe('full');
    expect(m.fallback).toMatchObject({ requested: 'differential', reason: expect.stringContaining('no complete full backup') });
  });

  it('a link written to several targets needs its parent in each of them', async () => {
    const db = join(dir, 'multi.db');
    createSource(db);
    const [a, b] = [join(dir, 'multi-a'), join(dir, 'multi-b')];
    await backup(db, [a, b], 'full');
    mutate(db, 1);
    const both = await backup(db, [a, b], 'incremental');
    expect(both.kind).toBe('incremental');
    await backup(db, a, 'full');
    const err = await backup(db, [a, b], 'incremental').catch((e: unknown) => e);
    expect(isDbBackupError(err, 'E_NO_PARENT')).toBe(true);
    expect((err as Error).message).toContain('multi-b');
    const full = await backup(db, [a, b], 'incremental', true);
    expect(full.kind).toBe('full');
    const state = stateOf(db);
    for (const repo of [a, b]) {
      const into = join(dir, `multi-restored-${repo.slice(-1)}.db`);
      await restore(repo, into);
      expect(stateOf(into)).toBe(state);
    }
  });

  it('a changed page size (VACUUM) forces a full, said clearly; the chain after it restores', async () => {
    const db = join(dir, 'vacuum.db');
    createSource(db);
    const repo = join(dir, 'vacuum-repo');
    await backup(db, repo, 'full');
    mutate(db, 1);
    await backup(db, repo, 'incremental');
    const conn = new Database(db);
    conn.exec('PRAGMA journal_mode = DELETE; PRAGMA page_size = 8192; VACUUM; PRAGMA journal_mode = WAL;');
    conn.close();
    const err = await backup(db, repo, 'incremental').catch((e: unknown) => e);
    expect(isDbBackupError(err, 'E_NO_PARENT')).toBe(true);
    expect((err as Error).message).toMatch(/page size .* changed from 4096 to 8192/);
    const full = await backup(db, repo, 'incremental', true);
    expect(full.kind).toBe('full');
    expect(full.fallback!.reason).toMatch(/changed from 4096 to 8192/);
    mutate(db, 2);
    const state = stateOf(db);
    const inc = await backup(db, repo, 'incremental');
    expect(inc.parent).toBe(full.id);
    const into = join(dir, 'vacuum-restored.db');
    await restore(repo, into);
    expect(stateOf(into)).toBe(state);
  });
});

describe('SQLite chains: a scheduled daily plan', () => {
  it('weekly full, daily differential, hourly incremental: each run takes its kind and every point restores', async () => {
    const db = join(dir, 'plan.db');
    createSource(db);
    const repo = join(dir, 'plan-repo');
    const task = new RunScheduledTask({
      runBackup: app.runBackup,
      verifyBackup: app.verifyBackup,
      source: () => ({
        backup: { target: { engine: 'sqlite', database: db }, repository: repo, source: 'plan', compression: { codec: 'zstd' }, parallel: 1, autoFull: true },
        repositories: [repo],
      }),
    });
    // The schedules as they fire: the hourly incremental first (a new repository: --auto-full takes
    // the full), then hours, a daily differential, more hours, the weekly full, an hour.
    const kinds: BackupKind[] = ['incremental', 'incremental', 'incremental', 'differential', 'incremental', 'full', 'incremental'];
    const runs: { id: string; kind: string; state: string }[] = [];
    for (const [round, kind] of kinds.entries()) {
      mutate(db, round + 1);
      const state = stateOf(db);
      const outcome = await task.execute({ task: 'backup', source: 'plan', kind }, signal);
      expect(outcome.outcome, outcome.error?.message).toBe('success');
      runs.push({ id: outcome.backupId!, kind: outcome.kind!, state });
    }
    expect(runs.map((r) => r.kind)).toEqual(['full', 'incremental', 'incremental', 'differential', 'incremental', 'full', 'incremental']);
    expect((await task.execute({ task: 'verify', source: 'plan' }, signal)).outcome).toBe('success');
    for (const r of runs) {
      const into = join(dir, `plan-${r.id}.db`);
      await restore(repo, into, { backup: r.id });
      expect(stateOf(into)).toBe(r.state);
    }
  }, 60_000);
});
