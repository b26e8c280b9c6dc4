import { createWriteStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { PartSink, PartSource } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { Manifest, PartEntry } from '../../../domain/manifest.js';
import { syncFile } from '../../../infrastructure/files.js';
import { Database } from './sqlite-file.js';
import { schemaRows } from './sqlite-schema.js';
import { declarableRows, refuseUndeclared } from './sqlite-schema-check.js';
import { type MapFile, mapPartBody, storeFastMap, storePageMap } from './sqlite-map-file.js';
import { makeScratchDir } from '../../../infrastructure/scratch.js';
import { encodeFastMap, pageMapChunks, type PageMapBuilder, readPages } from './sqlite-page-map.js';
import { buildChain } from './sqlite-chain-build.js';
import { PageRunWriter } from './sqlite-page-writer.js';

/** The parts of an incremental or differential (role `changes`), and of a full's page map. */
export const PAGES_PART = 'changes/pages.bin';
export const PAGE_MAP_PART = 'changes/pagemap.bin';
export const FAST_MAP_PART = 'changes/fastmap.bin';

/** The SQLite position a full or a link is consistent at: its file's page size and count, and the part holding its page map. */
export interface SqlitePosition {
  pageSize: number;
  pageCount: number;
  /**
   * Part name of the sha256 page map in that backup: every full has one; a link only when its
   * chain has no fast map (or it was written before format 4), else it records its fast map only.
   */
  pageMap?: string;
  /** Set when that part is a delta from the map of this full (backup id): format 3 links. */
  mapBase?: string;
  /** Part name of the fast map (change-detection hashes, sqlite-fast-hash.ts), when the backup has one. */
  fastMap?: string;
  /** Set when that part is a delta from the fast map of this full (backup id). */
  fastMapBase?: string;
  /** Where the snapshot was in the WAL (live reads): a later link reads only the frames after it while they last. */
  wal?: { file: string; salt: string; frame: number };
}

export function dataPartOf(parts: PartSource): PartEntry {
  const data = parts.manifest.parts.find((p) => p.role === 'data' && p.object === 'main');
  if (!data) throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${parts.manifest.id} has no SQLite database part.`);
  return data;
}

/** The part stored under base name `name` (the writer appends codec suffixes such as `.zst`). */
export function partNamed(parts: PartSource, name: string): PartEntry {
  const part = parts.manifest.parts.find((p) => p.name === name) ?? parts.manifest.parts.find((p) => p.name.startsWith(`${name}.`));
  if (!part) throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${parts.manifest.id} has no part ${name}; it is damaged.`);
  return part;
}

/**
 * Stores the page map a backup recorded (a full's or a link's) into the map file at `path` as it
 * streams; `full` gives its chain full's map file when it is a delta.
 */
export async function storePageMapOf(parts: PartSource, path: string, full?: () => Promise<MapFile>): Promise<MapFile> {
  const position = parts.manifest.logPosition as Partial<SqlitePosition> | null;
  const name = typeof position?.pageMap === 'string' ? position.pageMap : PAGE_MAP_PART;
  return storePageMap(await parts.open(partNamed(parts, name)), `Part ${name} of backup ${parts.manifest.id}`, path, full);
}

