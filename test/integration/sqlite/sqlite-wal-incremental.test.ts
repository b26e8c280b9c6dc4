import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MapCodecRegistry } from '../../../src/adapters/compression/codec-registry.js';
import { NoneCodec } from '../../../src/adapters/compression/none-codec.js';
import { ZstdCodec } from '../../../src/adapters/compression/zstd-codec.js';
import { MapConnectorRegistry } from '../../../src/adapters/connectors/connector-registry.js';
import { SqliteConnector } from '../../../src/adapters/connectors/sqlite/sqlite-connector.js';
import { LocalRepositoryOpener } from '../../../src/adapters/storage/repository-opener.js';
import { RestoreBackup } from '../../../src/application/use-cases/restore-backup.js';
import { RunBackup } from '../../../src/application/use-cases/run-backup.js';
import type { BackupKind } from '../../../src/domain/backup-kind.js';
import type { Manifest } from '../../../src/domain/manifest.js';
import { NullProgress } from '../../../src/infrastructure/progress.js';
import { MemoryCatalog, silentLogger } from '../../helpers/fakes.js';
import { Database } from '../../helpers/sqlite-fixtures.js';

// Incrementals that read only the WAL frames written since their parent, and fall back to comparing
// every page when the WAL was checkpointed and restarted since: each must restore exactly.

const signal = new AbortController().signal;
const deps = {
  connectors: new MapConnectorRegistry([new SqliteConnector()]),
  opener: new LocalRepositoryOpener(),
  codecs: new MapCodecRegistry([new ZstdCodec(), new NoneCodec()]),
  catalog: new MemoryCatalog(),
  clock: { now: () => new Date() },
  logger: silentLogger,
  progress: new NullProgress(),
};
const runBackup = new RunBackup({ ...deps, toolVersion: 'test' });
const restoreBackup = new RestoreBackup(deps);

let dir: string;
let app: BetterSqlite3.Database;
const source = () => join(dir, 'app.db');
const repo = () => join(dir, 'repo');
const taken: { manifest: Manifest; state: string }[] = [];

async function backup(kind: BackupKind): Promise<Manifest> {
  const { manifest } = await runBackup.execute(
    { target: { engine: 'sqlite', database: source() }, repository: repo(), kind, compression: { codec: 'zstd' }, parallel: 1 },
    signal,
  );
  taken.push({ manifest, state: stateOf(app) });
  return manifest;
}

/** Every row of every table, through the application's connection (it sees the WAL). */
function stateOf(db: BetterSqlite3.Database): string {
  const h = createHash('sha256');
  for (const t of ['a', 'b']) for (const row of db.prepare(`SELECT rowid, * FROM ${t} ORDER BY rowid`).raw().iterate()) h.update(JSON.stringify(row));
  return h.digest('hex');
}

/** Rewrites `n` rows of table `t` from `first` (each row on its own ~1 KiB, so about n/3 pages change). */
function touch(t: 'a' | 'b', first: number, n: number, tag: string): void {
  app.prepare(`UPDATE ${t} SET v = ? || substr(v, 9) WHERE id BETWEEN ? AND ?`).run(tag.padEnd(8, '.').slice(0, 8), first, first + n - 1);
}

const found = (m: Manifest) => m.engineInfo.changedPagesFrom;

beforeAll(async () => {
  // These databases are small: read them as large ones are (live, by the page reader), which is what this file tests.
  process.env.DBBACKUP_SQLITE_IN_MEMORY_MAX = '0';
  dir = await mkdtemp(join(tmpdir(), 'dbbackup-walinc-'));
  app = new Database(source());
  app.pragma('journal_mode = WAL');
  // The application checkpoints only when told: the WAL since each backup stays until then.
  app.pragma('wal_autocheckpoint = 0');
  app.exec(`CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT);
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000)
    INSERT INTO a SELECT x, printf('%08d', x) || hex(randomblob(500)) FROM c;
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300)
    INSERT INTO b SELECT x, printf('%08d', x) || hex(randomblob(500)) FROM c;`);
}, 60_000);

