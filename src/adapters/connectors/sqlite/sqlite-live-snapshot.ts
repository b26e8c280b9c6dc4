import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { DbBackupError } from '../../../domain/errors.js';
import { Database, openSource } from './sqlite-file.js';
import { takeSnapshot } from './sqlite-snapshot.js';

/**
 * A consistent view of a live database read straight from its files, with no temporary copy: the
 * pages a read transaction sees, and that transaction's connection (for row counts and schema).
 *
 * - Rollback-journal modes: the read transaction's SHARED lock keeps every writer from changing
 *   the database file until it ends, so the file is the snapshot.
 * - WAL mode: the snapshot is the database file overlaid with the WAL frames up to the
 *   transaction's last frame (mxFrame). To learn that frame, a second connection takes the write
 *   lock for the instant it takes to begin the read and read the wal-index header (136 bytes of
 *   the -shm file; https://www.sqlite.org/walformat.html); no page is read under it. The read
 *   lock then keeps checkpoints from copying later frames into the file and keeps the WAL from
 *   being restarted, so frames 1..mxFrame stay as they were.
 *
 * File handles on the database, -wal and -shm are closed only after SQLite's connections are:
 * closing any descriptor of a file drops every POSIX lock the process holds on it.
 */
export interface LiveSnapshot {
  /** The connection holding the read transaction; its queries see the snapshot. */
  db: BetterSqlite3.Database;
  pageSize: number;
  pageCount: number;
  serverVersion: string;
  consistentAt: Date;
  /** The snapshot's pages in order, `pagesPerChunk` at a time (the last chunk may hold fewer). */
  pages(signal: AbortSignal): AsyncGenerator<Buffer>;
}

/** The database is in a state the live reader does not handle: withPageSnapshot copies it instead. */
class LiveSnapshotUnavailable extends Error {}

/**
 * Runs `work` on a snapshot of the database at `path`: read live (withLiveSnapshot) when its
 * journal and locking modes allow, else from a copy made with the online backup API in a
 * temporary folder (EXCLUSIVE locking mode, a read-only file, a journal mode of MEMORY or OFF).
 */
