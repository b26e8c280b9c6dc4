import { DbBackupError } from '../../../domain/errors.js';

/**
 * Documents asked for per getMore (mongod caps each batch at 16 MiB anyway). Not more: the driver
 * keeps a JS object per document of a batch until the whole batch is consumed, so with 10 000 per
 * batch those outlive the young generation and pile up in the old one until a full GC (bench on
 * 1 M documents of ~210 bytes: the driver's raw read alone peaked at 239 MB RSS with 10 000, at
 * 99 MB with 1 000, and was not slower).
 */
export const BATCH_SIZE = 1000;

/** The largest document a .bson stream may hold: BSON's 16 MiB plus the 16 KiB mongod allows internally. */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024 + 16 * 1024;

/**
 * A mongodump `.bson` stream is plain concatenated BSON documents (int32 LE total length, elements,
 * trailing 0x00) with no header or footer. This yields one Buffer per document, a view into the
 * read chunk where the document lies within one chunk; only documents that straddle chunks are
 * copied. Throws E_FOREIGN_ARCHIVE on a length that cannot be BSON and E_TRUNCATED on a cut tail.
 */
export async function* bsonDocuments(source: AsyncIterable<Uint8Array>, where: string): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let need = 4;
  let offsetInFile = 0;
  for await (const raw of source) {
    const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (pendingBytes < need) continue;
    const buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    let off = 0;
    while (buf.length - off >= 4) {
      const n = buf.readInt32LE(off);
      if (n < 5 || n > MAX_DOCUMENT_BYTES) {
        throw new DbBackupError('E_FOREIGN_ARCHIVE', `${where} is not a BSON stream: a document at byte ${offsetInFile + off} claims ${n} bytes.`);
      }
      if (buf.length - off < n) break;
      if (buf[off + n - 1] !== 0) {
        throw new DbBackupError('E_FOREIGN_ARCHIVE', `${where} is not a BSON stream: the document at byte ${offsetInFile + off} does not end in 0x00.`);
      }
      yield buf.subarray(off, off + n);
      off += n;
    }
    offsetInFile += off;
    const rest = buf.length - off;
    pending = rest ? [buf.subarray(off)] : [];
    pendingBytes = rest;
    need = rest >= 4 ? buf.readInt32LE(off) : 4;
  }
  if (pendingBytes > 0) {
    throw new DbBackupError('E_TRUNCATED', `${where} ends in the middle of a document (${pendingBytes} bytes left over at byte ${offsetInFile}).`);
  }
}

/**
 * Packs raw documents from a cursor into chunks of about `target` bytes, so the part pipeline
 * hashes and compresses big writes instead of one call per document; counts documents and bytes.
 * 256 KiB, not 1 MiB: each stage of the part pipeline buffers up to 1 MiB, so 1 MiB chunks kept
 * several MiB in flight per part and cost ~40 MB of peak RSS on the MongoDB bench (bench/mongodb.mjs:
 * 172–178 MB with 1 MiB chunks, 128–141 MB with 256 KiB), at no cost in speed there.
 */
export async function* packDocuments(docs: AsyncIterable<Buffer>, tally: { documents: number; bytes: number }, target = 1 << 18): AsyncGenerator<Buffer> {
  let batch: Buffer[] = [];
  let size = 0;
  for await (const doc of docs) {
    tally.documents++;
    tally.bytes += doc.length;
    batch.push(doc);
    size += doc.length;
    if (size >= target) {
      yield batch.length === 1 ? batch[0]! : Buffer.concat(batch, size);
      batch = [];
      size = 0;
    }
  }
  if (size) yield Buffer.concat(batch, size);
}
