import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';

/**
 * Hashes an upload on its way to the service: MD5 of the whole object and, for S3-style multipart
 * ETags, the MD5 of every part (`partSize` bytes, or `partSize(i)` for part i when parts grow).
 * Memory is constant (hash states only).
 */
export class UploadDigest {
  bytes = 0;
  private readonly whole: Hash = createHash('md5');
  private part: Hash = createHash('md5');
  private partBytes = 0;
  private readonly partDigests: Buffer[] = [];

  private readonly partSize: (index: number) => number;

  constructor(partSize: number | ((index: number) => number)) {
    this.partSize = typeof partSize === 'number' ? () => partSize : partSize;
  }

  /** Yields `body`'s chunks unchanged while hashing them. */
  async *tap(body: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
    for await (const raw of body) {
      const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
      this.update(chunk);
      yield chunk;
    }
  }

  update(chunk: Buffer): void {
    this.whole.update(chunk);
    this.bytes += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const size = this.partSize(this.partDigests.length);
      const take = Math.min(size - this.partBytes, chunk.length - offset);
      this.part.update(chunk.subarray(offset, offset + take));
      this.partBytes += take;
      offset += take;
      if (this.partBytes === size) this.closePart();
    }
  }

  /** Hex MD5 of everything that went by; call once, after the body ended. */
  md5Hex(): string {
    this.finish();
    return this.wholeHex!;
  }

  /** The S3 multipart ETag (`md5(md5(part1)…md5(partN))-N`) for the same bytes. */
  multipartEtag(): string {
    this.finish();
    const joined = createHash('md5').update(Buffer.concat(this.partDigests)).digest('hex');
    return `${joined}-${this.partDigests.length}`;
  }

  private wholeHex: string | undefined;

  private finish(): void {
    if (this.wholeHex !== undefined) return;
    if (this.partBytes > 0) this.closePart();
    this.wholeHex = this.whole.digest('hex');
  }

  private closePart(): void {
    this.partDigests.push(this.part.digest());
    this.part = createHash('md5');
    this.partBytes = 0;
  }
}

/** MD5 (hex) of a stream, read to its end; for read-back verification. */
export async function md5OfStream(stream: Readable): Promise<{ md5: string; bytes: number }> {
  const hash = createHash('md5');
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { md5: hash.digest('hex'), bytes };
}
