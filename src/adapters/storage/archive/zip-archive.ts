import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import { createInflateRaw } from 'node:zlib';
import { Zip, ZipDeflate } from 'fflate';
import type { BlobInfo, BlobStore, PutOptions } from '../../../application/ports/blob-store.js';
import { DbBackupError, isNoSpace, noSpaceError } from '../../../domain/errors.js';
import { syncFile } from '../../../infrastructure/files.js';
import { Mutex } from '../../../infrastructure/mutex.js';
import { sweepTempBeside, tempBeside } from '../../../infrastructure/scratch.js';
import { limitOutput } from '../../../infrastructure/output-limit.js';
import { archiveReadError, checkEntryName, readOnly, writeOnly } from './archive-errors.js';

/** Classic zip (fflate writes no Zip64): entries and the whole file must stay under 4 GiB. */
const ZIP32_LIMIT = 0xffffffff;

/**
 * Writes one backup as a `.zip` through fflate's streaming deflate, one entry at a time
 * (sizes go in data descriptors, so nothing is spooled). Visible at its name only after commit();
 * the file is 0600 (a backup is the whole database).
 */
export class ZipArchiveWriter implements BlobStore {
  private readonly zip: Zip;
  private readonly file: WriteStream;
  private readonly temp: string;
  private readonly swept: Promise<unknown>;
  private readonly lock = new Mutex();
  private readonly entries = new Map<string, BlobInfo>();
  private written = 0;
  private failure: Error | undefined;
  private finished: Promise<void>;
  private resolveFinished!: () => void;

  constructor(
    private readonly path: string,
    private readonly level: number,
  ) {
    this.temp = tempBeside(path);
    // What a killed run left beside the archive goes now (awaited before the rename).
    this.swept = sweepTempBeside(path).catch(() => []);
    this.file = createWriteStream(this.temp, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20 });
    this.file.on('error', (err) => {
      this.failure ??= err;
    });
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve;
    });
    this.zip = new Zip((err, chunk, final) => {
      if (err) {
        this.failure ??= err;
        return;
      }
      this.written += chunk.length;
      this.file.write(chunk);
      if (final) this.resolveFinished();
    });
  }

  get location(): string {
    return this.path;
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<BlobInfo> {
    return this.lock.run(async () => {
      // Unix mode 0600 (regular file), as the archive itself: `unzip` then gives owner-only files.
      const entry = new ZipDeflate(key, { level: this.level as 6 });
      entry.os = 3;
      entry.attrs = 0o100600 * 0x10000;
      this.zip.add(entry);
      let size = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        options.signal?.throwIfAborted();
        if (this.failure) throw this.failed();
        size += chunk.length;
        if (size > ZIP32_LIMIT || this.written > ZIP32_LIMIT) {
          throw new DbBackupError(
            'E_UNSUPPORTED',
            `${this.path}: a .zip holds at most 4 GiB (no Zip64 support); write a .tar.gz or a repository folder instead.`,
          );
        }
        entry.push(chunk, false);
        if (this.file.writableNeedDrain) await this.drained();
      }
      if (this.failure) throw this.failed();
      entry.push(new Uint8Array(0), true);
      const info = { key, size, modifiedAt: new Date() };
      this.entries.set(key, info);
      return info;
    });
  }

  async commit(): Promise<{ size: number }> {
    return this.lock.run(async () => {
      this.zip.end();
      await this.finished;
      if (this.written > ZIP32_LIMIT) {
        throw new DbBackupError('E_UNSUPPORTED', `${this.path}: the archive passed 4 GiB; a .zip cannot hold it. Use .tar.gz.`);
      }
      await new Promise<void>((resolve, reject) => this.file.end((err?: Error | null) => (err ? reject(err) : resolve())));
      if (this.failure) throw this.failed();
      await syncFile(this.temp);
      await this.swept;
      await rename(this.temp, this.path);
      return { size: this.written };
    });
  }

  /** Resolves when the file takes more bytes, or failed (a full disk never drains). */
  private drained(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        this.file.off('drain', done);
        this.file.off('error', done);
        resolve();
      };
      this.file.once('drain', done);
      this.file.once('error', done);
    });
  }

  /** The write failure, as E_NO_SPACE naming the archive when the disk is full. */
  private failed(): Error {
    const err = this.failure!;
    return isNoSpace(err) ? noSpaceError(err, this.path, 'free space in that folder or choose another --out.') : err;
  }

  async abort(): Promise<void> {
    this.zip.terminate();
    this.file.destroy();
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
    this.entries.delete(key);
  }
}

interface ZipEntry {
  info: BlobInfo;
  method: number;
  compressedSize: number;
  localHeaderOffset: number;
}

/** The largest central directory read into memory (a dbbackup archive's is a few KiB per part). */
export const ZIP_DIRECTORY_LIMIT = 64 << 20;

/** Reads a `.zip` through its central directory: every entry is a ranged read of the file. */
export class ZipArchiveReader implements BlobStore {
  private index: Map<string, ZipEntry> | undefined;

  constructor(private readonly path: string) {}

  get location(): string {
    return this.path;
  }

