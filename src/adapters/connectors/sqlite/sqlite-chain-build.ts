import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { PartSource } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import { HASH_BYTES, hashPage, PAGES_HEADER_BYTES, parsePagesHeader, type PageMap } from './sqlite-page-map.js';
import { PageRunWriter } from './sqlite-page-writer.js';
import { ChunkReader } from '../../../infrastructure/chunk-reader.js';

/** What the build needs of a chain: its backups (full first) and where their pages and maps are. */
export interface ChainSources {
  links: readonly PartSource[];
  /** The full's map and the map of each later link, in chain order, read one after another. */
  maps: () => AsyncIterable<PageMap>;
  /** The full's database part / a link's pages part, decoded. */
  openFull: () => Promise<Readable>;
  openPages: (link: PartSource) => Promise<Readable>;
  describe: (link: PartSource) => string;
}

/** Sources read at once: one's store reads overlap another's decoding, with two pipelines' buffers in memory. */
const SOURCES_AT_ONCE = 2;

/**
 * Writes the database a chain restores to into `handle`, each page once, from the newest backup
 * that holds it. The maps are read first (small parts): the last one is the state to reach, and
 * comparing each map with the one before gives the pages each link changed, hence which backup
 * holds each page's final version (2 bytes a page). Then each backup that holds any is read once,
 * SOURCES_AT_ONCE at a time, in any order, and writes only its own pages: a link none of whose
 * pages survive (all changed again later) is not read at all, and no page is written twice.
 * Memory: the maps being compared, the owner table and two parts' stream buffers, whatever the
 * chain's length.
 *
 * Proof as it goes: a page from a link must hash to the last map's entry, a page from the full
 * must have the same entry in the full's map (its bytes are the ones that map was computed from,
 * as its part's checksum proves); E_CHECKSUM at the first page that does not. A backup whose part
 * lacks a page its map says it changed fails the restore (E_FOREIGN_ARCHIVE).
 */
export async function buildChain(sources: ChainSources, handle: FileHandle, signal: AbortSignal): Promise<PageMap> {
  const { links } = sources;
  const plan = await ownersOf(sources, signal);
  const queue = links.map((_, i) => i).filter((i) => plan.owned[i]! > 0);
  const worker = async () => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) await writeOwnPages(sources, i, plan, handle, signal);
  };
  await Promise.all(Array.from({ length: Math.min(SOURCES_AT_ONCE, queue.length) }, worker));
  await handle.truncate(plan.last.pageCount * plan.last.pageSize);
  return plan.last;
}

interface ChainPlan {
  fullMap: PageMap;
  last: PageMap;
  /** owner[p]: index in the chain of the backup holding page p's final version (0: the full). */
  owner: Uint16Array | Uint32Array;
  /** How many pages of the result each backup holds. */
  owned: number[];
}

/** Reads backup `index`'s part and writes the pages it owns; checks it held them all. */
async function writeOwnPages(sources: ChainSources, index: number, plan: ChainPlan, handle: FileHandle, signal: AbortSignal): Promise<void> {
  const link = sources.links[index]!;
  const what = sources.describe(link);
  const { last, owner } = plan;
  const body = index === 0 ? await sources.openFull() : await sources.openPages(link);
  const cursor = index === 0 ? new PageCursor(body, last.pageSize, false, what) : await PageCursor.ofPages(body, last, what);
  const writer = new PageRunWriter(handle, last.pageSize);
  let written = 0;
  try {
    for (let n = 0; ; n++) {
      if ((n & 0xfff) === 0) signal.throwIfAborted();
      while (!cursor.reach(cursor.pgno + 1)) await cursor.fill();
      const pgno = cursor.pgno;
      if (pgno === Infinity) break;
      if (pgno > last.pageCount || owner[pgno] !== index) continue;
      const page = cursor.page();
      const proven = index === 0 ? sameEntry(plan.fullMap.hashes, last.hashes, pgno) : hashPage(page).compare(last.hashes, (pgno - 1) * HASH_BYTES, pgno * HASH_BYTES, 0, HASH_BYTES) === 0;
      if (!proven) {
        throw new DbBackupError(
          'E_CHECKSUM',
          `The database rebuilt from the chain of backup ${sources.links.at(-1)!.manifest.id} differs from what that backup recorded (page ${pgno}, from ${link.manifest.id}); a link is damaged. Nothing was restored.`,
        );
      }
      await writer.write(pgno, page);
      written++;
    }
    await writer.drain();
  } finally {
    cursor.destroy();
  }
  if (index === 0 && cursor.pages !== plan.fullMap.pageCount) {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `${what} holds ${cursor.pages} pages, but its page map ${plan.fullMap.pageCount}; it is damaged.`);
  }
  if (written !== plan.owned[index]) {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `${what} lacks pages its page map says it changed (${plan.owned[index]! - written} of them); the chain is malformed.`);
  }
}

