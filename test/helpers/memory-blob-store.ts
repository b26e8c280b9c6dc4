import { Readable } from 'node:stream';
import type { BlobInfo, BlobStore, ByteRange, PutOptions } from '../../src/application/ports/blob-store.js';
import { DbBackupError } from '../../src/domain/errors.js';

/** An in-memory BlobStore for unit tests (test only: real stores are tested against real services). */
export class MemoryBlobStore implements BlobStore {
  readonly objects = new Map<string, { bytes: Buffer; modifiedAt: Date }>();
  constructor(readonly location = 'memory://test') {}
  /** When set, put() fails after consuming this many bytes of the body. */
  failAfterBytes: number | undefined;

  async put(key: string, body: Readable, _options?: PutOptions): Promise<BlobInfo> {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of body as AsyncIterable<Buffer>) {
      n += c.length;
      if (this.failAfterBytes !== undefined && n > this.failAfterBytes) throw new DbBackupError('E_STORAGE', 'injected failure');
      chunks.push(c);
    }
    const bytes = Buffer.concat(chunks);
    const modifiedAt = new Date();
    this.objects.set(key, { bytes, modifiedAt });
    return { key, size: bytes.length, modifiedAt };
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const o = this.objects.get(key);
    if (!o) throw new DbBackupError('E_NOT_FOUND', `no ${key}`);
    const bytes = range ? o.bytes.subarray(range.start, range.end === undefined ? undefined : range.end + 1) : o.bytes;
    return Readable.from([bytes]);
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    for (const [key, o] of this.objects) if (key.startsWith(prefix)) yield { key, size: o.bytes.length, modifiedAt: o.modifiedAt };
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    const o = this.objects.get(key);
    return o ? { key, size: o.bytes.length, modifiedAt: o.modifiedAt } : undefined;
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }
}
