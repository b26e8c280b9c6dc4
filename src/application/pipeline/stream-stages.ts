// Contract: the stages bytes go through (count, hash, verify, decode); a stage fails its stream with
// E_CHECKSUM or E_TRUNCATED, naming the part, as soon as the bytes differ from what the manifest records.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DbBackupError, isDbBackupError } from '../../domain/errors.js';
import type { BlobDigest } from '../ports/blob-store.js';

/** Passes bytes through unchanged, telling `onChunk` how many went by (no hashing). */
export class ByteCounter extends Transform {
  constructor(private readonly onChunk: (bytes: number) => void) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.onChunk(chunk.length);
    cb(null, chunk);
  }
}

/** Passes bytes through unchanged while counting them and (unless `hash` is false) computing their sha256. */
export class HashCounter extends Transform {
  private readonly hash: Hash | undefined;
  bytes = 0;
  private digestHex: string | undefined;

  constructor(
    private readonly onChunk?: (bytes: number) => void,
    options: { hash?: boolean } = {},
  ) {
    super({ highWaterMark: 1 << 20 });
    this.hash = options.hash === false ? undefined : createHash('sha256');
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash?.update(chunk);
    this.bytes += chunk.length;
    this.onChunk?.(chunk.length);
    cb(null, chunk);
  }

  /** The hex digest; valid once the stream has ended (undefined when not hashing). */
  get sha256(): string | undefined {
    if (!this.hash) return undefined;
    this.digestHex ??= this.hash.digest('hex');
    return this.digestHex;
  }
}

/**
 * Passes bytes through and, at the end, fails the stream with E_CHECKSUM or E_TRUNCATED unless
 * exactly `expectedSize` bytes with the expected sha256 went by. It fails early on overlong input.
 */
export class VerifyingStage extends Transform {
  private readonly hash: Hash | undefined;
  private bytes = 0;

  constructor(
    /** Undefined checks only the size (the bytes are proven otherwise, see PartEntry.rawSha256). */
    private readonly expectedSha256: string | undefined,
    private readonly expectedSize: number,
    private readonly what: string,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.hash = expectedSha256 === undefined ? undefined : createHash('sha256');
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.expectedSize) {
      cb(mismatch(this.what, `is longer than the ${this.expectedSize} bytes the manifest records`));
      return;
    }
    this.hash?.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const sha256 = this.hash?.digest('hex');
    cb(digestMismatch(this.what, { size: this.expectedSize, sha256: this.expectedSha256 }, { size: this.bytes, sha256 }));
  }
}

function mismatch(what: string, how: string): DbBackupError {
  return new DbBackupError('E_CHECKSUM', `${what} ${how}; the backup is damaged, restore another one.`, {
    details: { part: what },
  });
}

/** A size and, where it is checked, a sha256 (a raw part without `rawSha256` has only its size). */
type SizeAndHash = Pick<BlobDigest, 'size'> & { sha256?: string };

/**
 * Compares bytes' size and sha256 with the manifest's: E_TRUNCATED for too few bytes,
 * E_CHECKSUM for too many or another hash, undefined when they match.
 */
export function digestMismatch(what: string, expected: SizeAndHash, actual: SizeAndHash): DbBackupError | undefined {
  if (actual.size < expected.size) {
    return new DbBackupError(
      'E_TRUNCATED',
      `${what} is truncated: ${actual.size} of ${expected.size} bytes; the backup is damaged, restore another one.`,
      { details: { part: what, bytes: actual.size, expected: expected.size } },
    );
  }
  if (actual.size > expected.size) return mismatch(what, `is longer than the ${expected.size} bytes the manifest records`);
  if (expected.sha256 !== undefined && actual.sha256 !== expected.sha256) {
    return mismatch(what, `has sha256 ${(actual.sha256 ?? '?').slice(0, 12)}…, the manifest records ${expected.sha256.slice(0, 12)}…`);
  }
  return undefined;
}

/**
 * Runs a decoder (gunzip, zstd, decrypt) and turns its low-level failures ("incorrect header
 * check", "Unknown frame descriptor") into E_CHECKSUM naming the part.
 */
export class DecodeStage extends Transform {
  private finishing: TransformCallback | undefined;
  private failed = false;

  constructor(
    private readonly inner: Transform,
    what: string,
  ) {
    super({ highWaterMark: 1 << 20 });
    inner.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) inner.pause();
    });
    inner.on('error', (err: unknown) => {
      this.failed = true;
      this.destroy(
        isDbBackupError(err)
          ? err
          : new DbBackupError('E_CHECKSUM', `${what} cannot be decoded (${(err as Error).message}); the backup is damaged.`, {
              cause: err,
              details: { part: what },
            }),
      );
    });
    inner.on('end', () => {
      const cb = this.finishing;
      this.finishing = undefined;
      cb?.();
    });
  }

  override _read(size: number): void {
    this.inner.resume();
    super._read(size);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.failed) return;
    if (this.inner.write(chunk)) cb();
    else this.inner.once('drain', () => cb());
  }

  override _flush(cb: TransformCallback): void {
    this.finishing = cb;
    this.inner.end();
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.inner.destroy();
    cb(err);
  }
}
