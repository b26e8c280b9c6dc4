import { rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { PartSource } from '../../../application/ports/parts.js';
import { DbBackupError, isNoSpace, noSpaceError } from '../../../domain/errors.js';
import { hashPage, PAGES_HEADER_BYTES, parsePagesHeader } from './sqlite-page-map.js';
import { MAP_WINDOW, MapCursor, type MapFile } from './sqlite-map-file.js';
import { OwnerFile } from './sqlite-owner-file.js';
import { FastPageHasher } from './sqlite-fast-hash.js';
import { PageRunWriter } from './sqlite-page-writer.js';
import { ChunkReader } from '../../../infrastructure/chunk-reader.js';

/** What the build needs of a chain: its backups (full first) and where their pages and maps are. */
export interface ChainSources {
  links: readonly PartSource[];
  /**
   * Stores backup `index`'s page map (0: the full's) into a map file at `path`, parsed as it
   * streams; a link's map may be a delta from the full's, which `full()` gives (stored first).
   * Either every backup's sha256 page map or every backup's fast map (a MapFile with the chain's key).
   */
  storeMap: (index: number, path: string, full: () => Promise<MapFile>) => Promise<MapFile>;
  /** The full's database part / a link's pages part, decoded. */
  openFull: () => Promise<Readable>;
  openPages: (link: PartSource) => Promise<Readable>;
  describe: (link: PartSource) => string;
}

/** Sources read at once: one's store reads overlap another's decoding, with two pipelines' buffers in memory. */
const SOURCES_AT_ONCE = 2;

/**
 * Writes the database a chain restores to into `handle`, each page once, from the newest backup
 * that holds it. The maps are read first (small parts), each into a map file in `dir` (scratch,
 * removed by the caller): the last one is the state to reach, and comparing each map with the one
 * before, a window at a time, gives the pages each link changed, hence which backup holds each
 * page's final version (the owner table, a file too: sqlite-owner-file.ts). Then each backup that
 * holds any is read once, SOURCES_AT_ONCE at a time, in any order, and writes only its own pages:
 * a link none of whose pages survive (all changed again later) is not read at all, and no page is
 * written twice. Memory: a few windows of `window` entries and two parts' stream buffers, whatever
 * the page count and the chain's length (16 + 2 bytes a page on disk, for 3 maps and the table).
 *
 * Proof as it goes: a page from a link must hash to the last map's entry (sha256, or the keyed fast
 * hash when the maps are fast maps), a page from the full
 * must have the same entry in the full's map (its bytes are the ones that map was computed from,
 * as its part's checksum proves); E_CHECKSUM at the first page that does not. A backup whose part
 * lacks a page its map says it changed fails the restore (E_FOREIGN_ARCHIVE).
 */
export async function buildChain(sources: ChainSources, handle: FileHandle, signal: AbortSignal, dir: string, window = MAP_WINDOW): Promise<{ pageSize: number; pageCount: number }> {
  const { links } = sources;
  const owners = await OwnerFile.create(join(dir, 'owners'), links.length, window);
  try {
    const plan = await ownersOf(sources, owners, dir, signal).catch((err: unknown) => {
      throw isNoSpace(err) ? noSpaceError(err, `the chain restore's page maps in ${dir}`, 'free space in TMPDIR (they take up to 1.6 % of the database) or set TMPDIR to a folder with room, and restore again.') : err;
    });
    const queue = links.map((_, i) => i).filter((i) => plan.owned[i]! > 0);
    const worker = async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) await writeOwnPages(sources, i, plan, handle, signal);
    };
    await Promise.all(Array.from({ length: Math.min(SOURCES_AT_ONCE, queue.length) }, worker));
    await handle.truncate(plan.last.pageCount * plan.last.pageSize);
    return { pageSize: plan.last.pageSize, pageCount: plan.last.pageCount };
  } finally {
    await owners.close();
  }
}

interface ChainPlan {
  fullMap: MapFile;
  last: MapFile;
  /** The backup holding each page's final version (0: the full). */
  owners: OwnerFile;
  /** How many pages of the result each backup holds. */
  owned: number[];
}

