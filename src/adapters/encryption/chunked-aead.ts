import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { StreamCipher } from '../../application/ports/stream-cipher.js';
import { DbBackupError } from '../../domain/errors.js';

const MAGIC = Buffer.from('DBBE', 'ascii');
const VERSION = 1;
const TAG = 16;
export const DEFAULT_CHUNK = 64 * 1024;
/**
 * The largest chunk size a reader accepts (writers use DEFAULT_CHUNK). A chunk is held whole until
 * its tag is checked, so a crafted header must not make the reader buffer more.
 */
export const MAX_CHUNK = 16 << 20;

/*
 * Format (one part):
 *   header  = "DBBE" | version u8 | chunk size u32be | nonce prefix (7 bytes) | key id length u8 | key id
 *   chunk i = AES-256-GCM(plaintext[i]) | 16-byte tag, every chunk `chunk size` bytes of plaintext
 *             except the last, which may be shorter (or empty) and is always present.
 *   nonce i = prefix | i as u32be | 1 if last else 0      AAD = header | context
 * A flipped bit fails that chunk's tag; reordering changes i; truncation at a chunk boundary leaves
 * a non-final chunk where the final one must be; a chunk moved from another part or backup fails
 * because the header's random prefix and the context differ. Nothing unauthenticated is emitted.
 */

function nonce(prefix: Buffer, index: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0);
  n.writeUInt32BE(index, 7);
  n[11] = last ? 1 : 0;
  return n;
}

class Encryptor extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private index = 0;
  private readonly header: Buffer;
  private readonly aad: Buffer;
  private readonly prefix = randomBytes(7);

  constructor(
    private readonly key: Buffer,
    keyId: string,
    context: string,
    private readonly chunkSize: number,
  ) {
    super({ highWaterMark: 1 << 20 });
    const id = Buffer.from(keyId, 'utf8');
    if (id.length > 255) throw new DbBackupError('E_INTERNAL', 'Key id too long.');
    const fixed = Buffer.alloc(4 + 1 + 4);
    MAGIC.copy(fixed, 0);
    fixed[4] = VERSION;
    fixed.writeUInt32BE(chunkSize, 5);
    this.header = Buffer.concat([fixed, this.prefix, Buffer.from([id.length]), id]);
    this.aad = Buffer.concat([this.header, Buffer.from(context, 'utf8')]);
    this.push(this.header);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    // Keep at least one byte back: only a later byte proves a full chunk is not the last.
    while (this.pendingBytes > this.chunkSize) this.seal(this.takeBytes(this.chunkSize), false);
    cb();
  }

  override _flush(cb: TransformCallback): void {
    this.seal(this.takeBytes(this.pendingBytes), true);
    cb();
  }

  private takeBytes(n: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = n < all.length ? [all.subarray(n)] : [];
    this.pendingBytes = all.length - n;
    return all.subarray(0, n);
  }

  private seal(plain: Buffer, last: boolean): void {
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce(this.prefix, this.index++, last));
    cipher.setAAD(this.aad);
    this.push(Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]));
  }
}

class Decryptor extends Transform {
  private buffer: Buffer = Buffer.alloc(0);
  /**
   * Input not yet parsed, kept as it came until `needed` bytes are there: joining it on every
   * write would copy a large (crafted) chunk size over and over.
   */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes needed before parsing can move on: the header, then one sealed chunk and a byte past it. */
  private needed = 17;
  private header: { chunkSize: number; prefix: Buffer; aad: Buffer } | undefined;
  private index = 0;

  constructor(
    private readonly key: Buffer,
    private readonly keyId: string,
    private readonly context: string,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < this.needed) return cb();
    this.join();
    try {
      if (!this.header && !this.readHeader()) return cb(this.keep());
      const sealed = this.header!.chunkSize + TAG;
      while (this.buffer.length > sealed) {
        this.push(this.open(this.buffer.subarray(0, sealed), false));
        this.buffer = this.buffer.subarray(sealed);
      }
      this.needed = sealed + 1;
      cb(this.keep());
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    this.join();
    try {
      if (!this.header && !this.readHeader()) throw this.fail('is truncated inside its encryption header');
      if (this.buffer.length < TAG) throw this.fail('is truncated (its last encrypted chunk is missing)');
      this.push(this.open(this.buffer, true));
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  /** Moves the pending input into `buffer`, one copy at most. */
  private join(): void {
    this.buffer = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Puts the unparsed rest of `buffer` back in front of the pending input. */
  private keep(): undefined {
    if (this.buffer.length > 0) {
      this.pending = [this.buffer];
      this.pendingBytes = this.buffer.length;
    }
    this.buffer = Buffer.alloc(0);
    return undefined;
  }

  private readHeader(): boolean {
    if (this.buffer.length < 17) return false;
    if (!this.buffer.subarray(0, 4).equals(MAGIC)) throw this.fail('does not start with a dbbackup encryption header');
    if (this.buffer[4] !== VERSION) throw this.fail(`uses encryption format ${this.buffer[4]}, unknown to this dbbackup`);
    const chunkSize = this.buffer.readUInt32BE(5);
    const idLength = this.buffer[16]!;
    this.needed = 17 + idLength;
    if (this.buffer.length < this.needed) return false;
    const keyId = this.buffer.toString('utf8', 17, 17 + idLength);
    if (keyId !== this.keyId) throw this.fail(`was encrypted with key ${keyId}, but the backup names key ${this.keyId}`);
    if (chunkSize < 1 || chunkSize > MAX_CHUNK) throw this.fail('has a damaged encryption header');
    const header = this.buffer.subarray(0, 17 + idLength);
    this.header = { chunkSize, prefix: Buffer.from(this.buffer.subarray(9, 16)), aad: Buffer.concat([header, Buffer.from(this.context, 'utf8')]) };
    this.buffer = this.buffer.subarray(17 + idLength);
    return true;
  }

  private open(sealed: Buffer, last: boolean): Buffer {
    const h = this.header!;
    const decipher = createDecipheriv('aes-256-gcm', this.key, nonce(h.prefix, this.index, last));
    decipher.setAAD(h.aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
    try {
      const plain = decipher.update(sealed.subarray(0, sealed.length - TAG));
      decipher.final(); // GCM yields no bytes here; it checks the tag
      this.index++;
      return plain;
    } catch {
      throw this.fail(`fails authentication at encrypted chunk ${this.index} (damaged, truncated, reordered or from another part)`);
    }
  }

  private fail(how: string): DbBackupError {
    return new DbBackupError('E_DECRYPT', `${this.context} ${how}; key ${this.keyId}.`, { details: { context: this.context, keyId: this.keyId } });
  }
}

export class ChunkedAesGcm implements StreamCipher {
  readonly id = 'aes-256-gcm';
  readonly extension = 'enc';

  constructor(private readonly chunkSize = DEFAULT_CHUNK) {
    if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_CHUNK) {
      throw new DbBackupError('E_INTERNAL', `Encryption chunk size must be 1 B–16 MiB, got ${chunkSize}.`);
    }
  }

  encryptor(key: Buffer, keyId: string, context: string): Transform {
    return new Encryptor(key, keyId, context, this.chunkSize);
  }

  decryptor(key: Buffer, keyId: string, context: string): Transform {
    return new Decryptor(key, keyId, context);
  }
}