afterAll(async () => {
  delete process.env.DBBACKUP_SQLITE_IN_MEMORY_MAX;
  app?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('SQLite incrementals when every connection closed between backups', () => {
  it('a WAL deleted and begun again (its index zeroed) is not taken for the parent’s: every page is compared', async () => {
    const file = join(dir, 'closed.db');
    const other = join(dir, 'closed-repo');
    const write = (sql: string) => {
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.exec(sql);
      db.close(); // the last connection: checkpoints and deletes the WAL
    };
    write(`CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT);
      WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 600) INSERT INTO a SELECT x, hex(randomblob(500)) FROM c`);
    const run = async (kind: BackupKind) =>
      (await runBackup.execute({ target: { engine: 'sqlite', database: file }, repository: other, kind, compression: { codec: 'zstd' }, parallel: 1 }, signal)).manifest;
    await run('full');
    write(`UPDATE a SET v = 'changed' WHERE id % 7 = 0`);
    const inc = await run('incremental');
    expect(inc.engineInfo.changedPagesFrom).toBe('every page');
    const into = join(dir, 'closed-restored.db');
    await restoreBackup.execute({ repository: other, backup: inc.id, target: { engine: 'sqlite', database: into }, clean: false }, signal);
    const [want, got] = [file, into].map((f) => {
      const db = new Database(f, { readonly: true });
      try {
        return stateOf(db);
      } finally {
        db.close();
      }
    });
    expect(got).toBe(want);
  });
});

describe('SQLite incrementals from the WAL since the parent', () => {
  it('reads only the pages of the frames written since the parent, and restores exactly', async () => {
    const full = await backup('full');
    expect((full.position!.to as { wal?: { frame: number } }).wal?.frame).toBeGreaterThan(0);
    touch('a', 100, 30, 'one');
    const inc = await backup('incremental');
    expect(found(inc)).toBe('wal');
    // Only a few pages were examined, and every one of them changed (all were rewritten with new bytes).
    expect(inc.engineInfo.pagesExamined).toBeLessThan((inc.engineInfo.pageCount as number) / 10);
    expect(inc.engineInfo.changes).toBeGreaterThan(0);
    // Nothing written since: nothing examined, nothing stored.
    const idle = await backup('incremental');
    expect(found(idle)).toBe('wal');
    expect(idle.engineInfo).toMatchObject({ pagesExamined: 0, changes: 0 });
  });

  it('frames copied into the file by a PASSIVE checkpoint (WAL not restarted) still count', async () => {
    touch('b', 10, 40, 'two');
    expect(app.pragma('wal_checkpoint(PASSIVE)', { simple: true })).toBe(0);
    const inc = await backup('incremental');
    expect(found(inc)).toBe('wal');
    expect(inc.engineInfo.changes).toBeGreaterThan(0);
  });

  it('after a checkpoint restarted the WAL, compares every page (a new generation whose frames outnumber the old mark still misses nothing)', async () => {
    const before = taken.at(-1)!.manifest;
    const mark = (before.position!.to as { wal: { frame: number } }).wal.frame;
    app.pragma('wal_checkpoint(TRUNCATE)');
    // The new WAL generation: big changes to `a` first (frames 1..k, k beyond the old mark), then a small one to `b`.
    touch('a', 1, 3000, 'three');
    touch('a', 1, 3000, 'thre2');
    touch('b', 200, 5, 'four');
    const inc = await backup('incremental');
    expect((inc.position!.to as { wal: { frame: number } }).wal.frame).toBeGreaterThan(mark);
    expect(found(inc)).toBe('every page');
    expect(inc.engineInfo.pagesExamined).toBe(inc.engineInfo.pageCount);
    // The WAL path works again from this backup's mark.
    touch('a', 2500, 10, 'five');
    expect(found(await backup('differential'))).toBe('every page'); // the full's mark is of the old generation
    touch('b', 1, 10, 'six');
    expect(found(await backup('incremental'))).toBe('wal');
  });

  it('pages added and removed since the parent (growth through the WAL, then a VACUUM that shrinks the file)', async () => {
    app.exec(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500) INSERT INTO b SELECT 1000 + x, hex(randomblob(600)) FROM c`);
    const grown = await backup('incremental');
    expect(found(grown)).toBe('wal');
    app.exec('DELETE FROM a WHERE id > 1500; VACUUM');
    const shrunk = await backup('incremental');
    expect(shrunk.engineInfo.pageCount as number).toBeLessThan(grown.engineInfo.pageCount as number);
  });

  it('every backup taken restores to exactly the state it was taken at', async () => {
    for (const [i, { manifest, state }] of taken.entries()) {
      const into = join(dir, `restored-${i}.db`);
      await restoreBackup.execute({ repository: repo(), backup: manifest.id, target: { engine: 'sqlite', database: into }, clean: false }, signal);
      const db = new Database(into, { readonly: true });
      try {
        expect(stateOf(db), `backup ${i} (${manifest.kind}, ${String(found(manifest))})`).toBe(state);
      } finally {
        db.close();
      }
    }
  }, 60_000);
});

describe('SQLite incrementals at other page sizes and in rollback-journal mode', () => {
  for (const [pageSize, journal] of [[512, 'WAL'], [65536, 'WAL'], [4096, 'DELETE']] as const) {
    it(`page size ${pageSize}, ${journal}: each incremental restores exactly`, async () => {
      const file = join(dir, `p${pageSize}-${journal}.db`);
      const other = join(dir, `p${pageSize}-${journal}-repo`);
      const db = new Database(file);
      db.pragma(`page_size = ${pageSize}`);
      db.pragma(`journal_mode = ${journal}`);
      db.pragma('wal_autocheckpoint = 0');
      db.exec(`CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT);
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 800) INSERT INTO a SELECT x, hex(randomblob(300)) FROM c;
        INSERT INTO b VALUES (1, 'one')`);
      const points: { id: string; state: string; from: unknown }[] = [];
      const run = async (kind: BackupKind) => {
        const { manifest } = await runBackup.execute({ target: { engine: 'sqlite', database: file }, repository: other, kind, compression: { codec: 'zstd' }, parallel: 1 }, signal);
        points.push({ id: manifest.id, state: stateOf(db), from: manifest.engineInfo.changedPagesFrom });
      };
      try {
        await run('full');
        db.exec(`UPDATE a SET v = 'x' || v WHERE id % 50 = 0; INSERT INTO b VALUES (2, 'two')`);
        await run('incremental');
        if (journal === 'WAL') db.pragma('wal_checkpoint(TRUNCATE)');
        db.exec(`UPDATE a SET v = 'y' || v WHERE id % 70 = 0; DELETE FROM a WHERE id > 700`);
        await run('incremental');
        expect(points.map((p) => p.from)).toEqual(journal === 'WAL' ? [undefined, 'wal', 'every page'] : [undefined, 'every page', 'every page']);
      } finally {
        db.close();
      }
      for (const [i, p] of points.entries()) {
        const into = join(dir, `p${pageSize}-${journal}-restored-${i}.db`);
        await restoreBackup.execute({ repository: other, backup: p.id, target: { engine: 'sqlite', database: into }, clean: false }, signal);
        const r = new Database(into, { readonly: true });
        try {
          expect(stateOf(r), `backup ${i}`).toBe(p.state);
          expect(r.pragma('page_size', { simple: true })).toBe(pageSize);
        } finally {
          r.close();
        }
      }
    });
  }
});
