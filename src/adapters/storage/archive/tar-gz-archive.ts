import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import tar from 'tar-stream';
import type { BlobInfo, BlobStore, PutOptions } from '../../../application/ports/blob-store.js';
import { DbBackupError, isNoSpace, noSpaceError } from '../../../domain/errors.js';
import { syncFile } from '../../../infrastructure/files.js';
import { Mutex } from '../../../infrastructure/mutex.js';
import { sweepTempBeside, tempBeside } from '../../../infrastructure/scratch.js';
import { archiveReadError, checkEntryName, readOnly, writeOnly } from './archive-errors.js';
import { spool } from './spool.js';

/**
 * Writes one backup as a `.tar.gz`: entries in the order they complete, the whole gzip-compressed.
 * The file appears at its final name only on `commit()`; until then it is a temp file beside it.
 * The file and its entries are 0600 (a backup is the whole database).
 */
export class TarGzArchiveWriter implements BlobStore {
  private readonly pack = tar.pack();
  private readonly temp: string;
  private readonly swept: Promise<unknown>;
  private readonly done: Promise<void>;
  private readonly lock = new Mutex();
  private readonly entries = new Map<string, BlobInfo>();
  private failure: unknown;

  constructor(
    private readonly path: string,
    level: number,
  ) {
    this.temp = tempBeside(path);
    // What a killed run left beside the archive goes now (awaited before the rename).
    this.swept = sweepTempBeside(path).catch(() => []);
    this.done = pipeline(this.pack, createGzip({ level }), createWriteStream(this.temp, { flags: 'wx', mode: 0o600 })).catch((err: unknown) => {
      throw isNoSpace(err) ? noSpaceError(err, path, 'free space in that folder or choose another --out.') : err;
    });
    this.done.catch((err: unknown) => {
      this.failure = err;
    });
  }

  get location(): string {
    return this.path;
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<BlobInfo> {
    if (options.size !== undefined) return this.lock.run(() => this.append(key, body, options.size!, options.signal));
    const spooled = await spool(body, options.signal);
    try {
      return await this.lock.run(() => this.append(key, spooled.open(), spooled.size, options.signal));
    } finally {
      await spooled.dispose();
    }
  }

  private async append(key: string, body: Readable, size: number, signal?: AbortSignal): Promise<BlobInfo> {
    const modifiedAt = new Date();
    try {
      // 0600: `tar xzf` by another user, or with -p, must not hand the database to every local user.
      const entry = this.pack.entry({ name: key, size, mode: 0o600, mtime: modifiedAt });
      await pipeline(body, entry, signal ? { signal } : {});
    } catch (err) {
      throw await this.writeFailure(err);
    }
    const info = { key, size, modifiedAt };
    this.entries.set(key, info);
    return info;
  }

  async commit(): Promise<{ size: number }> {
    try {
      this.pack.finalize();
      await this.done;
    } catch (err) {
      throw await this.writeFailure(err);
    }
    const size = await syncFile(this.temp);
    await this.swept;
    await rename(this.temp, this.path);
    return { size };
  }

  /**
   * A write that failed (a full disk) destroys the pack, and whatever touches the pack next (an
   * entry, finalize) fails with tar-stream's "already finalized or destroyed": the write's own
   * error, once the pipeline settled, is the one to report.
   */
  private async writeFailure(err: unknown): Promise<unknown> {
    if (this.pack.destroying) await this.done.catch(() => undefined);
    return this.failure ?? err;
  }

  async abort(): Promise<void> {
    this.pack.destroy();
    await this.done.catch(() => undefined);
    await rm(this.temp, { force: true });
  }

  async get(): Promise<Readable> {
    throw writeOnly(this.path);
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    for (const info of this.entries.values()) if (info.key.startsWith(prefix)) yield info;
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    return this.entries.get(key);
  }

  async delete(key: string): Promise<void> {
    // Entries cannot be taken out of a tar stream; an aborted archive is deleted whole.
    this.entries.delete(key);
  }
}

type TarSource = tar.ExtractEvents['entry'][1];

function tooMuchMetadata(path: string): DbBackupError {
  return new DbBackupError(
    'E_TOO_LARGE',
    `${path} holds more than ${ARCHIVE_METADATA_LIMIT >> 20} MiB of entry names and JSON files; it is not a dbbackup backup (or was crafted to exhaust memory).`,
  );
}

interface TarEntry {
  info: BlobInfo;
  index: number;
}

const SMALL_JSON = 4 << 20;
/**
 * What an archive's index may hold in memory in all: the names of its entries (each counted with
 * ENTRY_OVERHEAD bytes for its record) and the small JSON entries kept whole. A dbbackup backup
 * needs a tiny fraction of it; a crafted archive (thousands of 4 MiB JSON entries or 4 MiB names,
 * each compressed to a few KiB) is refused instead of filling memory.
 */
export const ARCHIVE_METADATA_LIMIT = 64 << 20;
const ENTRY_OVERHEAD = 256;

/**
 * Reads a `.tar.gz` archive as a read-only store. The first use scans it once (keeping small
 * JSON entries such as manifests in memory); `get` then streams forward from the last position,
 * so reading parts in archive order costs one more pass.
 */
export class TarGzArchiveReader implements BlobStore {
  private index: Map<string, TarEntry> | undefined;
  private readonly small = new Map<string, Buffer>();
  private cursor: { iterator: AsyncIterator<TarSource>; next: number; busy: boolean; close(): void } | undefined;

