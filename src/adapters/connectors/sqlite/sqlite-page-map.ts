import { createHash, hash as oneShotHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { DbBackupError } from '../../../domain/errors.js';
import { fastKeyBytes, FastPageHasher } from './sqlite-fast-hash.js';

/**
 * A page map: the hash of every page of a database file (16 bytes of each page's sha256, enough
 * that a changed page is never taken for its old self). Stored as a part of its own:
 *
 *   "DBBPMAP1" | u32 pageSize | u32 pageCount | pageCount × 16-byte hash    (big-endian)
 *
 * 4 MiB per GiB of database. An incremental keeps its parent's in a scratch file and reads it a
 * window at a time (sqlite-map-file.ts); so does a chain restore with the maps it compares.
 */
export interface PageMap {
  pageSize: number;
  pageCount: number;
  /** pageCount × HASH_BYTES. */
  hashes: Buffer;
}

export const HASH_BYTES = 16;
const MAP_MAGIC = Buffer.from('DBBPMAP1', 'latin1');
const PAGES_MAGIC = Buffer.from('DBBPAGE1', 'latin1');
const HEADER_BYTES = 16;

/** sha256 is the fastest hash node offers here (SHA extensions): ~6 µs a 4 KiB page. */
export const hashPage: (page: Uint8Array) => Buffer =
  typeof oneShotHash === 'function'
    ? (page) => oneShotHash('sha256', page, 'buffer') as unknown as Buffer
    : (page) => createHash('sha256').update(page).digest();

export function hashAt(map: PageMap, pgno: number): Buffer | undefined {
  if (pgno < 1 || pgno > map.pageCount) return undefined;
  return map.hashes.subarray((pgno - 1) * HASH_BYTES, pgno * HASH_BYTES);
}

export function encodePageMap(map: PageMap): Buffer {
  return Buffer.concat(pageMapChunks(map));
}

/** encodePageMap's bytes as its header and the map's own buffer (no copy of a map of megabytes). */
export function pageMapChunks(map: PageMap): Buffer[] {
  const header = Buffer.alloc(HEADER_BYTES);
  MAP_MAGIC.copy(header, 0);
  header.writeUInt32BE(map.pageSize, 8);
  header.writeUInt32BE(map.pageCount, 12);
  return [header, map.hashes];
}

/**
 * A link's page map stored as the difference from its chain's full (format 3 backups): the pages
 * whose hash differs from the full's map, or that are new, with their hashes, in page order.
 *
 *   "DBBPMAPD" | u32 pageSize | u32 pageCount | { u32 pgno | 16-byte hash }*
 *
 * 20 bytes per page changed since the full, instead of 16 bytes per page of the database.
 */
const DELTA_MAGIC = Buffer.from('DBBPMAPD', 'latin1');
const DELTA_ENTRY_BYTES = 4 + HASH_BYTES;

/** The delta from `full` to `map`, or undefined when it would not be much smaller than `map` itself. */
export function encodePageMapDelta(map: PageMap, full: PageMap): Buffer | undefined {
  const changed: number[] = [];
  const limit = (map.pageCount * HASH_BYTES) / (2 * DELTA_ENTRY_BYTES);
  for (let pgno = 1; pgno <= map.pageCount; pgno++) {
    const old = hashAt(full, pgno);
    if (old && old.equals(hashAt(map, pgno)!)) continue;
    changed.push(pgno);
    if (changed.length > limit) return undefined;
  }
  const out = Buffer.alloc(HEADER_BYTES + changed.length * DELTA_ENTRY_BYTES);
  DELTA_MAGIC.copy(out, 0);
  out.writeUInt32BE(map.pageSize, 8);
  out.writeUInt32BE(map.pageCount, 12);
  changed.forEach((pgno, i) => {
    const at = HEADER_BYTES + i * DELTA_ENTRY_BYTES;
    out.writeUInt32BE(pgno, at);
    hashAt(map, pgno)!.copy(out, at + 4);
  });
  return out;
}

/**
 * Reads a page map part, whole or (format 3 links) a delta applied to `full()`, the map of the
 * chain's full; E_FOREIGN_ARCHIVE when it is not one (`what` names it). Memory: the map, once.
 */
export async function readPageMap(body: Readable, what: string, full?: () => Promise<PageMap>): Promise<PageMap> {
  return decodePageMap(await readAll(body), what, full);
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

async function decodePageMap(raw: Buffer, what: string, full?: () => Promise<PageMap>): Promise<PageMap> {
  const bad = (why = '') => new DbBackupError('E_FOREIGN_ARCHIVE', `${what} is not a dbbackup SQLite page map${why}; the backup is damaged or foreign.`);
  if (raw.length < HEADER_BYTES) throw bad();
  const pageSize = raw.readUInt32BE(8);
  const pageCount = raw.readUInt32BE(12);
  if (!validPageSize(pageSize)) throw bad();
  if (raw.subarray(0, 8).equals(MAP_MAGIC)) {
    if (raw.length !== HEADER_BYTES + pageCount * HASH_BYTES) throw bad();
    return { pageSize, pageCount, hashes: raw.subarray(HEADER_BYTES) };
  }
  if (!raw.subarray(0, 8).equals(DELTA_MAGIC) || (raw.length - HEADER_BYTES) % DELTA_ENTRY_BYTES !== 0) throw bad();
  if (!full) throw bad(' (a delta, and its full was not given)');
  const base = await full();
  if (base.pageSize !== pageSize) throw bad(` (its page size ${pageSize} differs from its full's, ${base.pageSize})`);
  const hashes = Buffer.alloc(pageCount * HASH_BYTES);
  base.hashes.copy(hashes, 0, 0, Math.min(base.pageCount, pageCount) * HASH_BYTES);
  let previous = 0;
  let added = 0;
  for (let at = HEADER_BYTES; at < raw.length; at += DELTA_ENTRY_BYTES) {
    const pgno = raw.readUInt32BE(at);
    if (pgno <= previous || pgno > pageCount) throw bad(` (page ${pgno} out of order or beyond ${pageCount})`);
    if (pgno > base.pageCount) added++;
    raw.copy(hashes, (pgno - 1) * HASH_BYTES, at + 4, at + DELTA_ENTRY_BYTES);
    previous = pgno;
  }
  if (added !== Math.max(0, pageCount - base.pageCount)) throw bad(' (it misses pages its full lacks)');
  return { pageSize, pageCount, hashes };
}

export function validPageSize(n: number): boolean {
  return Number.isInteger(n) && n >= 512 && n <= 65536 && (n & (n - 1)) === 0;
}

/**
 * A fast map: the change-detection hash of every page (sqlite-fast-hash.ts) and the chain's key,
 * beside the sha256 page map. An incremental compares pages with its parent's fast map when there
 * is one, and hashes only the pages that changed with sha256.
 *
 *   "DBBFMAP1" | u32 key length | key | a page map or a delta of one (as above) of the fast hashes
 */
export interface FastMap {
  key: Buffer;
  map: PageMap;
}

const FAST_MAGIC = Buffer.from('DBBFMAP1', 'latin1');

/** `inner` is encodePageMap (or its chunks) or encodePageMapDelta of the fast hashes. */
export function encodeFastMap(key: Buffer, inner: Buffer | Buffer[]): Buffer[] {
  const head = Buffer.alloc(12);
  FAST_MAGIC.copy(head, 0);
  head.writeUInt32BE(key.length, 8);
  return [head, key, ...(Array.isArray(inner) ? inner : [inner])];
}

/** Reads a fast map part; a delta is applied to `full()`, its full's fast map. E_FOREIGN_ARCHIVE when it is not one. */
export async function readFastMap(body: Readable, what: string, full?: () => Promise<FastMap>): Promise<FastMap> {
  const raw = await readAll(body);
  const bad = () => new DbBackupError('E_FOREIGN_ARCHIVE', `${what} is not a dbbackup SQLite fast map; the backup is damaged or foreign.`);
  if (raw.length < 12 || !raw.subarray(0, 8).equals(FAST_MAGIC)) throw bad();
  const keyLength = raw.readUInt32BE(8);
  if (raw.length < 12 + keyLength + HEADER_BYTES) throw bad();
  const key = raw.subarray(12, 12 + keyLength);
  let base: FastMap | undefined;
  const map = await decodePageMap(raw.subarray(12 + keyLength), what, async () => {
    const got = await (full ? full() : Promise.reject(bad()));
    base = got;
    return got.map;
  });
  const baseKey = (base as FastMap | undefined)?.key;
  if (keyLength !== fastKeyBytes(map.pageSize) || (baseKey && !baseKey.equals(key))) throw bad();
  return { key, map };
}

/** Pages whose hashes a spilling builder holds before writing them to its files. */
const SPILL_PAGES = 65536;

/** A built map in a file (sqlite-map-file.ts's MapFile): pageCount × HASH_BYTES, no header. */
export interface BuiltMapFile {
  path: string;
  pageSize: number;
  pageCount: number;
  key?: Buffer;
}

/**
 * Collects the hashes of a file's pages as its bytes stream past (in any chunking). With a spill
 * folder, the hashes go to files there SPILL_PAGES at a time (finishFiles), so memory does not
 * grow with the page count; else they stay in memory (finish, fastMap).
 */
export class PageMapBuilder {
  /** HASH_BYTES per page, in one growing buffer (an object per page would cost ~10× the bytes). */
  private hashes = Buffer.alloc(HASH_BYTES * 1024);
  private count = 0;
  private pending: Buffer = Buffer.alloc(0);
  private fast?: { hasher: FastPageHasher; hashes: Buffer };
  /** With a spill folder: its files, and the number of pages already written to them. */
  private spill?: { map: number; fast: number | undefined; mapPath: string; fastPath: string; written: number };

  /** With `fastKey`, the fast map under that key is built too; with `spillDir`, into files there. */
  constructor(
    readonly pageSize: number,
    fastKey?: Buffer,
    spillDir?: string,
  ) {
    if (fastKey) this.fast = { hasher: new FastPageHasher(pageSize, fastKey), hashes: Buffer.alloc(HASH_BYTES * 1024) };
    if (spillDir) {
      const mapPath = join(spillDir, 'built.map');
      const fastPath = join(spillDir, 'built.fast');
      this.spill = { map: openSync(mapPath, 'w', 0o600), fast: fastKey && openSync(fastPath, 'w', 0o600), mapPath, fastPath, written: 0 };
      this.hashes = Buffer.alloc(HASH_BYTES * SPILL_PAGES);
      if (this.fast) this.fast.hashes = Buffer.alloc(HASH_BYTES * SPILL_PAGES);
    }
  }

  /** Writes the hashes held to the spill files (blocking: a mebibyte at most, every SPILL_PAGES pages). */
  private spillHeld(): void {
    const spill = this.spill!;
    const held = (this.count - spill.written) * HASH_BYTES;
    for (const [fd, buf] of [[spill.map, this.hashes], [spill.fast, this.fast?.hashes]] as const) {
      if (fd === undefined || !buf) continue;
      for (let done = 0; done < held; ) done += writeSync(fd, buf, done, held - done);
    }
    spill.written = this.count;
  }

  /** Whether the maps go to files (finishFiles) rather than memory (finish). */
  get spills(): boolean {
    return this.spill !== undefined;
  }

  private checkEnd(): void {
    if (this.pending.length) {
      throw new DbBackupError('E_BACKUP_FAILED', `The database snapshot does not end on a page boundary (${this.pending.length} bytes left over); it is damaged.`);
    }
  }

  /** The maps of every page fed, in the spill files (the builder must have been given a folder). */
  finishFiles(): { map: BuiltMapFile; fast?: BuiltMapFile } {
    const spill = this.spill;
    if (!spill) throw new Error('PageMapBuilder.finishFiles: no spill folder');
    try {
      this.checkEnd();
      this.spillHeld();
    } finally {
      closeSync(spill.map);
      if (spill.fast !== undefined) closeSync(spill.fast);
    }
    const map = { path: spill.mapPath, pageSize: this.pageSize, pageCount: this.count };
    return { map, ...(this.fast ? { fast: { ...map, path: spill.fastPath, key: this.fast.hasher.key } } : {}) };
  }

  /** Feeds the next bytes of the file; calls `onPage(pgno, page, hash)` for each page completed. */
  push(chunk: Buffer, onPage?: (pgno: number, page: Buffer, hash: Buffer) => void): void {
    const data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    if (this.spill) {
      // A chunk at a time, in pieces that fit what the spill buffers have left.
      const whole = data.length - (data.length % this.pageSize);
      let offset = 0;
      while (offset < whole) {
        if (this.count - this.spill.written === SPILL_PAGES) this.spillHeld();
        const room = (SPILL_PAGES - (this.count - this.spill.written)) * this.pageSize;
        const piece = data.subarray(offset, Math.min(whole, offset + room));
        this.pushPages(piece, onPage);
        offset += piece.length;
      }
      this.pending = data.length > whole ? Buffer.from(data.subarray(whole)) : Buffer.alloc(0);
      return;
    }
    this.pushPages(data, onPage);
  }

  /** Hashes the whole pages of `data` (keeping the rest as pending). */
  private pushPages(data: Buffer, onPage?: (pgno: number, page: Buffer, hash: Buffer) => void): void {
    if (this.fast) this.pushFast(data.subarray(0, data.length - (data.length % this.pageSize)));
    let offset = 0;
    const base = this.spill?.written ?? 0;
    for (; offset + this.pageSize <= data.length; offset += this.pageSize) {
      const page = data.subarray(offset, offset + this.pageSize);
      if ((this.count - base + 1) * HASH_BYTES > this.hashes.length) {
        const grown = Buffer.alloc(this.hashes.length * 2);
        this.hashes.copy(grown);
        this.hashes = grown;
      }
      const at = (this.count - base) * HASH_BYTES;
      hashPage(page).copy(this.hashes, at, 0, HASH_BYTES);
      this.count++;
      onPage?.(this.count, page, this.hashes.subarray(at, at + HASH_BYTES));
    }
    // Copied: the caller may reuse its buffer (fs streams do not, but a pooled reader could).
    const rest = data.subarray(offset);
    this.pending = rest.length ? Buffer.from(rest) : Buffer.alloc(0);
  }

  private pushFast(pages: Buffer): void {
    const fast = this.fast!;
    const base = this.spill?.written ?? 0;
    const need = (this.count - base + pages.length / this.pageSize) * HASH_BYTES;
    if (need > fast.hashes.length) {
      const grown = Buffer.alloc(Math.max(need, fast.hashes.length * 2));
      fast.hashes.copy(grown);
      fast.hashes = grown;
    }
    fast.hasher.hashPages(pages, fast.hashes, (this.count - base) * HASH_BYTES);
  }

  /** The fast map of every page fed (call after finish), when the builder was given a key. */
  fastMap(): FastMap | undefined {
    if (this.spill) throw new Error('PageMapBuilder.fastMap: the maps are in files (finishFiles)');
    if (!this.fast) return undefined;
    return { key: this.fast.hasher.key, map: { pageSize: this.pageSize, pageCount: this.count, hashes: this.fast.hashes.subarray(0, this.count * HASH_BYTES) } };
  }

  /** The map of every page fed; E_BACKUP_FAILED when the bytes did not end on a page boundary. */
  finish(): PageMap {
    if (this.spill) throw new Error('PageMapBuilder.finish: the maps are in files (finishFiles)');
    this.checkEnd();
    return { pageSize: this.pageSize, pageCount: this.count, hashes: this.hashes.subarray(0, this.count * HASH_BYTES) };
  }
}

/**
 * The pages part of an incremental or differential: the changed pages, in page order.
 *
 *   "DBBPAGE1" | u32 pageSize | u32 pageCount (of the file after them) | { u32 pgno | page }*
 */
export function pagesHeader(pageSize: number, pageCount: number): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  PAGES_MAGIC.copy(header, 0);
  header.writeUInt32BE(pageSize, 8);
  header.writeUInt32BE(pageCount, 12);
  return header;
}

export function pageRecord(pgno: number, page: Buffer): Buffer[] {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(pgno, 0);
  return [head, page];
}

export const PAGES_HEADER_BYTES = HEADER_BYTES;

/** The header at the start of `head` (a pages part's first bytes); E_FOREIGN_ARCHIVE when it is not one. */
export function parsePagesHeader(head: Buffer, what: string): { pageSize: number; pageCount: number } {
  const bad = (why: string) => new DbBackupError('E_FOREIGN_ARCHIVE', `${what} is not a valid dbbackup SQLite pages part (${why}); the backup is damaged or foreign.`);
  if (head.length < HEADER_BYTES || !head.subarray(0, 8).equals(PAGES_MAGIC)) throw bad('no header');
  const header = { pageSize: head.readUInt32BE(8), pageCount: head.readUInt32BE(12) };
  if (!validPageSize(header.pageSize)) throw bad(`page size ${header.pageSize}`);
  return header;
}

/**
 * Reads a pages part as it streams, calling `onPage` for each record (awaited, so the reader never
 * holds more than a chunk). Returns the header; E_FOREIGN_ARCHIVE when the part is malformed.
 */
export async function readPages(
  body: Readable,
  what: string,
  onPage: (pgno: number, page: Buffer, header: { pageSize: number; pageCount: number }) => Promise<void>,
): Promise<{ pageSize: number; pageCount: number; pages: number }> {
  const bad = (why: string) => new DbBackupError('E_FOREIGN_ARCHIVE', `${what} is not a valid dbbackup SQLite pages part (${why}); the backup is damaged or foreign.`);
  let pending = Buffer.alloc(0);
  let header: { pageSize: number; pageCount: number } | undefined;
  let pages = 0;
  for await (const c of body) {
    pending = pending.length ? Buffer.concat([pending, c as Buffer]) : Buffer.from(c as Uint8Array);
    if (!header) {
      if (pending.length < HEADER_BYTES) continue;
      header = parsePagesHeader(pending, what);
      pending = pending.subarray(HEADER_BYTES);
    }
    const record = 4 + header.pageSize;
    let offset = 0;
    for (; offset + record <= pending.length; offset += record) {
      const pgno = pending.readUInt32BE(offset);
      if (pgno < 1 || pgno > header.pageCount) throw bad(`page ${pgno} beyond the page count ${header.pageCount}`);
      await onPage(pgno, pending.subarray(offset + 4, offset + record), header);
      pages++;
    }
    pending = Buffer.from(pending.subarray(offset));
  }
  if (!header) throw bad('no header');
  if (pending.length) throw bad('it ends inside a page');
  return { ...header, pages };
}