  private async load(): Promise<Map<string, ZipEntry>> {
    if (this.index) return this.index;
    let handle: FileHandle | undefined;
    try {
      handle = await open(this.path, 'r');
      const { size } = await handle.stat();
      const tailLength = Math.min(size, 65_557);
      const tail = Buffer.alloc(tailLength);
      await handle.read(tail, 0, tailLength, size - tailLength);
      let eocd = -1;
      for (let i = tailLength - 22; i >= 0; i--) {
        if (tail.readUInt32LE(i) === 0x06054b50) {
          eocd = i;
          break;
        }
      }
      if (eocd < 0) {
        throw new DbBackupError('E_TRUNCATED', `${this.path} has no zip directory at its end: it is truncated or not a zip archive.`);
      }
      const count = tail.readUInt16LE(eocd + 10);
      const cdSize = tail.readUInt32LE(eocd + 12);
      const cdOffset = tail.readUInt32LE(eocd + 16);
      if (cdOffset + cdSize > size) throw new DbBackupError('E_TRUNCATED', `${this.path} is truncated: its zip directory points past the end.`);
      if (cdSize > ZIP_DIRECTORY_LIMIT) {
        throw new DbBackupError('E_TOO_LARGE', `${this.path} has a zip directory of ${cdSize} bytes, over the ${ZIP_DIRECTORY_LIMIT >> 20} MiB a dbbackup archive may have.`);
      }
      const cd = Buffer.alloc(cdSize);
      await handle.read(cd, 0, cdSize, cdOffset);
      const index = new Map<string, ZipEntry>();
      let p = 0;
      for (let n = 0; n < count; n++) {
        if (p + 46 > cd.length || cd.readUInt32LE(p) !== 0x02014b50) {
          throw new DbBackupError('E_FOREIGN_ARCHIVE', `${this.path} has a damaged zip directory.`);
        }
        const method = cd.readUInt16LE(p + 10);
        const dosTime = cd.readUInt16LE(p + 12);
        const dosDate = cd.readUInt16LE(p + 14);
        const compressedSize = cd.readUInt32LE(p + 20);
        const size = cd.readUInt32LE(p + 24);
        const nameLength = cd.readUInt16LE(p + 28);
        const extraLength = cd.readUInt16LE(p + 30);
        const commentLength = cd.readUInt16LE(p + 32);
        const localHeaderOffset = cd.readUInt32LE(p + 42);
        const key = cd.toString('utf8', p + 46, p + 46 + nameLength);
        const modifiedAt = new Date(
          1980 + (dosDate >> 9),
          ((dosDate >> 5) & 15) - 1,
          dosDate & 31,
          dosTime >> 11,
          (dosTime >> 5) & 63,
          (dosTime & 31) * 2,
        );
        checkEntryName(this.path, key);
        if (!key.endsWith('/')) index.set(key, { info: { key, size, modifiedAt }, method, compressedSize, localHeaderOffset });
        p += 46 + nameLength + extraLength + commentLength;
      }
      this.index = index;
      return index;
    } catch (err) {
      throw archiveReadError(this.path, err);
    } finally {
      await handle?.close();
    }
  }

  async get(key: string): Promise<Readable> {
    const entry = (await this.load()).get(key);
    if (!entry) throw new DbBackupError('E_NOT_FOUND', `${this.path} has no entry ${key}.`);
    const handle = await open(this.path, 'r');
    let dataStart: number;
    try {
      const header = Buffer.alloc(30);
      const { bytesRead } = await handle.read(header, 0, 30, entry.localHeaderOffset);
      if (bytesRead < 30 || header.readUInt32LE(0) !== 0x04034b50) {
        throw new DbBackupError('E_FOREIGN_ARCHIVE', `${this.path}: entry ${key} has a damaged header.`);
      }
      dataStart = entry.localHeaderOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
    } finally {
      await handle.close();
    }
    if (entry.compressedSize === 0) return Readable.from([]);
    const raw = createReadStream(this.path, {
      start: dataStart,
      end: dataStart + entry.compressedSize - 1,
      highWaterMark: 1 << 20,
    });
    if (entry.method === 0) return raw;
    if (entry.method !== 8) throw new DbBackupError('E_FOREIGN_ARCHIVE', `${this.path}: entry ${key} uses zip method ${entry.method}, not deflate.`);
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    // An entry inflates to its declared size at most (a zip bomb fails at that point).
    const inflate = limitOutput(createInflateRaw(), entry.info.size === 0xffffffff ? undefined : entry.info.size, (max) =>
      new DbBackupError('E_CHECKSUM', `${this.path}: entry ${key} inflates to more than the ${max} bytes its zip directory records; the archive is damaged.`),
    );
    // Piped by hand, not by pipeline(): pipeline would destroy `out` with zlib's raw error ("invalid
    // distances set") before it could be mapped, and the reader would see no error code.
    const fail = (err: unknown) => {
      if (!out.destroyed) out.destroy(archiveReadError(this.path, err) as Error);
      raw.destroy();
      inflate.destroy();
    };
    raw.on('error', fail);
    inflate.on('error', fail);
    out.on('close', () => {
      raw.destroy();
      inflate.destroy();
    });
    raw.pipe(inflate).pipe(out);
    return out;
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    for (const e of (await this.load()).values()) if (e.info.key.startsWith(prefix)) yield e.info;
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    return (await this.load()).get(key)?.info;
  }

  async put(): Promise<BlobInfo> {
    throw readOnly(this.path);
  }

  async delete(): Promise<void> {
    throw readOnly(this.path);
  }
}
