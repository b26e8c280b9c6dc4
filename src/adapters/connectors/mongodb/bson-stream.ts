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

/** The documents of a `.bson` stream one by one (views; see documentRuns). */
export async function* bsonDocuments(source: AsyncIterable<Uint8Array>, where: string): AsyncGenerator<Buffer> {
  for await (const run of documentRuns(source, where)) {
    for (let off = 0; off < run.length; ) {
      const n = run.readInt32LE(off);
      yield run.subarray(off, off + n);
      off += n;
    }
  }
}

/**
 * A mongodump `.bson` stream is plain concatenated BSON documents (int32 LE total length, elements,
 * trailing 0x00) with no header or footer. This yields it as runs of whole, checked documents: per
 * read chunk, one view of the documents that lie wholly inside it, and each document that
 * straddles chunks joined into a buffer of its own length. The chunks themselves are never joined
 * (that copied nearly every chunk whole: few chunks end on a document's end). Throws
 * E_FOREIGN_ARCHIVE on a length that cannot be BSON and E_TRUNCATED on a cut tail.
 */
async function* documentRuns(source: AsyncIterable<Uint8Array>, where: string): AsyncGenerator<Buffer> {
  /** The pieces read so far of a document that straddles chunks, and where in the file it starts. */
  let pieces: Buffer[] = [];
  let pieceBytes = 0;
  let docAt = 0;
  /** The file offset of the current chunk's first byte. */
  let chunkAt = 0;
  const lengthAt = (n: number, at: number): number => {
    if (n < 5 || n > MAX_DOCUMENT_BYTES) throw new DbBackupError('E_FOREIGN_ARCHIVE', `${where} is not a BSON stream: a document at byte ${at} claims ${n} bytes.`);
    return n;
  };
  const checkEnd = (doc: Buffer, at: number): Buffer => {
    if (doc[doc.length - 1] !== 0) throw new DbBackupError('E_FOREIGN_ARCHIVE', `${where} is not a BSON stream: the document at byte ${at} does not end in 0x00.`);
    return doc;
  };
  for await (const raw of source) {
    const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    let off = 0;
    if (pieceBytes > 0) {
      // Finish the straddling document: its length first (itself possibly split), then its bytes.
      if (pieceBytes < 4) {
        const take = Math.min(4 - pieceBytes, chunk.length);
        pieces = [Buffer.concat([...pieces, chunk.subarray(0, take)])];
        pieceBytes += take;
        off = take;
      }
      if (pieceBytes >= 4) {
        const head = pieces[0]!.length >= 4 ? pieces[0]! : Buffer.concat(pieces, pieceBytes);
        const n = lengthAt(head.readInt32LE(0), docAt);
        const take = Math.min(n - pieceBytes, chunk.length - off);
        pieces.push(chunk.subarray(off, off + take));
        pieceBytes += take;
        off += take;
        if (pieceBytes === n) {
          const doc = Buffer.concat(pieces, n);
          pieces = [];
          pieceBytes = 0;
          yield checkEnd(doc, docAt);
        }
      }
      if (pieceBytes > 0) {
        chunkAt += chunk.length;
        continue;
      }
    }
    const runStart = off;
    while (chunk.length - off >= 4) {
      const n = lengthAt(chunk.readInt32LE(off), chunkAt + off);
      if (chunk.length - off < n) break;
      if (chunk[off + n - 1] !== 0) checkEnd(chunk.subarray(off, off + n), chunkAt + off);
      off += n;
    }
    if (off > runStart) yield runStart === 0 && off === chunk.length ? chunk : chunk.subarray(runStart, off);
    if (off < chunk.length) {
      pieces = [chunk.subarray(off)];
      pieceBytes = chunk.length - off;
      docAt = chunkAt + off;
    }
    chunkAt += chunk.length;
  }
  if (pieceBytes > 0) {
    throw new DbBackupError('E_TRUNCATED', `${where} ends in the middle of a document (${pieceBytes} bytes left over at byte ${docAt}).`);
  }
}

/** Some whole documents of a `.bson` stream (bsonBatches). */
export interface BsonBatch {
  parts: Buffer[];
  documents: number;
  bytes: number;
}

/**
 * Whole documents of a `.bson` stream, several at a time: `parts` are views of the read chunks
 * that each hold one or more complete documents back to back (a run of one chunk), or a document
 * that straddled chunks, joined. A batch holds at most `maxDocs` documents and `maxBytes` bytes
 * (but at least one document). No object per document: a restore allocated a Buffer view per
 * document, and with V8's young generation kept small those allocations ran scavenges so often
 * that the decoded chunks waiting in the pipeline were promoted and freed only by full collections
 * (tens of MB of dead buffers at a time). Same checks and errors as bsonDocuments.
 */
export async function* bsonBatches(source: AsyncIterable<Uint8Array>, where: string, maxDocs: number, maxBytes: number): AsyncGenerator<BsonBatch> {
  let batch: BsonBatch = { parts: [], documents: 0, bytes: 0 };
  const full = (n: number) => batch.documents > 0 && (batch.documents >= maxDocs || batch.bytes + n > maxBytes);
  for await (const run of documentRuns(source, where)) {
    // A run is one chunk's whole documents (or one joined document): split where the batch fills.
    let start = 0;
    let off = 0;
    while (off < run.length) {
      const n = run.readInt32LE(off);
      if (full(n)) {
        if (off > start) batch.parts.push(run.subarray(start, off));
        yield batch;
        batch = { parts: [], documents: 0, bytes: 0 };
        start = off;
      }
      batch.documents++;
      batch.bytes += n;
      off += n;
    }
    if (off > start) batch.parts.push(start === 0 ? run : run.subarray(start));
  }
  if (batch.documents) yield batch;
}

/** The `index`-th document of a batch (a view), or undefined past its end. */
export function documentOf(batch: BsonBatch, index: number): Buffer | undefined {
  let i = 0;
  for (const part of batch.parts) {
    for (let off = 0; off < part.length; i++) {
      const n = part.readInt32LE(off);
      if (i === index) return part.subarray(off, off + n);
      off += n;
    }
  }
  return undefined;
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
