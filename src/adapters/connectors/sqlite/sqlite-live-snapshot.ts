import { open, rm, stat, type FileHandle } from 'node:fs/promises';
import { makeScratchDir } from '../../../infrastructure/scratch.js';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { DbBackupError } from '../../../domain/errors.js';
import { Database, openSource } from './sqlite-file.js';
import { CHANGE_META_BYTES, type ChangedPages, type ChangeScan, PageReaderProcess } from './sqlite-page-reader.js';
import { hashPage, HASH_BYTES } from './sqlite-page-map.js';
import { MapCursor, type MapFile } from './sqlite-map-file.js';
import { FastPageHasher } from './sqlite-fast-hash.js';
import { takeSnapshot } from './sqlite-snapshot.js';

/**
 * A consistent view of a live WAL-mode database read straight from its files, with no temporary
 * copy: the pages a read transaction sees, and that transaction's connection (for row counts and
 * schema). Writers carry on meanwhile.
 *
 * - The snapshot is the database file overlaid with the WAL frames up to the
 *   transaction's last frame (mxFrame). To learn that frame, a second connection takes the write
 *   lock for the instant it takes to begin the read and read the wal-index header (136 bytes of
 *   the -shm file; https://www.sqlite.org/walformat.html); no page is read under it. The read
 *   lock then keeps checkpoints from copying later frames into the file and keeps the WAL from
 *   being restarted, so frames 1..mxFrame stay as they were. Frames up to nBackfill are in the file
 *   already; when that is all of them, SQLite reads the file alone (read lock 0), which blocks
 *   every checkpoint, and no frame is read.
 *
 * The files are read by a helper process (sqlite-page-reader.ts): closing a descriptor of a file
 * drops every POSIX lock its process holds on it, SQLite's included.
 */
export interface LiveSnapshot {
  /** The connection holding the read transaction; its queries see the snapshot. */
  db: BetterSqlite3.Database;
  pageSize: number;
  pageCount: number;
  serverVersion: string;
  consistentAt: Date;
  /** How the pages are read: from the live files, from a copy, or from memory (see withPageSnapshot). */
  source: 'live' | 'copy' | 'memory';
  /** The source's journal mode, when `db` is not a connection to the source's pages as they are (an in-memory copy). */
  journalMode?: string;
  /** The snapshot's pages 1..pageCount in order, in chunks of whole pages. */
  pages(signal: AbortSignal): AsyncGenerator<Buffer>;
  /**
   * The snapshot's pages whose hash differs from `parent` (or that it lacks), in page order: by
   * their fast hash when `parent` is a fast map (has a key), else by sha256. `parent` is read a
   * window at a time, and only at pages not yet compared (an entry may be rewritten once its page
   * was yielded). With `since` (the
   * WAL mark of the snapshot `parent` maps) still valid, only the pages of the WAL frames written
   * after it are read and hashed; otherwise every page is. With a fast map, the changed pages'
   * sha256 (ChangedPages.meta) may be zeros unless `withSha`.
   */
  changedPages(parent: MapFile, since: WalMark | undefined, signal: AbortSignal, withSha?: boolean): AsyncGenerator<ChangedPages, ChangeScan>;
  /** Where in the WAL this snapshot is (live reads only): the mark a later snapshot reads the changes since. */
  walMark?: WalMark;
}

/**
 * A snapshot's place in its database's WAL: the file (device:inode), the WAL generation (its salt:
 * a restart of the WAL adds one to its first half and draws the second at random; a new WAL draws
 * both) and the last frame it saw. While the WAL has that salt, every page changed after the
 * snapshot is in frames past `frame` (committed frames are only ever appended within a generation).
 */
export interface WalMark {
  file: string;
  salt: string;
  frame: number;
}

/** A mark read back from a manifest (untrusted): its fields checked, else undefined. */
export function walMarkOf(value: unknown): WalMark | undefined {
  const m = value as Partial<WalMark> | null | undefined;
  if (!m || typeof m !== 'object') return undefined;
  if (typeof m.file !== 'string' || !/^\d{1,20}:\d{1,20}$/.test(m.file)) return undefined;
  // A zero salt is a wal-index with no WAL generation begun (a new or deleted WAL): every such state
  // has it, so it names none; the first frame written gets a random salt.
  if (typeof m.salt !== 'string' || !/^[0-9a-f]{16}$/.test(m.salt) || /^0{16}$/.test(m.salt)) return undefined;
  if (typeof m.frame !== 'number' || !Number.isInteger(m.frame) || m.frame < 0 || m.frame > 0xffffffff) return undefined;
  return { file: m.file, salt: m.salt, frame: m.frame };
}

