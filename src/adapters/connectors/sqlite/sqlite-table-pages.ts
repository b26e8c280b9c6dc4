import { createHash, type Hash } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import { DbBackupError } from '../../../domain/errors.js';
import { HASH_BYTES, hashPage } from './sqlite-page-map.js';
import { MapCursor, type MapFile } from './sqlite-map-file.js';
import { FastPageHasher } from './sqlite-fast-hash.js';

/**
 * Per-table hashes of a SQLite database's pages, for `verify --deep`: for each table, sha256 over
 * `u32 pgno | first 16 bytes of the page's sha256` (the page map's entry) of every page of its
 * b-tree and its overflow chains, in page order; the first 8 bytes in hex. Which page is whose
 * comes from the `dbstat` virtual table in page order on the restored scratch file (a cursor:
 * nothing is held per page). The same ownership hashes twice: the entries of the page map the
 * backup recorded while it read the pages (tablePagesFromMap), and the scratch file's own pages
 * (push); a table whose two hashes differ holds other pages than the backup read. Backups pay
 * nothing for it: they hash every page for their page map anyway.
 *
 * A format 4 link records no page map, only its fast map: then the entries are its keyed fast
 * hashes, and the file's pages are hashed the same way (`key`).
 *
 * Layout-dependent: two databases holding the same rows in other pages (after a VACUUM) differ, so
 * this is not `compare`'s row digest (contentHash).
 */
const ENTRY_BYTES = 4 + HASH_BYTES;
const RUN_ENTRIES = 4096;

export class TablePagesDigest {
  private readonly hashes = new Map<string, Hash>();
  /** Entries (`u32 pgno | 16-byte hash`) of a run of pages of one table, hashed at once when the run ends. */
  private readonly run = Buffer.alloc(RUN_ENTRIES * ENTRY_BYTES);
  private runLength = 0;
  private runOwner: Hash | undefined;
  private owner: { pgno: number; name: string } | undefined;
  private done = false;
  /** Bytes of a page cut by a chunk's end (push). */
  private pending: Buffer = Buffer.alloc(0);
  private nextPgno = 1;
  private readonly hashPage: (page: Buffer) => Buffer;

  private constructor(
    private readonly owners: IterableIterator<unknown[]>,
    tables: readonly string[],
    private readonly pageSize: number,
    key: Buffer | undefined,
  ) {
    const fast = key && new FastPageHasher(pageSize, key);
    this.hashPage = fast ? (page) => fast.hash(page) : hashPage;
    for (const t of tables) this.hashes.set(t, createHash('sha256'));
    this.advance();
  }

  /**
   * Starts over `db`'s pages for `tables`; undefined when this SQLite build has no dbstat (the
   * backup then records counts only). The connection is busy until finish() or close().
   */
  static open(db: BetterSqlite3.Database, tables: readonly string[], pageSize: number, key?: Buffer): TablePagesDigest | undefined {
    // Only the tables' b-trees are walked (dbstat takes the names as its index): not their indexes.
    const walks: [string, unknown[]][] = [
      ['SELECT pageno, name FROM dbstat WHERE name IN (SELECT value FROM json_each(?)) ORDER BY pageno', [JSON.stringify(tables)]],
      ['SELECT pageno, name FROM dbstat ORDER BY pageno', []],
    ];
    for (const [sql, args] of walks) {
      try {
        return new TablePagesDigest(db.prepare(sql).raw(true).iterate(...args) as IterableIterator<unknown[]>, tables, pageSize, key);
      } catch {
        /* no json_each in this build: every b-tree is walked; no dbstat: none (counts only) */
      }
    }
    return undefined;
  }

  /** Page `pgno` (pages come in increasing order) whose page-map hash is `hash` (≥ 16 bytes). */
  page(pgno: number, hash: Uint8Array): void {
    while (this.owner && this.owner.pgno < pgno) this.advance();
    if (!this.owner || this.owner.pgno !== pgno) return;
    const h = this.hashes.get(this.owner.name);
    this.advance();
    if (!h) return;
    if (h !== this.runOwner || this.runLength === RUN_ENTRIES) this.endRun(h);
    const at = this.runLength++ * ENTRY_BYTES;
    this.run.writeUInt32BE(pgno, at);
    this.run.set(hash.subarray(0, HASH_BYTES), at + 4);
  }

  /** Hashes the run held into its table's hash; the next run is `next`'s. */
  private endRun(next: Hash | undefined): void {
    if (this.runLength) this.runOwner!.update(this.run.subarray(0, this.runLength * ENTRY_BYTES));
    this.runLength = 0;
    this.runOwner = next;
  }

  /** The next bytes of the database file from its start, in any chunking (each page hashed here). */
  push(chunk: Buffer): void {
    const data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let at = 0;
    for (; at + this.pageSize <= data.length; at += this.pageSize) {
      const pgno = this.nextPgno++;
      // Only the tables' pages are hashed (not their indexes', nor free pages).
      while (this.owner && this.owner.pgno < pgno) this.advance();
      if (this.owner?.pgno === pgno) this.page(pgno, this.hashPage(data.subarray(at, at + this.pageSize)));
    }
    this.pending = Buffer.from(data.subarray(at));
  }

  /** Each table's hash (16 hex digits); E_DIFFERENT when the pages did not cover what dbstat walked. */
  finish(): Map<string, string> {
    const left = this.owner;
    this.close();
    this.endRun(undefined);
    if (left || this.pending.length) {
      throw new DbBackupError('E_DIFFERENT', `The pages hashed ended before page ${left?.pgno ?? this.nextPgno} of the database's b-trees; the restored database is not the one the backup read.`);
    }
    return new Map([...this.hashes].map(([name, h]) => [name, h.digest('hex').slice(0, 16)]));
  }

  /** Ends the dbstat cursor (the connection is free again); safe to call twice. */
  close(): void {
    if (this.done) return;
    this.done = true;
    this.owner = undefined;
    this.owners.return?.();
  }

  private advance(): void {
    const next = this.owners.next();
    if (next.done) {
      this.owner = undefined;
      return;
    }
    const [pgno, name] = next.value;
    this.owner = { pgno: Number(pgno), name: String(name) };
  }
}

/**
 * The tables' hashes of the database `db` reads whose page map is the file `map` (a chain link's
 * state: its parent's map with the changed pages' entries written in), the map read forward a
 * window at a time; undefined without dbstat.
 */
export async function tablePagesFromMap(db: BetterSqlite3.Database, tables: readonly string[], map: MapFile, signal: AbortSignal): Promise<Map<string, string> | undefined> {
  const digest = TablePagesDigest.open(db, tables, map.pageSize);
  if (!digest) return undefined;
  const cursor = await MapCursor.open(map).catch((err: unknown) => {
    digest.close();
    throw err;
  });
  try {
    for (let pgno = 1; pgno <= map.pageCount; pgno++) {
      if (!cursor.has(pgno)) {
        signal.throwIfAborted();
        await cursor.load(pgno);
      }
      digest.page(pgno, cursor.get(pgno)!);
    }
    return digest.finish();
  } finally {
    digest.close();
    await cursor.close();
  }
}
