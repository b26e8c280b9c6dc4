import { createRequire } from 'node:module';
import { crc32 } from 'node:zlib';
import { DbBackupError } from '../../../domain/errors.js';
import { type FormatDescription, HEADER_LENGTH } from './mysql-binlog-events.js';

type Binding = typeof import('zstd-napi/binding.js');
const require = createRequire(import.meta.url);
let binding: Binding | undefined;

/** MySQL 8's Transaction_payload fields (libbinlogevents codecs/binary.h), each `type, length, value` as packed integers. */
const Field = { END: 0, SIZE: 1, COMPRESSION: 2, UNCOMPRESSED_SIZE: 3 } as const;
const ZSTD = 0;
const NONE = 255;
/** An inner event larger than this is refused, as an outer one is (the server's max_allowed_packet limit is 1 GiB). */
export const MAX_INNER_EVENT = 1 << 30;
/** The largest zstd window a payload may ask for (2^25 = 32 MiB; MySQL compresses at level 3, a 2 MiB window). */
const WINDOW_LOG_MAX = 25;
/** Decoded output is taken this much at a time: memory is one inner event plus this. */
const CHUNK = 256 << 10;

export interface PayloadHeader {
  compression: number;
  /** Bytes of (compressed) payload after the header fields. */
  size: number;
  /** What the payload decodes to, as the event declares it (checked, never allocated). */
  uncompressedSize: number;
  payload: Buffer;
}

/**
 * The fields of a TRANSACTION_PAYLOAD event (MySQL 8 binlog_transaction_compression: one whole
 * transaction, BEGIN … XID, compressed with zstd after its GTID event). Untrusted bytes: every
 * field is bounded by the event; E_FOREIGN_ARCHIVE when they do not fit it.
 */
export function readPayloadHeader(event: Buffer, fd: FormatDescription, where: string): PayloadHeader {
  const bad = (why: string) => new DbBackupError('E_FOREIGN_ARCHIVE', `${where} holds a compressed transaction that is damaged (${why}).`);
  const body = event.subarray(HEADER_LENGTH, event.length - fd.checksumLength);
  let at = 0;
  const packed = (): number => {
    if (at >= body.length) throw bad('its header runs past the event');
    const first = body[at++]!;
    const width = first < 251 ? 0 : first === 0xfc ? 2 : first === 0xfd ? 3 : first === 0xfe ? 8 : -1;
    if (width < 0) throw bad(`a field starts with byte ${first}`);
    if (width === 0) return first;
    if (at + width > body.length) throw bad('its header runs past the event');
    const value = width === 8 ? body.readBigUInt64LE(at) : BigInt(body.readUIntLE(at, width));
    at += width;
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('a field over 2^53');
    return Number(value);
  };
  const out = { compression: NONE, size: -1, uncompressedSize: -1 };
  for (;;) {
    const type = packed();
    if (type === Field.END) break;
    const length = packed();
    const end = at + length;
    if (end > body.length) throw bad('a field runs past the event');
    if (type === Field.SIZE) out.size = packed();
    else if (type === Field.COMPRESSION) out.compression = packed();
    else if (type === Field.UNCOMPRESSED_SIZE) out.uncompressedSize = packed();
    at = end;
  }
  const payload = body.subarray(at);
  if (out.size < 0) out.size = payload.length;
  if (out.size !== payload.length) throw bad(`it declares ${out.size} bytes of payload and holds ${payload.length}`);
  if (out.uncompressedSize < 0) out.uncompressedSize = out.compression === NONE ? payload.length : -1;
  if (out.uncompressedSize < 0) throw bad('it declares no uncompressed size');
  return { ...out, payload };
}

