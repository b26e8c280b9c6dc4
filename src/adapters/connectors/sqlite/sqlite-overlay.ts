import { createWriteStream, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { PartSource } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { Manifest, PartEntry } from '../../../domain/manifest.js';
import { syncFile } from '../../../infrastructure/files.js';
import { Database } from './sqlite-file.js';
import { schemaRows } from './sqlite-schema.js';
import { declarableRows, refuseUndeclared } from './sqlite-schema-check.js';
import { hashPage, readPageMap, readPages, type PageMap, HASH_BYTES } from './sqlite-page-map.js';

/** The parts of an incremental or differential (role `changes`), and of a full's page map. */
export const PAGES_PART = 'changes/pages.bin';
export const PAGE_MAP_PART = 'changes/pagemap.bin';

/** The SQLite position a full or a link is consistent at: its file's page size and count, and the part holding its page map. */
export interface SqlitePosition {
  pageSize: number;
  pageCount: number;
  /** Part name of the page map in that backup. */
  pageMap: string;
  /** Set when that part is a delta from the map of this full (backup id): format 3 links. */
  mapBase?: string;
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

/** The page map a backup recorded (a full's or a link's), read from its parts; `full` gives its chain full's map when it is a delta. */
export async function pageMapOf(parts: PartSource, full?: () => Promise<PageMap>): Promise<PageMap> {
  const position = parts.manifest.logPosition as Partial<SqlitePosition> | null;
  const name = typeof position?.pageMap === 'string' ? position.pageMap : PAGE_MAP_PART;
  return readPageMap(await parts.open(partNamed(parts, name)), `Part ${name} of backup ${parts.manifest.id}`, full);
}

/**
 * Builds in `file` the database a chain restores to. A single full is its database part as is.
 * A chain writes each page once, from the newest backup that holds it: the links' pages newest
 * first, then the full's pages no link replaced, in a file cut to the last link's page count, with
 * one fsync at the end. The result is proven: the hashes of the pages written (a link's, hashed as
 * written; the full's, as its own map recorded them, its bytes being checked against the part's
 * checksum) must make the last link's page map, so the file is, page for page, the snapshot that
 * link read. Then SQLite's integrity_check runs on a chain's result (a single full gets quick_check,
 * as every full restore does): it costs 2–4× the rest of the restore and can only find damage the
 * source already had, but a chain restore promises a checked database, not only a faithful copy.
 */
export async function assembleChain(links: readonly PartSource[], file: string, signal: AbortSignal): Promise<void> {
  const full = links[0]!;
  const last = links.at(-1)!;
  if (links.length === 1) {
    await pipeline(await full.open(dataPartOf(full)), createWriteStream(file, { mode: 0o600, highWaterMark: 1 << 20 }), { signal });
    await syncFile(file);
    checkDatabase(file, last.manifest, 'quick_check');
    return;
  }
  const fullMap = pageMapOf(full);
  fullMap.catch(() => undefined);
  const handle = await open(file, 'w', 0o600);
  let built: PageMap;
  try {
    built = await writeNewestPages(links, await fullMap, handle, signal);
    await handle.sync();
  } finally {
    await handle.close();
  }
  const expected = await pageMapOf(last, () => fullMap);
  if (built.pageCount !== expected.pageCount || !built.hashes.equals(expected.hashes)) {
    throw new DbBackupError(
      'E_CHECKSUM',
      `The database rebuilt from the chain of backup ${last.manifest.id} differs from what that backup recorded (page ${firstDifference(built, expected)}); a link is damaged. Nothing was restored.`,
    );
  }
  checkDatabase(file, last.manifest, 'integrity_check');
}

/** Writes every page of the chain's result once into `handle`; returns the map of what it wrote. */
async function writeNewestPages(links: readonly PartSource[], fullMap: PageMap, handle: FileHandle, signal: AbortSignal): Promise<PageMap> {
  const full = links[0]!;
  let target: ReturnType<typeof newTarget> | undefined;
  for (const link of links.slice(1).reverse()) {
    signal.throwIfAborted();
    const part = partNamed(link, PAGES_PART);
    const what = `Part ${part.name} of backup ${link.manifest.id}`;
    const header = await readPages(await link.open(part), what, async (pgno, page, head) => {
      target ??= newTarget(links, head, handle, what);
      if (page.length !== target.pageSize) {
        throw new DbBackupError('E_FOREIGN_ARCHIVE', `${what} holds ${page.length}-byte pages but the chain's last link has ${target.pageSize}-byte pages; the chain is malformed.`);
      }
      if (pgno > target.pageCount || target.written[pgno]) return;
      target.written[pgno] = 1;
      hashPage(page).copy(target.hashes, (pgno - 1) * HASH_BYTES, 0, HASH_BYTES);
      await target.writer.write(pgno, page);
    });
    target ??= newTarget(links, header, handle, what);
  }
  const t = target!;
  if (fullMap.pageSize !== t.pageSize) {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${full.manifest.id} has ${fullMap.pageSize}-byte pages but its chain's links have ${t.pageSize}-byte pages; the chain is malformed.`);
  }
  // The full's pages that no link replaced, up to the final page count.
  let pgno = 0;
  let pending = Buffer.alloc(0);
  for await (const chunk of await full.open(dataPartOf(full))) {
    signal.throwIfAborted();
    const data = pending.length ? Buffer.concat([pending, chunk as Buffer]) : (chunk as Buffer);
    let offset = 0;
    for (; offset + t.pageSize <= data.length; offset += t.pageSize) {
      pgno++;
      if (pgno > t.pageCount || t.written[pgno]) continue;
      if (pgno > fullMap.pageCount) break;
      t.written[pgno] = 1;
      fullMap.hashes.copy(t.hashes, (pgno - 1) * HASH_BYTES, (pgno - 1) * HASH_BYTES, pgno * HASH_BYTES);
      await t.writer.write(pgno, data.subarray(offset, offset + t.pageSize));
    }
    // A run ends with its chunk (the next chunk's pages lie in another buffer).
    await t.writer.flush();
    pending = Buffer.from(data.subarray(offset));
  }
  if (pgno !== fullMap.pageCount || pending.length) {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `The database part of backup ${full.manifest.id} holds ${pgno} pages, but its page map ${fullMap.pageCount}; it is damaged.`);
  }
  const missing = t.written.indexOf(0, 1);
  if (missing > 0) {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `No backup of the chain of ${links.at(-1)!.manifest.id} holds page ${missing}; the chain is malformed.`);
  }
  await t.writer.drain();
  await handle.truncate(t.pageCount * t.pageSize);
  return { pageSize: t.pageSize, pageCount: t.pageCount, hashes: t.hashes };
}

