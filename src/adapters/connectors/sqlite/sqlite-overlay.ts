import { createReadStream, createWriteStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { PartSource } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { Manifest, PartEntry } from '../../../domain/manifest.js';
import { syncFile } from '../../../infrastructure/files.js';
import { Database } from './sqlite-file.js';
import { schemaRows } from './sqlite-schema.js';
import { declarableRows, refuseUndeclared } from './sqlite-schema-check.js';
import { PageMapBuilder, readPageMap, readPages, type PageMap, HASH_BYTES } from './sqlite-page-map.js';

/** The parts of an incremental or differential (role `changes`), and of a full's page map. */
export const PAGES_PART = 'changes/pages.bin';
export const PAGE_MAP_PART = 'changes/pagemap.bin';

/** The SQLite position a full or a link is consistent at: its file's page size and count, and the part holding its page map. */
export interface SqlitePosition {
  pageSize: number;
  pageCount: number;
  /** Part name of the page map in that backup. */
  pageMap: string;
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

/** The page map a backup recorded (a full's or a link's), read from its parts. */
export async function pageMapOf(parts: PartSource): Promise<PageMap> {
  const position = parts.manifest.logPosition as Partial<SqlitePosition> | null;
  const name = typeof position?.pageMap === 'string' ? position.pageMap : PAGE_MAP_PART;
  return readPageMap(await parts.open(partNamed(parts, name)), `Part ${name} of backup ${parts.manifest.id}`);
}

/**
 * Builds in `file` the database a chain restores to: the full's file, then each link's changed
 * pages written over it in order, the file cut to the last link's page count. With more than one
 * link the result is proven: its page map must equal the last link's, and `PRAGMA integrity_check`
 * must pass. A single full keeps the lighter quick_check it always had.
 */
export async function assembleChain(links: readonly PartSource[], file: string, signal: AbortSignal): Promise<void> {
  const full = links[0]!;
  await pipeline(await full.open(dataPartOf(full)), createWriteStream(file, { mode: 0o600, highWaterMark: 1 << 20 }), { signal });
  for (const link of links.slice(1)) {
    signal.throwIfAborted();
    await overlayPages(link, file);
  }
  await syncFile(file);
  if (links.length > 1) await proveAssembled(links.at(-1)!, file, signal);
  checkDatabase(file, links.at(-1)!.manifest, links.length > 1 ? 'integrity_check' : 'quick_check');
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
    await writer.flush();
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

/** Writes pages, merging runs of consecutive ones into one write of up to 1 MiB. */
class PageRunWriter {
  private run: Buffer[] = [];
  private first = 0;

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
    const bytes = Buffer.concat(this.run);
    await this.handle.write(bytes, 0, bytes.length, (this.first - 1) * this.pageSize);
    this.run = [];
  }
}

/** The page map of the file a chain built must be the one its last link recorded. */
async function proveAssembled(last: PartSource, file: string, signal: AbortSignal): Promise<void> {
  const expected = await pageMapOf(last);
  const built = await mapOfFile(file, expected.pageSize, signal);
  if (built.pageCount !== expected.pageCount || !built.hashes.equals(expected.hashes)) {
    const first = firstDifference(built, expected);
    throw new DbBackupError(
      'E_CHECKSUM',
      `The database rebuilt from the chain of backup ${last.manifest.id} differs from what that backup recorded (page ${first}); a link is damaged. Nothing was restored.`,
    );
  }
}

export async function mapOfFile(file: string, pageSize: number, signal?: AbortSignal): Promise<PageMap> {
  const builder = new PageMapBuilder(pageSize);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20, signal })) builder.push(chunk as Buffer);
  return builder.finish();
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