/** The database is in a state the live reader does not handle: withPageSnapshot copies it instead. */
class LiveSnapshotUnavailable extends Error {}

/**
 * Runs `work` on a snapshot of the database at `path`: a small one read into memory
 * (withMemorySnapshot, IN_MEMORY_UP_TO_BYTES), else read live (withLiveSnapshot) in WAL mode,
 * else (a rollback journal; a WAL database this process may not write to, so cannot take the
 * write lock for an instant; a wal-index it cannot read) from a copy made with the online backup
 * API in a temporary folder.
 */
export async function withPageSnapshot<T>(path: string, work: (snap: LiveSnapshot) => Promise<T>, reader?: EarlyPageReader): Promise<T> {
  if (await isSmallDatabase(path)) {
    await reader?.stop();
    return withMemorySnapshot(path, work);
  }
  let started = false;
  try {
    return await withLiveSnapshot(path, (snap) => {
      started = true;
      return work(snap);
    }, reader);
  } catch (err) {
    if (started || !(err instanceof LiveSnapshotUnavailable)) throw err;
  }
  const dir = await makeScratchDir('dbbackup-sqlite-');
  try {
    const file = join(dir, 'snapshot.db');
    const { serverVersion, consistentAt } = await takeSnapshot(path, file);
    const handle = await open(file, 'r');
    const db = new Database(file, { readonly: true });
    try {
      const pageSize = Number(db.pragma('page_size', { simple: true }));
      const pageCount = Number(db.pragma('page_count', { simple: true }));
      const pages = (signal: AbortSignal) => filePages(handle, pageSize, pageCount, signal);
      const changedPages = (parent: MapFile, _since: WalMark | undefined, signal: AbortSignal) => scanChanges(pages(signal), pageSize, parent);
      return await work({ db, pageSize, pageCount, serverVersion, consistentAt, pages, changedPages, source: 'copy' });
    } finally {
      db.close();
      await handle.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Databases up to this size (the file and its -wal together) are read into memory through SQLite
 * (withMemorySnapshot) instead of by a page reader process or through a copy on disk: booting the
 * reader costs more CPU (~0.07 s) than reading and hashing 16 MiB here, and the copy's fsyncs cost
 * more wall time. Memory holds the image twice (the pages, and SQLite's copy that is queried), so
 * the bound is the memory's. DBBACKUP_SQLITE_IN_MEMORY_MAX (bytes) changes it: tests set 0 to
 * exercise the live reader on small files.
 */
export const IN_MEMORY_UP_TO_BYTES = 16 << 20;

/** Whether `path` is read in memory (see IN_MEMORY_UP_TO_BYTES); stat alone: no descriptor of ours is opened on it. */
export async function isSmallDatabase(path: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const given = Number(env.DBBACKUP_SQLITE_IN_MEMORY_MAX);
  const limit = env.DBBACKUP_SQLITE_IN_MEMORY_MAX !== undefined && Number.isFinite(given) ? given : IN_MEMORY_UP_TO_BYTES;
  const size = async (file: string) => (await stat(file).catch(() => undefined))?.size ?? 0;
  const [db, wal] = await Promise.all([size(path), size(`${path}-wal`)]);
  return db + wal <= limit;
}

/**
 * A small database's snapshot: its pages serialized by SQLite in one short read transaction
 * (sqlite3_serialize reads through the connection's pager, so it gives that transaction's pages;
 * no descriptor of ours is opened on the files, so no lock of this process is dropped), then the
 * source is let go: writers and checkpoints carry on while the backup compresses and writes. The
 * queries run on an in-memory database made from the image. Any journal mode. No WAL mark: the
 * next incremental compares every page, which at this size costs milliseconds.
 */
async function withMemorySnapshot<T>(path: string, work: (snap: LiveSnapshot) => Promise<T>): Promise<T> {
  const source = await openSource(path);
  let image: Buffer;
  let facts: { serverVersion: string; journalMode: string; pageSize: number; pageCount: number };
  try {
    beginRead(source);
    facts = {
      serverVersion: (source.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v,
      journalMode: String(source.pragma('journal_mode', { simple: true })),
      pageSize: Number(source.pragma('page_size', { simple: true })),
      pageCount: Number(source.pragma('page_count', { simple: true })),
    };
    image = source.serialize();
    source.prepare('COMMIT').run();
  } finally {
    source.close();
  }
  const consistentAt = new Date();
  const { pageSize, pageCount } = facts;
  if (image.length !== pageSize * pageCount) {
    throw new DbBackupError('E_BACKUP_FAILED', `The snapshot of ${path} has ${image.length} bytes, not ${pageCount} pages of ${pageSize}; retry the backup.`);
  }
  // An in-memory database cannot open an image whose header says WAL mode: the one it copies says
  // rollback journal for the moment it takes (the pages keep the source's bytes).
  const versions = Buffer.from(image.subarray(18, 20));
  image.fill(1, 18, 20);
  const db = new Database(image, { readonly: true });
  versions.copy(image, 18);
  try {
    // Copies of a megabyte at a time: a stage may hand a chunk's memory over to a worker thread.
    const perChunk = Math.max(1, Math.floor((1 << 20) / pageSize)) * pageSize;
    const pages = async function* (signal: AbortSignal): AsyncGenerator<Buffer> {
      for (let at = 0; at < image.length; at += perChunk) {
        signal.throwIfAborted();
        yield Buffer.from(image.subarray(at, Math.min(at + perChunk, image.length)));
      }
    };
    const changedPages = (parent: MapFile, _since: WalMark | undefined, signal: AbortSignal) => scanChanges(pages(signal), pageSize, parent);
    return await work({ db, pageSize, pageCount, serverVersion: facts.serverVersion, journalMode: facts.journalMode, consistentAt, pages, changedPages, source: 'memory' });
  } finally {
    db.close();
  }
}

/**
 * A page reader started ahead of withPageSnapshot (its process boots while the caller does other
 * work, such as reading the parent's maps): `take()` hands it over once, `stop()` ends it if it was
 * not taken (call it in a finally).
 */
export class EarlyPageReader {
  private readonly starting: Promise<PageReaderProcess>;
  private taken = false;

  constructor(path: string) {
    this.starting = PageReaderProcess.start(path);
    // Its failure is reported by take(), or not at all when it is never taken.
    this.starting.catch(() => undefined);
  }

  take(): Promise<PageReaderProcess> {
    this.taken = true;
    return this.starting;
  }

  async stop(): Promise<void> {
    if (this.taken) return;
    this.taken = true;
    (await this.starting.catch(() => undefined))?.stop();
  }
}

async function withLiveSnapshot<T>(path: string, work: (snap: LiveSnapshot) => Promise<T>, early?: EarlyPageReader): Promise<T> {
  const connections: BetterSqlite3.Database[] = [];
  let files: PageReaderProcess | undefined;
  // The reader process boots while the connections open (it takes ~0.1 s of a second core).
  const starting = early ?? new EarlyPageReader(path);
  try {
    const reader = await openSource(path);
    connections.push(reader);
    // A rollback-journal database is copied instead: its readers hold off every writer, and a
    // backup reads, compresses and uploads for far longer than the backup API copies a file.
    const mode = String(reader.pragma('journal_mode', { simple: true }));
    if (mode !== 'wal') throw new LiveSnapshotUnavailable(`journal mode ${mode}`);
    const serverVersion = (reader.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
    // A build whose executable does not run `node -e` (a single-executable bundle) copies instead.
    files = await starting.take().catch((err: unknown) => {
      throw new LiveSnapshotUnavailable((err as Error).message);
    });
    let wal: WalIndexHeader;
    const writer = await openSource(path);
    connections.push(writer);
    try {
      wal = await beginWalRead(writer, reader, files);
    } catch (err) {
      // A read-only file (no write lock), a heap-memory wal-index (no -shm file).
      if (err instanceof DbBackupError) throw err;
      throw new LiveSnapshotUnavailable((err as Error).message);
    }
    const pageSize = Number(reader.pragma('page_size', { simple: true }));
    const pageCount = Number(reader.pragma('page_count', { simple: true }));
    const reading = files;
    const id = await stat(path, { bigint: true });
    const mark: WalMark = { file: `${id.dev}:${id.ino}`, salt: wal.salt.toString('hex'), frame: wal.mxFrame };
    const walMark = walMarkOf(mark);
    const snap: LiveSnapshot = {
      db: reader,
      pageSize,
      pageCount,
      serverVersion,
      consistentAt: new Date(),
      source: 'live',
      ...(walMark ? { walMark } : {}),
      pages: (signal) => reading.pages(pageSize, pageCount, wal.nBackfill < wal.mxFrame ? wal : undefined, signal),
      changedPages: (parent, since, signal, withSha) => {
        // The same file and WAL generation, not behind it: the frames since `since` hold every change.
        const valid = since && walMark && since.file === walMark.file && since.salt === walMark.salt && since.frame <= wal.mxFrame;
        return reading.changes(pageSize, pageCount, wal, valid ? since.frame : -1, parent, signal, withSha);
      },
    };
    const result = await work(snap);
    reader.prepare('COMMIT').run();
    return result;
  } finally {
    files?.stop();
    await starting.stop();
    for (const c of connections) c.close();
  }
}

function beginRead(db: BetterSqlite3.Database): void {
  db.prepare('BEGIN').run();
  db.prepare('SELECT count(*) FROM sqlite_master').get();
}

/**
 * Begins `reader`'s read transaction while `writer` holds the write lock, and reads the
 * wal-index header it saw (the write lock is held for just that).
 */
async function beginWalRead(writer: BetterSqlite3.Database, reader: BetterSqlite3.Database, files: PageReaderProcess): Promise<WalIndexHeader> {
  writer.prepare('BEGIN IMMEDIATE').run();
  try {
    beginRead(reader);
    return parseWalIndexHeader(await files.shmHeader());
  } finally {
    writer.prepare('ROLLBACK').run();
  }
}

interface WalIndexHeader {
  mxFrame: number;
  nBackfill: number;
  salt: Buffer;
}

/** The fields of the -shm file's first 136 bytes this reader needs (https://www.sqlite.org/walformat.html). */
export function parseWalIndexHeader(buf: Buffer): WalIndexHeader {
  // Two copies of the header that a writer keeps equal; isInit (byte 12) once it is valid.
  if (buf.length < 136 || !buf.subarray(0, 48).equals(buf.subarray(48, 96)) || buf[12] !== 1) {
    throw new LiveSnapshotUnavailable('the wal-index header is not readable');
  }
  // Native byte order: the -shm file is only shared between processes of one machine.
  const u32 = (at: number) => (endianLittle ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  return { mxFrame: u32(16), nBackfill: u32(96), salt: Buffer.from(buf.subarray(32, 40)) };
}

const endianLittle = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Pages 1..pageCount of a private file (the fallback copy), a megabyte at a time. */
async function* filePages(handle: FileHandle, pageSize: number, pageCount: number, signal: AbortSignal): AsyncGenerator<Buffer> {
  const perChunk = Math.max(1, Math.floor((1 << 20) / pageSize));
  for (let first = 1; first <= pageCount; first += perChunk) {
    signal.throwIfAborted();
    const chunk = Buffer.allocUnsafe(Math.min(perChunk, pageCount - first + 1) * pageSize);
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, (first - 1) * pageSize);
    if (bytesRead !== chunk.length) throw new DbBackupError('E_BACKUP_FAILED', `The snapshot copy ends before page ${pageCount}; retry the backup.`);
    yield chunk;
  }
}

/** changedPages of a private copy: every page hashed here (as the page reader's `diff` does). */
async function* scanChanges(pages: AsyncIterable<Buffer>, pageSize: number, parent: MapFile): AsyncGenerator<ChangedPages, ChangeScan> {
  const hasher = parent.key && new FastPageHasher(pageSize, parent.key);
  const map = await MapCursor.open(parent);
  try {
    let pgno = 0;
    for await (const chunk of pages) {
      const meta: Buffer[] = [];
      const records: Buffer[] = [];
      const fastHashes = hasher && Buffer.alloc((chunk.length / pageSize) * HASH_BYTES);
      if (hasher) hasher.hashPages(chunk, fastHashes!);
      for (let at = 0; at + pageSize <= chunk.length; at += pageSize) {
        pgno++;
        const page = chunk.subarray(at, at + pageSize);
        const fastHash = fastHashes?.subarray((at / pageSize) * HASH_BYTES, (at / pageSize + 1) * HASH_BYTES);
        if (!map.has(pgno)) await map.load(pgno);
        const old = map.get(pgno);
        if (fastHash && old?.equals(fastHash)) continue;
        const hash = hashPage(page).subarray(0, HASH_BYTES);
        if (!fastHash && old?.equals(hash)) continue;
        const m = Buffer.alloc(CHANGE_META_BYTES);
        m.writeUInt32BE(pgno, 0);
        hash.copy(m, 4);
        fastHash?.copy(m, 20);
        meta.push(m);
        const head = Buffer.alloc(4);
        head.writeUInt32BE(pgno, 0);
        records.push(head, page);
      }
      if (meta.length) yield { meta: Buffer.concat(meta), records };
    }
    return { examined: pgno, walOnly: false };
  } finally {
    await map.close();
  }
}