/**
 * The page size and count of the chain's result, from its newest link's pages header. Bounded: the
 * result cannot hold more pages than the full's file and all the links' pages together.
 */
function newTarget(links: readonly PartSource[], head: { pageSize: number; pageCount: number }, handle: FileHandle, what: string) {
  const full = dataPartOf(links[0]!);
  const most = Math.ceil(full.rawSize / head.pageSize) + links.slice(1).reduce((n, l) => n + Math.ceil(partNamed(l, PAGES_PART).rawSize / head.pageSize), 0);
  if (head.pageCount > most) {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `${what} says the database has ${head.pageCount} pages, more than its chain holds (${most}); the chain is malformed.`);
  }
  return {
    ...head,
    writer: new PageRunWriter(handle, head.pageSize),
    written: new Uint8Array(head.pageCount + 1),
    hashes: Buffer.alloc(head.pageCount * HASH_BYTES),
  };
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
 * Writes pages, merging runs of consecutive ones into one write of up to 1 MiB. A run of a few
 * pages is written at once, synchronously: a restore writes tens of thousands of scattered pages,
 * and a trip through the thread pool each cost more than the write (a page-cache copy of a few
 * µs). A long run goes through the thread pool while the next one is prepared (one in flight).
 * The pages passed must not change until `drain()`; each page is written once, so writes never
 * overlap.
 */
class PageRunWriter {
  private run: Buffer[] = [];
  private first = 0;
  private inflight: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly handle: FileHandle,
    private readonly pageSize: number,
  ) {}

  async write(pgno: number, page: Buffer): Promise<void> {
    const contiguous = this.run.length > 0 && pgno === this.first + this.run.length && this.run.length * this.pageSize < 1 << 20;
    if (!contiguous) {
      await this.flush();
      this.first = pgno;
    }
    this.run.push(page);
  }

  async flush(): Promise<void> {
    if (this.run.length === 0) return;
    const bytes = joined(this.run);
    const at = (this.first - 1) * this.pageSize;
    this.run = [];
    if (bytes.length < 64 << 10) {
      for (let done = 0; done < bytes.length; ) done += writeSync(this.handle.fd, bytes, done, bytes.length - done, at + done);
      return;
    }
    await this.inflight;
    this.inflight = this.handle.write(bytes, 0, bytes.length, at);
  }

  /** Flushes and waits until every write is done. */
  async drain(): Promise<void> {
    await this.flush();
    await this.inflight;
  }
}

/** The pages as one buffer: a view when they lie one after another in memory (pages of one chunk), else a copy. */
function joined(pages: Buffer[]): Buffer {
  const first = pages[0]!;
  const adjacent = pages.every((p, i) => p.buffer === first.buffer && p.byteOffset === first.byteOffset + i * first.length);
  return adjacent ? Buffer.from(first.buffer, first.byteOffset, first.length * pages.length) : Buffer.concat(pages);
}


function firstDifference(a: PageMap, b: PageMap): number {
  const n = Math.min(a.pageCount, b.pageCount);
  for (let i = 0; i < n; i++) {
    if (!a.hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES).equals(b.hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES))) return i + 1;
  }
  return n + 1;
}

/**
 * Opens the built file and runs SQLite's own check (E_CHECKSUM when it fails), then checks that it
 * holds only the objects `manifest` declares (unless `declared` is false). Opening a file runs none of its SQL (SQLite only
 * parses the schema); its triggers and views run later, when the database is used.
 */
export function checkDatabase(file: string, manifest: Pick<Manifest, 'id' | 'objects'>, check: 'quick_check' | 'integrity_check', declared = true): void {
  const db = new Database(file, { readonly: true });
  try {
    let result: unknown;
    try {
      result = db.pragma(check, { simple: true });
    } catch (err) {
      // A schema SQLite cannot read (an index or trigger on another table than its row says, …).
      if (!String((err as { code?: unknown }).code).startsWith('SQLITE_CORRUPT')) throw err;
      result = (err as Error).message;
    }
    if (result !== 'ok') throw new DbBackupError('E_CHECKSUM', `The database in backup ${manifest.id} fails SQLite's ${check}: ${String(result)}.`);
    if (declared) refuseUndeclared(declarableRows(schemaRows(db)), manifest.objects, manifest.id);
  } finally {
    db.close();
  }
}
