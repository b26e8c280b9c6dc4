import { createRequire } from 'node:module';
import { BSON, type Db, type Document } from 'mongodb';
import { type BsonBatch, documentOf } from './bson-stream.js';
import { EXACT } from './mongodb-catalog.js';

/**
 * Inserts documents given as raw BSON. The driver's OP_MSG document sequence (the kind-1 section
 * it uses for insert batches itself) carries the bytes from the .bson file to the server as they
 * are: nothing is decoded and re-encoded, so field order, numeric types and every odd value arrive
 * exactly. DocumentSequence is internal to the driver (mongodb ~7.9 is pinned): should a future
 * driver drop it, batches fall back to an exact decode (promoteValues:false) and the driver's
 * encoder, which keeps types but may reorder integer-like field names.
 */
type SequenceCtor = new (field: string) => { push(document: unknown, bytes: Uint8Array): number };
const DocumentSequence = loadDocumentSequence();

function loadDocumentSequence(): SequenceCtor | undefined {
  try {
    const commands = createRequire(import.meta.url)('mongodb/lib/cmap/commands.js') as { DocumentSequence?: SequenceCtor };
    return typeof commands.DocumentSequence === 'function' ? commands.DocumentSequence : undefined;
  } catch {
    return undefined;
  }
}

export const rawInsertSupported = DocumentSequence !== undefined;

/** One document the server refused, with what to tell the user. */
export interface RejectedDocument {
  code: number;
  codeName?: string;
  message: string;
  /** The document's _id as canonical Extended JSON (decoded only for rejected documents). */
  id?: string;
}

export interface BatchOutcome {
  inserted: number;
  rejected: RejectedDocument[];
}

/**
 * Unordered insert of one batch: every document the server accepts lands; refusals are returned, not
 * thrown. The sequence is given the batch's parts as they are (each holds whole documents back to
 * back, which is what a document sequence is on the wire): no object or copy per document here.
 */
export async function insertBatch(db: Db, collection: string, batch: BsonBatch): Promise<BatchOutcome> {
  let documents: unknown;
  if (DocumentSequence) {
    const seq = new DocumentSequence('documents');
    for (const part of batch.parts) seq.push(part, part);
    documents = seq;
  } else {
    documents = Array.from({ length: batch.documents }, (_, i) => BSON.deserialize(documentOf(batch, i)!, EXACT));
  }
  const reply = (await db.command({ insert: collection, documents, ordered: false } as Document)) as {
    n?: number;
    writeErrors?: { index: number; code: number; codeName?: string; errmsg?: string }[];
    writeConcernError?: { code: number; errmsg?: string };
  };
  const rejected = (reply.writeErrors ?? []).map((w) => ({
    code: w.code,
    codeName: w.codeName ?? codeNameOf(w.code),
    message: w.errmsg ?? 'rejected',
    id: idOf(documentOf(batch, w.index)),
  }));
  if (reply.writeConcernError) {
    throw new Error(`write concern failed on ${collection}: ${reply.writeConcernError.errmsg ?? reply.writeConcernError.code}`);
  }
  return { inserted: reply.n ?? batch.documents - rejected.length, rejected };
}

function idOf(doc: Buffer | undefined): string | undefined {
  if (!doc) return undefined;
  try {
    const id = BSON.deserialize(doc, EXACT)._id as unknown;
    return id === undefined ? undefined : BSON.EJSON.stringify(id as Document, { relaxed: false });
  } catch {
    return undefined;
  }
}

function codeNameOf(code: number): string | undefined {
  return code === 11000 ? 'DuplicateKey' : code === 121 ? 'DocumentValidationFailure' : undefined;
}