export async function withPageSnapshot<T>(path: string, work: (snap: LiveSnapshot) => Promise<T>): Promise<T> {
  let started = false;
  try {
    return await withLiveSnapshot(path, (snap) => {
      started = true;
      return work(snap);
    });
  } catch (err) {
    if (started || !(err instanceof LiveSnapshotUnavailable)) throw err;
  }
  const dir = await mkdtemp(join(tmpdir(), 'dbbackup-sqlite-'));
  try {
    const file = join(dir, 'snapshot.db');
    const { serverVersion, consistentAt } = await takeSnapshot(path, file);
    const handle = await open(file, 'r');
    const db = new Database(file, { readonly: true });
    try {
      const pageSize = Number(db.pragma('page_size', { simple: true }));
      const pageCount = Number(db.pragma('page_count', { simple: true }));
      const pages = (signal: AbortSignal) => readPages(handle, undefined, new Map(), pageSize, pageCount, signal);
      return await work({ db, pageSize, pageCount, serverVersion, consistentAt, pages });
    } finally {
      db.close();
      await handle.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const CHUNK_BYTES = 1 << 20;
const WAL_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;

async function withLiveSnapshot<T>(path: string, work: (snap: LiveSnapshot) => Promise<T>): Promise<T> {
  const handles: FileHandle[] = [];
  const connections: BetterSqlite3.Database[] = [];
  try {
    const dbFile = await open(path, 'r');
    handles.push(dbFile);
    const reader = await openSource(path);
    connections.push(reader);
    const mode = String(reader.pragma('journal_mode', { simple: true }));
    const locking = String(reader.pragma('locking_mode', { simple: true }));
    if (locking !== 'normal' || !['wal', 'delete', 'truncate', 'persist'].includes(mode)) {
      throw new LiveSnapshotUnavailable(`journal mode ${mode}, locking mode ${locking}`);
    }
    const serverVersion = (reader.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
    let overlay = new Map<number, number>();
    let walFile: FileHandle | undefined;
    if (mode === 'wal') {
      const writer = await openSource(path);
      connections.push(writer);
      try {
        ({ overlay, walFile } = await beginWalRead(path, writer, reader, handles));
      } catch (err) {
        // No -shm file (heap-memory wal-index), a read-only file (no write lock), a WAL it cannot follow.
        if (err instanceof DbBackupError) throw err;
        throw new LiveSnapshotUnavailable((err as Error).message);
      }
      writer.close();
      connections.splice(connections.indexOf(writer), 1);
    } else {
      beginRead(reader);
    }
    const pageSize = Number(reader.pragma('page_size', { simple: true }));
    const pageCount = Number(reader.pragma('page_count', { simple: true }));
    const snap: LiveSnapshot = {
      db: reader,
      pageSize,
      pageCount,
      serverVersion,
      consistentAt: new Date(),
      pages: (signal) => readPages(dbFile, walFile, overlay, pageSize, pageCount, signal),
    };
    const result = await work(snap);
    reader.prepare('COMMIT').run();
    return result;
  } finally {
    for (const c of connections) c.close();
    for (const h of handles) await h.close().catch(() => undefined);
  }
}

function beginRead(db: BetterSqlite3.Database): void {
  db.prepare('BEGIN').run();
  db.prepare('SELECT count(*) FROM sqlite_master').get();
}

/**
 * Begins `reader`'s read transaction while `writer` holds the write lock, reads the wal-index
 * header it saw, and returns where in the WAL the newest copy of each page the file lacks lives.
 */
async function beginWalRead(path: string, writer: BetterSqlite3.Database, reader: BetterSqlite3.Database, handles: FileHandle[]) {
  writer.prepare('BEGIN IMMEDIATE').run();
  let header: WalIndexHeader;
  let walFile: FileHandle;
  try {
    beginRead(reader);
    const shm = await open(`${path}-shm`, 'r');
    handles.push(shm);
    walFile = await open(`${path}-wal`, 'r');
    handles.push(walFile);
    header = await readWalIndexHeader(shm);
  } finally {
    writer.prepare('ROLLBACK').run();
  }
  const pageSize = Number(reader.pragma('page_size', { simple: true }));
  return { overlay: await walOverlay(walFile, header, pageSize), walFile };
}

interface WalIndexHeader {
  mxFrame: number;
  nBackfill: number;
  salt: Buffer;
}

async function readWalIndexHeader(shm: FileHandle): Promise<WalIndexHeader> {
  const buf = Buffer.alloc(136);
  const { bytesRead } = await shm.read(buf, 0, 136, 0);
  // Two copies of the header that a writer keeps equal; isInit (byte 12) once it is valid.
  if (bytesRead < 136 || !buf.subarray(0, 48).equals(buf.subarray(48, 96)) || buf[12] !== 1) {
    throw new LiveSnapshotUnavailable('the wal-index header is not readable');
  }
  // Native byte order: the -shm file is only shared between processes of one machine.
  const u32 = (at: number) => (endianLittle ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  return { mxFrame: u32(16), nBackfill: u32(96), salt: Buffer.from(buf.subarray(32, 40)) };
}

const endianLittle = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** pgno → byte offset (in the WAL) of the newest frame of that page among nBackfill+1..mxFrame. */
async function walOverlay(wal: FileHandle, header: WalIndexHeader, pageSize: number): Promise<Map<number, number>> {
  const overlay = new Map<number, number>();
  if (header.nBackfill >= header.mxFrame) return overlay;
  const frameBytes = FRAME_HEADER_BYTES + pageSize;
  const framesPerRead = Math.max(1, Math.floor(CHUNK_BYTES / frameBytes));
  const buf = Buffer.alloc(framesPerRead * frameBytes);
  for (let first = header.nBackfill + 1; first <= header.mxFrame; first += framesPerRead) {
    const count = Math.min(framesPerRead, header.mxFrame - first + 1);
    const at = WAL_HEADER_BYTES + (first - 1) * frameBytes;
    const { bytesRead } = await wal.read(buf, 0, count * frameBytes, at);
    if (bytesRead < count * frameBytes) throw new LiveSnapshotUnavailable('the WAL is shorter than its index says');
    for (let i = 0; i < count; i++) {
      const frame = buf.subarray(i * frameBytes, i * frameBytes + FRAME_HEADER_BYTES);
      if (!frame.subarray(8, 16).equals(header.salt)) throw new LiveSnapshotUnavailable('a WAL frame has a foreign salt');
      overlay.set(frame.readUInt32BE(0), at + i * frameBytes + FRAME_HEADER_BYTES);
    }
  }
  return overlay;
}

async function* readPages(
  dbFile: FileHandle,
  walFile: FileHandle | undefined,
  overlay: Map<number, number>,
  pageSize: number,
  pageCount: number,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / pageSize));
  const pending = [...overlay.keys()].sort((a, b) => a - b);
  let next = 0;
  for (let first = 1; first <= pageCount; first += perChunk) {
    signal.throwIfAborted();
    const count = Math.min(perChunk, pageCount - first + 1);
    // A fresh buffer per chunk: the consumer may keep it (a compressor's queue).
    const chunk = Buffer.allocUnsafe(count * pageSize);
    const { bytesRead } = await dbFile.read(chunk, 0, chunk.length, (first - 1) * pageSize);
    const filled = Math.floor(bytesRead / pageSize);
    while (next < pending.length && pending[next]! < first) next++;
    const last = first + count - 1;
    let fromWal = 0;
    for (; next < pending.length && pending[next]! <= last; next++) {
      const pgno = pending[next]!;
      const offset = (pgno - first) * pageSize;
      const { bytesRead: n } = await walFile!.read(chunk, offset, pageSize, overlay.get(pgno)!);
      if (n !== pageSize) throw new DbBackupError('E_BACKUP_FAILED', `Page ${pgno} of the WAL could not be read whole; retry the backup.`);
      if (pgno - first >= filled) fromWal++;
    }
    if (filled + fromWal < count) {
      // Pages past the end of the file that no frame holds: the snapshot would be incomplete.
      throw new DbBackupError('E_BACKUP_FAILED', `The database file ends before page ${first + filled} of ${pageCount} and the WAL does not hold it; retry the backup.`);
    }
    yield chunk;
  }
}