/**
 * Reads the maps in chain order and finds the backup that holds each page of the result:
 * page p's final version is in the newest link whose map differs from its predecessor's at p (or
 * that has p when its predecessor did not), else in the full.
 */
async function ownersOf(sources: ChainSources, signal: AbortSignal): Promise<ChainPlan> {
  let fullMap: PageMap | undefined;
  let previous: PageMap | undefined;
  let owner: Uint16Array | Uint32Array | undefined;
  let index = 0;
  for await (const map of sources.maps()) {
    signal.throwIfAborted();
    if (!fullMap || !previous) {
      fullMap = map;
    } else {
      if (map.pageSize !== fullMap.pageSize) {
        throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${sources.links[index]!.manifest.id} has ${map.pageSize}-byte pages but its chain's full ${fullMap.pageSize}-byte pages; the chain is malformed.`);
      }
      owner = ownersAfter(owner, map.pageCount, sources.links.length);
      markChanged(previous, map, owner, index);
    }
    previous = map;
    index++;
  }
  if (!fullMap || !previous || index !== sources.links.length) throw new Error('buildChain: one map per backup of the chain');
  const owned = new Array<number>(sources.links.length).fill(0);
  const last = previous;
  for (let p = 1; p <= last.pageCount; p++) owned[owner![p]!]!++;
  return { fullMap, last, owner: owner!, owned };
}

/** The owner table for a map of `pageCount` pages (entries past it dropped, new ones the full's). */
function ownersAfter(owner: Uint16Array | Uint32Array | undefined, pageCount: number, links: number): Uint16Array | Uint32Array {
  const next = links <= 0xffff ? new Uint16Array(pageCount + 1) : new Uint32Array(pageCount + 1);
  if (owner) next.set(owner.subarray(0, Math.min(owner.length, pageCount + 1)));
  return next;
}

/** Sets owner[p] = link for every page where `map` differs from `previous` or that `previous` lacks. */
function markChanged(previous: PageMap, map: PageMap, owner: Uint16Array | Uint32Array, link: number): void {
  const a = words(previous.hashes);
  const b = words(map.hashes);
  const common = Math.min(previous.pageCount, map.pageCount);
  for (let p = 1, w = 0; p <= common; p++, w += 4) {
    if (a[w] !== b[w] || a[w + 1] !== b[w + 1] || a[w + 2] !== b[w + 2] || a[w + 3] !== b[w + 3]) owner[p] = link;
  }
  for (let p = common + 1; p <= map.pageCount; p++) owner[p] = link;
}

/** A map's hashes as 32-bit words (4 per page); copied when the buffer is not 4-byte aligned. */
function words(hashes: Buffer): Int32Array {
  const aligned = hashes.byteOffset % 4 === 0 ? hashes : Buffer.from(hashes);
  return new Int32Array(aligned.buffer, aligned.byteOffset, aligned.length >> 2);
}

function sameEntry(a: Buffer, b: Buffer, pgno: number): boolean {
  const at = (pgno - 1) * HASH_BYTES;
  return a.compare(b, at, at + HASH_BYTES, at, at + HASH_BYTES) === 0;
}