/** storePageMapOf for the backup's fast map (`full` gives its chain full's fast map). */
export async function storeFastMapOf(parts: PartSource, path: string, full?: () => Promise<MapFile>): Promise<MapFile> {
  const position = parts.manifest.logPosition as Partial<SqlitePosition> | null;
  if (typeof position?.fastMap !== 'string') {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${parts.manifest.id} records neither a page map nor a fast map, but its chain needs one; it is damaged.`);
  }
  return storeFastMap(await parts.open(partNamed(parts, position.fastMap)), `Part ${position.fastMap} of backup ${parts.manifest.id}`, path, full);
}

/**
 * Whether a chain is proven by its fast maps: when a link recorded no sha256 page map (format 4
 * links of a chain whose full has a fast map). A chain whose every backup has a page map (older
 * formats) is proven by sha256 as it always was.
 */
export function provenByFastMaps(links: readonly PartSource[]): boolean {
  return links.some((l) => typeof (l.manifest.logPosition as Partial<SqlitePosition> | null)?.pageMap !== 'string');
}

/** Stores a full's page map and fast map (both kept locally for the next backup); returns its position's map fields. */
export async function writeFullMaps(sink: PartSink, builder: PageMapBuilder): Promise<Pick<SqlitePosition, 'pageSize' | 'pageCount' | 'pageMap' | 'fastMap'>> {
  if (builder.spills) {
    // From the builder's files, a window at a time (mapPartBody with no full writes no delta).
    const files = builder.finishFiles();
    const stored = await sink.write({ name: PAGE_MAP_PART, role: 'changes', keepLocal: true }, Readable.from((await mapPartBody(files.map, undefined, '')).chunks));
    const fastStored = files.fast && (await sink.write({ name: FAST_MAP_PART, role: 'changes', keepLocal: true }, Readable.from((await mapPartBody(files.fast, undefined, '')).chunks)));
    return { pageSize: files.map.pageSize, pageCount: files.map.pageCount, pageMap: stored.name, ...(fastStored ? { fastMap: fastStored.name } : {}) };
  }
  const built = builder.finish();
  const stored = await sink.write({ name: PAGE_MAP_PART, role: 'changes', keepLocal: true }, Readable.from(pageMapChunks(built)));
  const fast = builder.fastMap();
  const fastStored = fast && (await sink.write({ name: FAST_MAP_PART, role: 'changes', keepLocal: true }, Readable.from(encodeFastMap(fast.key, pageMapChunks(fast.map)))));
  return { pageSize: built.pageSize, pageCount: built.pageCount, pageMap: stored.name, ...(fastStored ? { fastMap: fastStored.name } : {}) };
}

/**
 * Builds in `file` the database a chain restores to. A single full is its database part as is; for
 * a chain each page is written once, from the newest backup that holds it (buildChain), in a
 * file cut to the last link's page count, with one fsync at the end, proven page by page against
 * the last link's page map (its keyed fast map when the chain's links record no sha256 map: the
 * stored bytes themselves are proven by the parts' checksums and the manifests' authentication,
 * the maps prove the rebuild). Then SQLite's integrity_check runs on the result (unless `check` is
 * false: --no-integrity-check), for a single full as for a chain: a restore promises a checked
 * database, not only a faithful copy (Litestream checks every restore too).
 */
export async function assembleChain(links: readonly PartSource[], file: string, signal: AbortSignal, check = true): Promise<void> {
  const full = links[0]!;
  const last = links.at(-1)!;
  if (links.length === 1) {
    await pipeline(await full.open(dataPartOf(full)), createWriteStream(file, { mode: 0o600, highWaterMark: 1 << 20 }), { signal });
    await syncFile(file);
  } else {
    const fast = provenByFastMaps(links);
    const scratch = await makeScratchDir('dbbackup-sqlite-maps-');
    const handle = await open(file, 'w', 0o600).catch(async (err: unknown) => {
      await rm(scratch, { recursive: true, force: true });
      throw err;
    });
    try {
      await buildChain(
        {
          links,
          storeMap: (index, path, fullMap) => (fast ? storeFastMapOf : storePageMapOf)(links[index]!, path, index === 0 ? undefined : fullMap),
          openFull: () => full.open(dataPartOf(full)),
          openPages: (link) => link.open(partNamed(link, PAGES_PART)),
          describe: (link) => `Part ${partNamed(link, link === full ? dataPartOf(full).name : PAGES_PART).name} of backup ${link.manifest.id}`,
        },
        handle,
        signal,
        scratch,
      );
      await handle.sync();
    } finally {
      await handle.close();
      await rm(scratch, { recursive: true, force: true });
    }
  }
  checkDatabase(file, last.manifest, check ? 'integrity_check' : 'none');
}

/** Writes one link's changed pages into `file` and cuts it to the link's page count. */
export async function overlayPages(link: PartSource, file: string): Promise<void> {
  const part = partNamed(link, PAGES_PART);
  const what = `Part ${part.name} of backup ${link.manifest.id}`;
  const handle = await open(file, 'r+');
  try {
    const pageSize = await pageSizeOf(handle, file);
    const writer = new PageRunWriter(handle, pageSize);
    const mismatch = (size: number) =>
      new DbBackupError('E_FOREIGN_ARCHIVE', `${what} holds ${size}-byte pages but the database it applies to has ${pageSize}-byte pages; the chain is malformed.`);
    const header = await readPages(await link.open(part), what, async (pgno, page) => {
      if (page.length !== pageSize) throw mismatch(page.length);
      await writer.write(pgno, page);
    });
    if (header.pageSize !== pageSize) throw mismatch(header.pageSize);
    await writer.drain();
    await handle.truncate(header.pageCount * pageSize);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The page size in a database file's header (bytes 16–17; 1 means 65536). */
async function pageSizeOf(handle: FileHandle, file: string): Promise<number> {
  const buf = Buffer.alloc(2);
  const { bytesRead } = await handle.read(buf, 0, 2, 16);
  if (bytesRead !== 2) throw new DbBackupError('E_FOREIGN_ARCHIVE', `${file} is too short to be a SQLite database.`);
  const raw = buf.readUInt16BE(0);
  return raw === 1 ? 65536 : raw;
}

/**
 * Opens the built file and runs SQLite's own check (E_CHECKSUM when it fails; 'none' skips it:
 * --no-integrity-check), then checks that it holds only the objects `manifest` declares (unless
 * `declared` is false). Opening a file runs none of its SQL (SQLite only parses the schema); its
 * triggers and views run later, when the database is used. The check gets a 64 MiB page cache
 * (SQLite's default is 2 MiB): it looks up every row's index entries, and with the default cache it
 * re-read index pages through the OS for half its time (1 GB bench database: 14.1 → 12.2 CPU s,
 * 26.6 → 15.3 s wall; restore peak RSS 133 → 162 MB); the cache is bounded whatever the size.
 */
export function checkDatabase(file: string, manifest: Pick<Manifest, 'id' | 'objects'>, check: 'integrity_check' | 'none', declared = true): void {
  const db = new Database(file, { readonly: true });
  try {
    if (check !== 'none') {
      let result: unknown;
      try {
        db.pragma(`cache_size = -${CHECK_CACHE_KIB}`);
        result = db.pragma(check, { simple: true });
      } catch (err) {
        // A schema SQLite cannot read (an index or trigger on another table than its row says, …).
        if (!String((err as { code?: unknown }).code).startsWith('SQLITE_CORRUPT')) throw err;
        result = (err as Error).message;
      }
      if (result !== 'ok') throw new DbBackupError('E_CHECKSUM', `The database in backup ${manifest.id} fails SQLite's ${check}: ${String(result)}.`);
    }
    if (declared) refuseUndeclared(declarableRows(schemaRows(db)), manifest.objects, manifest.id);
  } finally {
    db.close();
  }
}

/** The page cache of checkDatabase's connection, KiB. */
const CHECK_CACHE_KIB = 64 << 10;
