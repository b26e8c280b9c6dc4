import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withPageSnapshot } from '../../../src/adapters/connectors/sqlite/sqlite-live-snapshot.js';
import { Database } from '../../helpers/sqlite-fixtures.js';

// The live snapshot reads the database file and its WAL while other processes write and
// checkpoint: what it reads must be exactly what its read transaction sees.
const signal = new AbortController().signal;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbb-sqlite-live-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `f` with databases of every size read as large ones are (not in memory). */
async function asLarge<T>(f: () => Promise<T>): Promise<T> {
  process.env.DBBACKUP_SQLITE_IN_MEMORY_MAX = '0';
  try {
    return await f();
  } finally {
    delete process.env.DBBACKUP_SQLITE_IN_MEMORY_MAX;
  }
}

/** A fingerprint of every row, as `db` sees it. */
function contentOf(db: InstanceType<typeof Database>): string {
  const rows = db.prepare('SELECT id, v, blob FROM t ORDER BY id').all() as { id: number; v: string; blob: Buffer }[];
  const h = createHash('sha256');
  for (const r of rows) h.update(`${r.id}|${r.v}|`).update(r.blob);
  return `${rows.length}:${h.digest('hex')}`;
}

/** Runs SQL in another process (its own locks), as a concurrent application would. */
function otherProcess(path: string, sql: string): void {
  const script = `const D = require(${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))}); const db = new D(process.argv[1]);
    db.pragma('busy_timeout = 0'); for (const s of JSON.parse(process.argv[2])) { try { db.exec(s); } catch (e) { if (!/locked|busy/i.test(e.message)) throw e; } } db.close();`;
  const r = spawnSync(process.execPath, ['-e', script, path, JSON.stringify(sql.split(';;'))], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
}

/** The snapshot's pages written out as a database file, and what its rows are. */
async function snapshotContent(path: string, during: () => void): Promise<{ content: string; source: string; integrity: unknown }> {
  const out = join(dir, `snap-${Math.random().toString(36).slice(2)}.db`);
  const source = await withPageSnapshot(path, async (snap) => {
    during();
    const chunks: Buffer[] = [];
    for await (const c of snap.pages(signal)) chunks.push(c);
    await writeFile(out, Buffer.concat(chunks));
    expect(statSync(out).size).toBe(snap.pageCount * snap.pageSize);
    return snap.source;
  });
  const db = new Database(out, { readonly: true });
  try {
    return { content: contentOf(db), source, integrity: db.pragma('integrity_check', { simple: true }) };
  } finally {
    db.close();
  }
}

function fill(db: InstanceType<typeof Database>, from: number, n: number): void {
  const insert = db.prepare('INSERT INTO t (id, v, blob) VALUES (?, ?, randomblob(300))');
  db.transaction(() => {
    for (let i = from; i < from + n; i++) insert.run(i, `row ${i}`);
  })();
}

describe('a live SQLite snapshot', () => {
  it('WAL mode: the file overlaid with the frames its transaction sees, while another process commits and checkpoints', async () => {
    const path = join(dir, 'wal.db');
    const holder = new Database(path);
    holder.pragma('journal_mode = WAL');
    holder.pragma('wal_autocheckpoint = 0');
    holder.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, blob BLOB)');
    fill(holder, 1, 2000);
    holder.pragma('wal_checkpoint(TRUNCATE)');
    // Frames the file does not have yet: changed pages and pages past its end.
    fill(holder, 2001, 3000);
    holder.exec("UPDATE t SET v = v || ' changed' WHERE id % 7 = 0");
    const expected = contentOf(holder);
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);

    const got = await asLarge(() =>
      snapshotContent(path, () =>
        otherProcess(path, "INSERT INTO t (v, blob) SELECT 'late', randomblob(300) FROM t LIMIT 500;;UPDATE t SET v = 'overwritten' WHERE id < 3000;;PRAGMA wal_checkpoint(PASSIVE);;PRAGMA wal_checkpoint(TRUNCATE)"),
      ),
    );
    expect(got).toEqual({ content: expected, source: 'live', integrity: 'ok' });
    expect(contentOf(holder)).not.toBe(expected);
    holder.close();
  });

  it('WAL mode with every frame already in the file: the file alone, while a writer restarts the WAL', async () => {
    const path = join(dir, 'backfilled.db');
    const holder = new Database(path);
    holder.pragma('journal_mode = WAL');
    holder.pragma('wal_autocheckpoint = 0');
    holder.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, blob BLOB)');
    fill(holder, 1, 3000);
    holder.pragma('wal_checkpoint(PASSIVE)');
    const expected = contentOf(holder);

    const got = await asLarge(() =>
      snapshotContent(path, () =>
        otherProcess(path, "UPDATE t SET v = 'rewritten', blob = randomblob(300) WHERE id % 3 = 0;;PRAGMA wal_checkpoint(PASSIVE);;INSERT INTO t (v, blob) VALUES ('x', randomblob(5000))"),
      ),
    );
    expect(got).toEqual({ content: expected, source: 'live', integrity: 'ok' });
    holder.close();
  });

  it('rollback-journal mode: a copy through the backup API (a live read would hold writers off for the whole backup)', async () => {
    const path = join(dir, 'journal.db');
    const holder = new Database(path);
    holder.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, blob BLOB)');
    fill(holder, 1, 3000);
    const expected = contentOf(holder);

    const got = await asLarge(() => snapshotContent(path, () => otherProcess(path, "UPDATE t SET v = 'after the copy'")));
    expect(got).toEqual({ content: expected, source: 'copy', integrity: 'ok' });
    expect(contentOf(holder)).not.toBe(expected);
    holder.close();
  });

  it.each(['WAL', 'DELETE'])('a small database (%s mode): read into memory in one short transaction; writers carry on meanwhile', async (mode) => {
    const path = join(dir, `small-${mode}.db`);
    const holder = new Database(path);
    holder.pragma(`journal_mode = ${mode}`);
    holder.pragma('wal_autocheckpoint = 0');
    holder.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, blob BLOB)');
    fill(holder, 1, 2000);
    if (mode === 'WAL') holder.pragma('wal_checkpoint(TRUNCATE)');
    fill(holder, 2001, 500);
    const expected = contentOf(holder);

    let journalMode: string | undefined;
    const got = await snapshotContent(path, () => otherProcess(path, "UPDATE t SET v = 'after the read';;PRAGMA wal_checkpoint(TRUNCATE)"));
    await withPageSnapshot(path, async (snap) => {
      journalMode = snap.journalMode;
    });
    expect(got).toEqual({ content: expected, source: 'memory', integrity: 'ok' });
    expect(journalMode).toBe(mode.toLowerCase());
    // The writer was not held off: its update is in the file.
    expect(contentOf(holder)).not.toBe(expected);
    holder.close();
  });

});