/** Reads backup `index`'s part and writes the pages it owns; checks it held them all. */
async function writeOwnPages(sources: ChainSources, index: number, plan: ChainPlan, handle: FileHandle, signal: AbortSignal): Promise<void> {
  const link = sources.links[index]!;
  const what = sources.describe(link);
  const { last } = plan;
  const owners = plan.owners.reader();
  const lastMap = await MapCursor.open(last, plan.owners.window);
  const fullMap = index === 0 ? await MapCursor.open(plan.fullMap, plan.owners.window).catch(async (err: unknown) => {
    await lastMap.close();
    throw err;
  }) : undefined;
  let cursor: PageCursor | undefined;
  let written = 0;
  try {
    const body = index === 0 ? await sources.openFull() : await sources.openPages(link);
    cursor = index === 0 ? new PageCursor(body, last.pageSize, false, what) : await PageCursor.ofPages(body, last, what);
    const writer = new PageRunWriter(handle, last.pageSize);
    const fastHasher = last.key && index > 0 ? new FastPageHasher(last.pageSize, last.key) : undefined;
    for (let n = 0; ; n++) {
      if ((n & 0xfff) === 0) signal.throwIfAborted();
      while (!cursor.reach(cursor.pgno + 1)) await cursor.fill();
      const pgno = cursor.pgno;
      if (pgno === Infinity) break;
      if (pgno > last.pageCount) continue;
      if (!owners.has(pgno)) await owners.load(pgno);
      if (owners.get(pgno) !== index) continue;
      if (!lastMap.has(pgno)) await lastMap.load(pgno);
      const page = cursor.page();
      let proven: boolean;
      if (fullMap) {
        if (!fullMap.has(pgno)) await fullMap.load(pgno);
        proven = fullMap.sameEntry(pgno, lastMap);
      } else {
        proven = lastMap.matches(pgno, fastHasher ? fastHasher.hash(page) : hashPage(page));
      }
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
    cursor?.destroy();
    await lastMap.close();
    await fullMap?.close();
  }
  if (index === 0 && cursor.pages !== plan.fullMap.pageCount) {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `${what} holds ${cursor.pages} pages, but its page map ${plan.fullMap.pageCount}; it is damaged.`);
  }
  if (written !== plan.owned[index]) {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `${what} lacks pages its page map says it changed (${plan.owned[index]! - written} of them); the chain is malformed.`);
  }
}

/**
 * Stores the maps in chain order (the next one read while one is compared; only the full's, the
 * previous and the current map kept on disk) and finds the backup that holds each page of the
 * result: page p's final version is in the newest link whose map differs from its predecessor's
 * at p (or that has p when its predecessor did not), else in the full.
 */
async function ownersOf(sources: ChainSources, owners: OwnerFile, dir: string, signal: AbortSignal): Promise<ChainPlan> {
  const { links } = sources;
  const fullMap = sources.storeMap(0, join(dir, 'map-0'), () => Promise.reject(new Error('the full has no full')));
  fullMap.catch(() => undefined);
  const read = (i: number) => {
    const map = i === 0 ? fullMap : sources.storeMap(i, join(dir, `map-${i}`), () => fullMap);
    map.catch(() => undefined);
    return map;
  };
  let previous = await fullMap;
  let next = links.length > 1 ? read(1) : undefined;
  for (let index = 1; index < links.length; index++) {
    signal.throwIfAborted();
    const map = await next!;
    next = index + 1 < links.length ? read(index + 1) : undefined;
    if (map.pageSize !== previous.pageSize) {
      throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${links[index]!.manifest.id} has ${map.pageSize}-byte pages but its chain's full ${previous.pageSize}-byte pages; the chain is malformed.`);
    }
    if (Boolean(map.key) !== Boolean(previous.key) || (map.key && !map.key.equals(previous.key!))) {
      throw new DbBackupError('E_FOREIGN_ARCHIVE', `The fast map of backup ${links[index]!.manifest.id} has another key than its chain's; the chain is malformed.`);
    }
    await owners.markChanged(previous, map, index, signal);
    if (index > 1) await rm(previous.path, { force: true });
    previous = map;
  }
  return { fullMap: await fullMap, last: previous, owners, owned: await owners.owned(links.length) };
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
  static async ofPages(body: Readable, last: { pageSize: number }, what: string): Promise<PageCursor> {
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