/**
 * The events inside a TRANSACTION_PAYLOAD event, one at a time, each with its checksum added
 * when `fd` says the log has them (the server stores inner events without), so a caller reads
 * and replays them as events of the log itself. Bounded: the payload is decoded 256 KiB at a
 * time and only the event being assembled is held; an inner event over MAX_INNER_EVENT is
 * E_TOO_LARGE; a payload that decodes to more (or less) than it declares, a zstd frame that is
 * damaged or asks for a window over 32 MiB, or an event cut short is E_FOREIGN_ARCHIVE; another
 * compression than zstd or none is E_UNSUPPORTED.
 */
export function* payloadEvents(event: Buffer, fd: FormatDescription, where: string): Generator<Buffer> {
  const h = readPayloadHeader(event, fd, where);
  const bad = (why: string) => new DbBackupError('E_FOREIGN_ARCHIVE', `${where} holds a compressed transaction that is damaged (${why}).`);
  if (h.compression !== ZSTD && h.compression !== NONE) {
    throw new DbBackupError('E_UNSUPPORTED', `${where} holds a transaction compressed with method ${h.compression}, which this version cannot read (MySQL uses zstd).`);
  }
  const framer = new InnerFramer(fd, bad);
  let produced = 0;
  const take = function* (chunk: Buffer): Generator<Buffer> {
    produced += chunk.length;
    if (produced > h.uncompressedSize) throw bad(`it decodes to more than the ${h.uncompressedSize} bytes it declares`);
    yield* framer.push(chunk);
  };
  if (h.compression === NONE) {
    yield* take(h.payload);
  } else {
    binding ??= require('zstd-napi/binding') as Binding;
    const dctx = new binding.DCtx();
    dctx.setParameter(binding.DParameter.windowLogMax, WINDOW_LOG_MAX);
    const dst = Buffer.allocUnsafe(CHUNK);
    let src = h.payload;
    let ret = 1;
    while (src.length > 0 || ret !== 0) {
      let n: number;
      let consumed: number;
      try {
        [ret, n, consumed] = dctx.decompressStream(dst, src);
      } catch (err) {
        throw bad(`zstd: ${(err as Error).message}`);
      }
      src = src.subarray(consumed);
      if (n > 0) yield* take(Buffer.from(dst.subarray(0, n)));
      else if (src.length === 0 && ret !== 0) throw bad('its zstd frame is cut short');
    }
  }
  if (produced !== h.uncompressedSize) throw bad(`it decodes to ${produced} bytes, not the ${h.uncompressedSize} it declares`);
  framer.end();
}

/** Cuts decoded bytes into events (each header's size, bounded) and adds the log's checksum to each. */
class InnerFramer {
  private chunks: Buffer[] = [];
  private length = 0;

  constructor(
    private readonly fd: FormatDescription,
    private readonly bad: (why: string) => Error,
  ) {}

  *push(chunk: Buffer): Generator<Buffer> {
    this.chunks.push(chunk);
    this.length += chunk.length;
    for (;;) {
      if (this.length < HEADER_LENGTH) return;
      const head = this.chunks[0]!.length >= HEADER_LENGTH ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
      const size = head.readUInt32LE(9);
      if (size < HEADER_LENGTH) throw this.bad(`an inner event of ${size} bytes`);
      if (size > MAX_INNER_EVENT) throw new DbBackupError('E_TOO_LARGE', `A compressed transaction holds an event of ${size} bytes, over the ${MAX_INNER_EVENT}-byte limit; the backup is damaged or foreign.`);
      if (this.length < size) return;
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
      const rest = all.subarray(size);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.length = rest.length;
      yield this.withChecksum(all.subarray(0, size));
    }
  }

  end(): void {
    if (this.length > 0) throw this.bad('it ends inside an event');
  }

  private withChecksum(inner: Buffer): Buffer {
    if (this.fd.checksumLength === 0) return Buffer.from(inner);
    const out = Buffer.alloc(inner.length + 4);
    inner.copy(out);
    out.writeUInt32LE(out.length, 9);
    out.writeUInt32LE(crc32(out.subarray(0, inner.length)), inner.length);
    return out;
  }
}