/**
 * One source's pages in ascending order: a full's data part (page after page) or a link's pages
 * part (`u32 pgno | page` records after a header). `reach(p)` moves to the first page numbered p or
 * more from the bytes in memory; when those run out it returns false and `fill()` reads more.
 */
class PageCursor {
  /** The current page's number (0 before the first, Infinity after the last). */
  pgno = 0;
  /** Where the current page's bytes start in `chunk` (a view is made only for the pages used). */
  private start = 0;
  /** Pages read so far. */
  pages = 0;
  private chunk: Buffer = Buffer.alloc(0);
  private at = 0;
  private ended = false;
  /** The rest of a chunk whose first bytes completed a record split across chunks. */
  private queued: Buffer | undefined;
  /** Set while the header of a pages part is read (its bytes are gathered whole). */
  private header = false;
  private readonly chunks: ChunkReader;

  constructor(
    body: Readable,
    private readonly pageSize: number,
    readonly numbered: boolean,
    private readonly what: string,
    private pageCount = Infinity,
  ) {
    this.chunks = new ChunkReader(body);
  }

  /** A link's pages part, its header checked against the chain's final map. */
  static async ofPages(body: Readable, last: PageMap, what: string): Promise<PageCursor> {
    const cursor = new PageCursor(body, last.pageSize, true, what);
    try {
      cursor.header = true;
      while (cursor.chunk.length < PAGES_HEADER_BYTES && !cursor.ended) await cursor.fill();
      cursor.header = false;
      const header = parsePagesHeader(cursor.chunk, what);
      if (header.pageSize !== last.pageSize) {
        throw new DbBackupError('E_FOREIGN_ARCHIVE', `${what} holds ${header.pageSize}-byte pages but the chain's last link has ${last.pageSize}-byte pages; the chain is malformed.`);
      }
      cursor.pageCount = header.pageCount;
      cursor.at = PAGES_HEADER_BYTES;
      return cursor;
    } catch (err) {
      cursor.destroy();
      throw err;
    }
  }

  /** The current page's bytes (valid until the next `reach`). */
  page(): Buffer {
    return this.chunk.subarray(this.start, this.start + this.pageSize);
  }

  reach(p: number): boolean {
    const record = this.numbered ? 4 + this.pageSize : this.pageSize;
    while (this.pgno < p) {
      if (this.chunk.length - this.at < record) {
        if (this.queued) {
          this.chunk = this.queued;
          this.at = 0;
          this.queued = undefined;
          continue;
        }
        if (!this.ended) return false;
        if (this.chunk.length > this.at) throw this.bad('it ends inside a page');
        this.pgno = Infinity;
        return true;
      }
      const next = this.numbered ? this.chunk.readUInt32BE(this.at) : this.pgno + 1;
      if (next <= this.pgno || next > this.pageCount) throw this.bad(`page ${next} out of order or beyond the page count ${this.pageCount}`);
      this.start = this.numbered ? this.at + 4 : this.at;
      this.pgno = next;
      this.at += record;
      this.pages++;
    }
    return true;
  }

  /**
   * Reads the next chunk. Records are used where they lie (pages handed out are views, never
   * written into); only a record split between two chunks is copied, into a bridge of its own.
   */
  async fill(): Promise<void> {
    const value = await this.chunks.next();
    if (!value) {
      this.ended = true;
      return;
    }
    const rest = this.chunk.subarray(this.at);
    const need = (this.numbered ? 4 + this.pageSize : this.pageSize) - rest.length;
    if (rest.length === 0) {
      this.chunk = value;
    } else if (this.header || value.length <= need) {
      this.chunk = Buffer.concat([rest, value]);
    } else {
      this.chunk = Buffer.concat([rest, value.subarray(0, need)]);
      this.queued = value.subarray(need);
    }
    this.at = 0;
  }

  destroy(): void {
    this.chunks.destroy();
  }

  private bad(why: string): DbBackupError {
    return new DbBackupError('E_FOREIGN_ARCHIVE', `${this.what} is not a valid dbbackup SQLite part (${why}); the backup is damaged or foreign.`);
  }
}
