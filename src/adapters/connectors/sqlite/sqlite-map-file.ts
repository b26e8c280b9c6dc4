import { copyFile, open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { DbBackupError } from '../../../domain/errors.js';
import { ChunkReader } from '../../../infrastructure/chunk-reader.js';
import { fastKeyBytes } from './sqlite-fast-hash.js';
import { HASH_BYTES, validPageSize } from './sqlite-page-map.js';

/**
 * A page map (or a fast map) kept in a scratch file instead of memory: pageCount × HASH_BYTES, the
 * hashes alone (no header), so an incremental of a 100 GB database holds a window of each map, not
 * the maps (16 bytes a page: 400 MB each at 100 GB). The parts keep their format
 * (sqlite-page-map.ts): a part is parsed into a file as it streams, and a file is streamed back
 * into a part, whole or as a delta from the chain's full, reading both files in lockstep.
 */
export interface MapFile {
  path: string;
  pageSize: number;
  pageCount: number;
  /** The fast-hash key when the file holds a fast map. */
  key?: Buffer;
}

/** Entries read or written at a time: a mebibyte of hashes. */
export const MAP_WINDOW = 65536;
/** Entries rewritten at a time (EntryWrites): 256 KiB, so that a few pages changed rewrite little. */
const WRITE_WINDOW = 16384;

const HEADER_BYTES = 16;
const DELTA_ENTRY_BYTES = 4 + HASH_BYTES;
const MAP_MAGIC = Buffer.from('DBBPMAP1', 'latin1');
const DELTA_MAGIC = Buffer.from('DBBPMAPD', 'latin1');
const FAST_MAGIC = Buffer.from('DBBFMAP1', 'latin1');

/** Exact reads from a stream, holding at most one chunk beyond what was asked. */
class StreamBytes {
  private held: Buffer = Buffer.alloc(0);
  private readonly chunks: ChunkReader;

  constructor(body: Readable) {
    this.chunks = new ChunkReader(body);
  }

  /** Up to `n` bytes (fewer only at the end). */
  async take(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      if (!this.held.length) {
        const next = await this.chunks.next();
        if (!next) break;
        this.held = next;
      }
      const k = Math.min(n - got, this.held.length);
      parts.push(this.held.subarray(0, k));
      this.held = this.held.subarray(k);
      got += k;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }
}

/**
 * Parses a page map part (whole or a delta from `full()`, the chain full's map file) into the file
 * at `path` as it streams. E_FOREIGN_ARCHIVE when it is not one (`what` names it).
 */
export async function storePageMap(body: Readable, what: string, path: string, full?: () => Promise<MapFile>): Promise<MapFile> {
  return storeMap(new StreamBytes(body), what, path, full);
}

/** storePageMap for a fast map part: its key, then a page map or delta of the fast hashes. */
export async function storeFastMap(body: Readable, what: string, path: string, full?: () => Promise<MapFile>): Promise<MapFile> {
  const bad = () => new DbBackupError('E_FOREIGN_ARCHIVE', `${what} is not a dbbackup SQLite fast map; the backup is damaged or foreign.`);
  const bytes = new StreamBytes(body);
  const head = await bytes.take(12);
  if (head.length < 12 || !head.subarray(0, 8).equals(FAST_MAGIC)) throw bad();
  const keyLength = head.readUInt32BE(8);
  if (keyLength > 65536 + 32) throw bad();
  const key = Buffer.from(await bytes.take(keyLength));
  if (key.length !== keyLength) throw bad();
  let baseKey: Buffer | undefined;
  const map = await storeMap(bytes, what, path, async () => {
    const base = await (full ? full() : Promise.reject(bad()));
    baseKey = base.key;
    return base;
  });
  if (keyLength !== fastKeyBytes(map.pageSize) || (baseKey && !baseKey.equals(key))) throw bad();
  return { ...map, key };
}

async function storeMap(bytes: StreamBytes, what: string, path: string, full?: () => Promise<MapFile>): Promise<MapFile> {
  const bad = (why = '') => new DbBackupError('E_FOREIGN_ARCHIVE', `${what} is not a dbbackup SQLite page map${why}; the backup is damaged or foreign.`);
  const head = await bytes.take(HEADER_BYTES);
  if (head.length < HEADER_BYTES) throw bad();
  const pageSize = head.readUInt32BE(8);
  const pageCount = head.readUInt32BE(12);
  if (!validPageSize(pageSize)) throw bad();
  if (head.subarray(0, 8).equals(MAP_MAGIC)) {
    const out = await open(path, 'w', 0o600);
    try {
      let left = pageCount * HASH_BYTES;
      while (left > 0) {
        const chunk = await bytes.take(Math.min(left, MAP_WINDOW * HASH_BYTES));
        if (!chunk.length) throw bad();
        await out.write(chunk);
        left -= chunk.length;
      }
      if ((await bytes.take(1)).length) throw bad();
    } finally {
      await out.close();
    }
    return { path, pageSize, pageCount };
  }
  if (!head.subarray(0, 8).equals(DELTA_MAGIC)) throw bad();
  if (!full) throw bad(' (a delta, and its full was not given)');
  const base = await full();
  if (base.pageSize !== pageSize) throw bad(` (its page size ${pageSize} differs from its full's, ${base.pageSize})`);
  await copyFile(base.path, path);
  const out = await open(path, 'r+');
  try {
    await out.truncate(pageCount * HASH_BYTES);
    const writes = new EntryWrites(out, pageCount);
    let previous = 0;
    let added = 0;
    for (;;) {
      const chunk = await bytes.take(MAP_WINDOW * DELTA_ENTRY_BYTES);
      if (chunk.length % DELTA_ENTRY_BYTES) throw bad();
      if (!chunk.length) break;
      for (let at = 0; at < chunk.length; at += DELTA_ENTRY_BYTES) {
        const pgno = chunk.readUInt32BE(at);
        if (pgno <= previous || pgno > pageCount) throw bad(` (page ${pgno} out of order or beyond ${pageCount})`);
        if (pgno > base.pageCount) added++;
        await writes.set(pgno, chunk.subarray(at + 4, at + DELTA_ENTRY_BYTES));
        previous = pgno;
      }
    }
    await writes.flush();
    if (added !== Math.max(0, pageCount - base.pageCount)) throw bad(' (it misses pages its full lacks)');
  } finally {
    await out.close();
  }
  return { path, pageSize, pageCount };
}

/**
 * Rewrites entries of a map file in increasing page order, through one window of WRITE_WINDOW
 * entries: the window holding a page is read, changed, and written back once the pages pass it
 * (one read and one write per window touched, however many of its entries change; memory: the
 * window). Entries of pages not set are written back as they were read.
 */
export class EntryWrites {
  private readonly buf = Buffer.alloc(WRITE_WINDOW * HASH_BYTES);
  /** First page of the window held, 0 when none. */
  private first = 0;
  private count = 0;
  private dirty = false;

  constructor(
    private readonly handle: FileHandle,
    private readonly pageCount: number,
  ) {}

  async set(pgno: number, hash: Buffer): Promise<void> {
    if (!this.holds(pgno)) await this.move(pgno);
    this.put(pgno, hash);
  }

  /** Whether page `pgno`'s entry is in the window: then put() may write it without move(). */
  holds(pgno: number): boolean {
    return this.first > 0 && pgno >= this.first && pgno < this.first + this.count;
  }

  /** Writes the window back (if changed) and reads the one holding page `pgno`. */
  async move(pgno: number): Promise<void> {
    if (pgno < 1 || pgno > this.pageCount) throw new Error(`page ${pgno} is beyond the map's ${this.pageCount}`);
    await this.flush();
    const first = pgno - ((pgno - 1) % WRITE_WINDOW);
    const count = Math.min(WRITE_WINDOW, this.pageCount - first + 1);
    const { bytesRead } = await this.handle.read(this.buf, 0, count * HASH_BYTES, (first - 1) * HASH_BYTES);
    this.buf.fill(0, bytesRead, count * HASH_BYTES);
    this.first = first;
    this.count = count;
  }

  /** Sets the entry of page `pgno` (held: see holds()) from `from`..`from` + HASH_BYTES of `source`. */
  put(pgno: number, source: Buffer, from = 0): void {
    if (!this.holds(pgno)) throw new Error(`page ${pgno} is not in the map window`);
    source.copy(this.buf, (pgno - this.first) * HASH_BYTES, from, from + HASH_BYTES);
    this.dirty = true;
  }

  /** Writes the window back, if changed. */
  async flush(): Promise<void> {
    if (!this.dirty) return;
    await this.handle.write(this.buf, 0, this.count * HASH_BYTES, (this.first - 1) * HASH_BYTES);
    this.dirty = false;
  }
}

/** Reads a map file's entries in increasing page order through a window of MAP_WINDOW entries. */
export class MapCursor {
  private readonly buf: Buffer;
  /** The window as 32-bit words (4 an entry), to compare entries without a view per page. */
  private readonly words: Int32Array;
  private first = 0;
  private count = 0;

  private constructor(
    private readonly handle: FileHandle,
    readonly pageCount: number,
    window: number,
  ) {
    this.words = new Int32Array(Math.min(window, Math.max(1, pageCount)) * (HASH_BYTES / 4));
    this.buf = Buffer.from(this.words.buffer);
  }

  /** A cursor holding `window` entries at most (MAP_WINDOW; tests cross windows with fewer). */
  static async open(map: MapFile, window = MAP_WINDOW): Promise<MapCursor> {
    return new MapCursor(await open(map.path, 'r'), map.pageCount, window);
  }

  /** Entries held (at most MAP_WINDOW). */
  get windowEntries(): number {
    return this.buf.length / HASH_BYTES;
  }

  /** Whether page `pgno`'s entry is in the window (or past the map): then get() needs no load(). */
  has(pgno: number): boolean {
    return pgno > this.pageCount || (pgno >= this.first && pgno < this.first + this.count);
  }

  /** The window from page `pgno` on (call when !has(pgno)). */
  async load(pgno: number): Promise<void> {
    if (this.has(pgno) || pgno < 1) return;
    const n = Math.min(this.buf.length / HASH_BYTES, this.pageCount - pgno + 1);
    const { bytesRead } = await this.handle.read(this.buf, 0, n * HASH_BYTES, (pgno - 1) * HASH_BYTES);
    if (bytesRead !== n * HASH_BYTES) throw new DbBackupError('E_BACKUP_FAILED', 'A scratch page map file is shorter than its page count; retry the backup.');
    this.first = pgno;
    this.count = n;
  }

  /** Whether page `pgno`'s entry (in the window: load it first) equals the 16 bytes of `hash` from `at`. */
  matches(pgno: number, hash: Buffer, at = 0): boolean {
    const from = (pgno - this.first) * HASH_BYTES;
    return this.buf.compare(hash, at, at + HASH_BYTES, from, from + HASH_BYTES) === 0;
  }

  /** Whether page `pgno` has the same entry here and in `other` (both in their windows: load them first; false past either map). */
  sameEntry(pgno: number, other: MapCursor): boolean {
    if (pgno < 1 || pgno > this.pageCount || pgno > other.pageCount) return false;
    const a = (pgno - this.first) * 4;
    const b = (pgno - other.first) * 4;
    const x = this.words;
    const y = other.words;
    return x[a] === y[b] && x[a + 1] === y[b + 1] && x[a + 2] === y[b + 2] && x[a + 3] === y[b + 3];
  }

  /** The entry of page `pgno` (a view into the window, valid until the next load), or undefined past the map; load() it first. */
  get(pgno: number): Buffer | undefined {
    if (pgno < 1 || pgno > this.pageCount) return undefined;
    if (!this.has(pgno)) throw new Error(`page ${pgno} is not in the map window`);
    const at = (pgno - this.first) * HASH_BYTES;
    return this.buf.subarray(at, at + HASH_BYTES);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** Writes an in-memory map's hashes (a position given inline) to a map file. */
export async function mapFileOf(hashes: Buffer, pageSize: number, path: string): Promise<MapFile> {
  const out = await open(path, 'w', 0o600);
  try {
    await out.write(hashes);
  } finally {
    await out.close();
  }
  return { path, pageSize, pageCount: hashes.length / HASH_BYTES };
}

/**
 * The body of a map part for `map`: a delta from `full` when that is at most half the whole map's
 * size (written to `deltaPath` first, reading both files a window at a time), else the whole map.
 * With `key`, wrapped as a fast map part. Memory: a window of each file.
 */
export async function mapPartBody(map: MapFile, full: MapFile | undefined, deltaPath: string): Promise<{ chunks: AsyncIterable<Buffer>; delta: boolean }> {
  const delta = full && full.pageSize === map.pageSize ? await writeDelta(map, full, deltaPath) : undefined;
  const header = Buffer.alloc(HEADER_BYTES);
  (delta !== undefined ? DELTA_MAGIC : MAP_MAGIC).copy(header, 0);
  header.writeUInt32BE(map.pageSize, 8);
  header.writeUInt32BE(map.pageCount, 12);
  const prefix: Buffer[] = [];
  if (map.key) {
    const fast = Buffer.alloc(12);
    FAST_MAGIC.copy(fast, 0);
    fast.writeUInt32BE(map.key.length, 8);
    prefix.push(fast, map.key);
  }
  const chunks = (async function* () {
    yield* prefix;
    yield header;
    yield* fileChunks(delta !== undefined ? deltaPath : map.path, delta ?? map.pageCount * HASH_BYTES);
  })();
  return { chunks, delta: delta !== undefined };
}

async function* fileChunks(path: string, length: number): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r');
  try {
    for (let at = 0; at < length; ) {
      const chunk = Buffer.alloc(Math.min(length - at, MAP_WINDOW * HASH_BYTES));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, at);
      if (bytesRead !== chunk.length) throw new DbBackupError('E_BACKUP_FAILED', 'A scratch page map file is shorter than its page count; retry the backup.');
      yield chunk;
      at += chunk.length;
    }
  } finally {
    await handle.close();
  }
}

/**
 * The delta entries from `full` to `map` into `path`; their byte length, or undefined when more
 * than half the whole map's. Both files are read a window at a time and compared in place, an
 * entry as four 32-bit words (no object and no native call per page).
 */
async function writeDelta(map: MapFile, full: MapFile, path: string): Promise<number | undefined> {
  const limit = (map.pageCount * HASH_BYTES) / (2 * DELTA_ENTRY_BYTES);
  const mine = await open(map.path, 'r');
  const theirs = await open(full.path, 'r');
  const out = await open(path, 'w', 0o600);
  try {
    // Own (unpooled) buffers: offset 0, so the word views are aligned.
    const a = new Uint32Array(MAP_WINDOW * (HASH_BYTES / 4));
    const b = new Uint32Array(MAP_WINDOW * (HASH_BYTES / 4));
    const aBytes = Buffer.from(a.buffer);
    const bBytes = Buffer.from(b.buffer);
    // Entries of 5 words: the page number (big-endian, through `view`), then the hash's words as read.
    const words = new Uint32Array(MAP_WINDOW * (DELTA_ENTRY_BYTES / 4));
    const view = new DataView(words.buffer);
    const buf = Buffer.from(words.buffer);
    let n = 0;
    let total = 0;
    for (let first = 1; first <= map.pageCount; first += MAP_WINDOW) {
      const count = Math.min(MAP_WINDOW, map.pageCount - first + 1);
      // Pages of the window the full also has (the rest are all new: every one is an entry).
      const shared = Math.max(0, Math.min(count, full.pageCount - first + 1));
      await readExactly(mine, aBytes, count * HASH_BYTES, (first - 1) * HASH_BYTES);
      if (shared) await readExactly(theirs, bBytes, shared * HASH_BYTES, (first - 1) * HASH_BYTES);
      for (let i = 0; i < count; i++) {
        const w = i * 4;
        if (i < shared && a[w] === b[w] && a[w + 1] === b[w + 1] && a[w + 2] === b[w + 2] && a[w + 3] === b[w + 3]) continue;
        if (++total > limit) return undefined;
        const e = n * 5;
        view.setUint32(e * 4, first + i, false);
        words[e + 1] = a[w]!;
        words[e + 2] = a[w + 1]!;
        words[e + 3] = a[w + 2]!;
        words[e + 4] = a[w + 3]!;
        if (++n === MAP_WINDOW) {
          await out.write(buf);
          n = 0;
        }
      }
    }
    if (n) await out.write(buf, 0, n * DELTA_ENTRY_BYTES);
    return total * DELTA_ENTRY_BYTES;
  } finally {
    await out.close();
    await mine.close();
    await theirs.close();
  }
}

/** `length` bytes of `handle` at `position` into the start of `buf`; E_BACKUP_FAILED when the file is shorter. */
async function readExactly(handle: FileHandle, buf: Buffer, length: number, position: number): Promise<void> {
  for (let done = 0; done < length; ) {
    const { bytesRead } = await handle.read(buf, done, length - done, position + done);
    if (!bytesRead) throw new DbBackupError('E_BACKUP_FAILED', 'A scratch page map file is shorter than its page count; retry the backup.');
    done += bytesRead;
  }
}
