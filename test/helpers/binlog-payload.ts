import { createRequire } from 'node:module';
import { crc32 } from 'node:zlib';

const require = createRequire(import.meta.url);
const zstd = require('zstd-napi') as { compress(data: Uint8Array, p?: Record<string, number>): Buffer };

/** A packed integer (MySQL's net_store_length). */
function packed(n: number): Buffer {
  if (n < 251) return Buffer.from([n]);
  if (n < 1 << 16) return Buffer.from([0xfc, n & 0xff, n >> 8]);
  if (n < 1 << 24) return Buffer.from([0xfd, n & 0xff, (n >> 8) & 0xff, n >> 16]);
  const b = Buffer.alloc(9);
  b[0] = 0xfe;
  b.writeBigUInt64LE(BigInt(n), 1);
  return b;
}

/** An event without its 4-byte CRC32 (MySQL stores a compressed transaction's events without). */
export function withoutChecksum(event: Buffer): Buffer {
  const out = Buffer.from(event.subarray(0, event.length - 4));
  out.writeUInt32LE(out.length, 9);
  return out;
}

export interface PayloadOptions {
  /** 0 zstd (default), 255 none, anything else as given. */
  compression?: number;
  /** The uncompressed size the event declares (default: the true one). */
  declared?: number;
  /** The compressed bytes to store instead of compressing `inner`. */
  raw?: Buffer;
  /** Add a CRC32 to the outer event (the log has checksums). */
  checksum?: boolean;
  logPos?: number;
}

/**
 * A MySQL 8 TRANSACTION_PAYLOAD event (type 40) as the server writes it: the fields size,
 * compression type and uncompressed size as `type, length, value` packed integers, the end
 * mark, then the inner events (without checksums) compressed with zstd.
 */
export function payloadEvent(inner: Buffer[], o: PayloadOptions = {}): Buffer {
  const plain = Buffer.concat(inner);
  const compression = o.compression ?? 0;
  const body = o.raw ?? (compression === 0 ? zstd.compress(plain, { compressionLevel: 3 }) : plain);
  const field = (type: number, value: number) => {
    const v = packed(value);
    return Buffer.concat([packed(type), packed(v.length), v]);
  };
  const fields = Buffer.concat([field(1, body.length), field(2, compression), field(3, o.declared ?? plain.length), Buffer.from([0])]);
  const head = Buffer.alloc(19);
  head.writeUInt32LE(1_700_000_000, 0);
  head[4] = 40;
  head.writeUInt32LE(1, 5);
  head.writeUInt32LE(o.logPos ?? 0, 13);
  const event = Buffer.concat([head, fields, body, Buffer.alloc(o.checksum ? 4 : 0)]);
  event.writeUInt32LE(event.length, 9);
  if (o.checksum) event.writeUInt32LE(crc32(event.subarray(0, event.length - 4)), event.length - 4);
  return event;
}