  constructor(private readonly path: string) {}

  get location(): string {
    return this.path;
  }

  private async scan(): Promise<Map<string, TarEntry>> {
    if (this.index) return this.index;
    const index = new Map<string, TarEntry>();
    const extract = tar.extract();
    const reading = pipeline(createReadStream(this.path, { highWaterMark: 1 << 20 }), createGunzip(), extract);
    reading.catch(() => undefined);
    try {
      let i = 0;
      let held = 0;
      for await (const entry of extract) {
        const h = entry.header;
        checkEntryName(this.path, h.name);
        if (h.type === 'file' || h.type === 'contiguous-file') {
          const info = { key: h.name, size: h.size ?? 0, modifiedAt: h.mtime ?? new Date(0) };
          const small = h.name.endsWith('.json') && info.size <= SMALL_JSON;
          held += h.name.length + ENTRY_OVERHEAD + (small ? info.size : 0);
          if (held > ARCHIVE_METADATA_LIMIT) throw tooMuchMetadata(this.path);
          index.set(h.name, { info, index: i });
          if (small) {
            const chunks: Buffer[] = [];
            for await (const c of entry as AsyncIterable<Buffer>) chunks.push(c);
            this.small.set(h.name, Buffer.concat(chunks));
          } else {
            // Draining: the extract iterator waits for this entry to end before the next.
            entry.resume();
          }
        } else {
          entry.resume();
        }
        i++;
      }
      await reading;
    } catch (err) {
      throw archiveReadError(this.path, err);
    }
    if (index.size === 0) throw new DbBackupError('E_FOREIGN_ARCHIVE', `${this.path} is an empty archive, not a dbbackup backup.`);
    this.index = index;
    return index;
  }

  async get(key: string): Promise<Readable> {
    const index = await this.scan();
    const target = index.get(key);
    if (!target) throw new DbBackupError('E_NOT_FOUND', `${this.path} has no entry ${key}.`);
    const cached = this.small.get(key);
    if (cached) return Readable.from([cached]);
    // The shared cursor reads the archive front to back (parts are read in archive order). When another
    // reader holds it, this one gets a cursor of its own, closed when its entry has been read.
    let cursor = this.cursor;
    if (cursor?.busy) cursor = this.openCursor();
    else if (!cursor || cursor.next > target.index) {
      cursor?.close();
      cursor = this.cursor = this.openCursor();
    }
    cursor.busy = true;
    try {
      for (;;) {
        const step = await cursor.iterator.next();
        if (step.done) throw new DbBackupError('E_TRUNCATED', `${this.path} ended before entry ${key}.`);
        const entry = step.value;
        const position = cursor.next++;
        if (position === target.index) {
          const out = new PassThrough({ highWaterMark: 1 << 20 });
          pipeline(entry, out)
            .then(() => {
              cursor.busy = false;
              if (cursor !== this.cursor) cursor.close();
            })
            .catch(() => {
              cursor.close();
              if (this.cursor === cursor) this.cursor = undefined;
            });
          return out;
        }
        entry.resume();
      }
    } catch (err) {
      cursor.close();
      if (this.cursor === cursor) this.cursor = undefined;
      throw archiveReadError(this.path, err);
    }
  }

  private openCursor() {
    const extract = tar.extract();
    const source = createReadStream(this.path, { highWaterMark: 1 << 20 });
    const gunzip = createGunzip();
    const reading = pipeline(source, gunzip, extract);
    const iterator = extract[Symbol.asyncIterator]();
    reading.catch((err: unknown) => extract.destroy(archiveReadError(this.path, err) as Error));
    return {
      iterator,
      next: 0,
      busy: false,
      close: () => {
        source.destroy();
        extract.destroy();
      },
    };
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    for (const e of (await this.scan()).values()) if (e.info.key.startsWith(prefix)) yield e.info;
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    return (await this.scan()).get(key)?.info;
  }

  async put(): Promise<BlobInfo> {
    throw readOnly(this.path);
  }

  async delete(): Promise<void> {
    throw readOnly(this.path);
  }

  close(): void {
    this.cursor?.close();
    this.cursor = undefined;
  }
}
