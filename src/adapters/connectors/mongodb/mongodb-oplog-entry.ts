import { BSON, type Document, Timestamp } from 'mongodb';
import { DbBackupError } from '../../../domain/errors.js';
import { EXACT } from './mongodb-catalog.js';

/** An oplog time: a BSON Timestamp as `{ t: seconds, i: increment }`, the form positions are stored in. */
export interface OplogTime {
  t: number;
  i: number;
}

/** One oplog entry: its raw bytes (stored as they are, never re-encoded) and what replay needs of it. */
export interface OplogEntry {
  raw: Buffer;
  /** Decoded with exact types (Int32, Double and Long kept), so what is written back keeps them. */
  doc: Document;
  ts: OplogTime;
  /** ms since the epoch: the entry's wall clock (4.2+), else its timestamp's second. */
  time: number;
  op: string;
  ns: string;
}

const OPS = new Set(['i', 'u', 'd', 'c', 'n']);

/** Decodes an entry read back from storage or the server (untrusted): E_FOREIGN_ARCHIVE naming `where` when it is not one. */
export function parseEntry(raw: Buffer, where: string): OplogEntry {
  let doc: Document;
  try {
    doc = BSON.deserialize(raw, EXACT);
  } catch (err) {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `${where} holds bytes that are not a BSON document.`, { cause: err });
  }
  return checkEntry(raw, doc, where);
}

/** An entry nested in an applyOps (no ts of its own): it takes its container's. */
export function nestedEntry(doc: Document, container: OplogEntry): OplogEntry {
  return checkEntry(container.raw, { ...doc, ts: doc.ts ?? container.doc.ts }, `an applyOps entry at ${timeText(container.ts)}`, container.time);
}

function checkEntry(raw: Buffer, doc: Document, where: string, time?: number): OplogEntry {
  const ts = doc.ts;
  if (!(ts instanceof Timestamp) || typeof doc.op !== 'string' || !OPS.has(doc.op) || (doc.ns !== undefined && typeof doc.ns !== 'string')) {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `${where} holds a document that is not an oplog entry (it needs ts, op and ns).`);
  }
  if ((doc.op === 'i' || doc.op === 'u' || doc.op === 'd' || doc.op === 'c') && (typeof doc.o !== 'object' || doc.o === null)) {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `${where} holds an oplog entry "${doc.op}" without its object (o).`);
  }
  const t = { t: ts.t, i: ts.i };
  const wall = doc.wall instanceof Date ? doc.wall.getTime() : undefined;
  return { raw, doc, ts: t, time: time ?? (Number.isFinite(wall) ? wall! : t.t * 1000), op: doc.op, ns: (doc.ns as string | undefined) ?? '' };
}

export function compareTimes(a: OplogTime, b: OplogTime): number {
  return a.t !== b.t ? a.t - b.t : a.i - b.i;
}

export function toTimestamp(t: OplogTime): Timestamp {
  return new Timestamp({ t: t.t, i: t.i });
}

export function timeText(t: OplogTime): string {
  return `Timestamp(${t.t}, ${t.i}) (${new Date(t.t * 1000).toISOString()})`;
}

/** `{ t, i }` from a stored position's field (untrusted): undefined when it is not one. */
export function oplogTimeOf(value: unknown): OplogTime | undefined {
  const v = value as { t?: unknown; i?: unknown } | null | undefined;
  if (!v || !Number.isSafeInteger(v.t) || !Number.isSafeInteger(v.i) || (v.t as number) < 0 || (v.i as number) < 0) return undefined;
  return { t: v.t as number, i: v.i as number };
}

/**
 * What an entry is to a transaction, as mongo-tools' txn.NewMeta reads it: only a command entry
 * with lsid and txnNumber holding applyOps, commitTransaction or abortTransaction belongs to one
 * (a retryable write batch, multiOpType 1, does not). `key` names the transaction.
 */
export interface TxnMeta {
  key: string;
  /** Holds operations (applyOps). */
  data: boolean;
  /** Applies the transaction: commitTransaction, or a final applyOps (neither partial nor prepared). */
  commit: boolean;
  abort: boolean;
}

export function txnMeta(e: OplogEntry): TxnMeta | undefined {
  const d = e.doc;
  if (e.op !== 'c' || d.lsid === undefined || d.txnNumber === undefined) return undefined;
  if (d.multiOpType !== undefined && Number(d.multiOpType) === 1) return undefined;
  const o = d.o as Document;
  const applyOps = Array.isArray(o.applyOps);
  const commit = o.commitTransaction !== undefined;
  const abort = o.abortTransaction !== undefined;
  if (!applyOps && !commit && !abort) return undefined;
  const key = `${Buffer.from(BSON.serialize({ l: d.lsid })).toString('hex')}:${String(d.txnNumber)}`;
  const partial = o.partialTxn !== undefined && o.partialTxn !== false;
  const prepare = o.prepare !== undefined && o.prepare !== false;
  return { key, data: applyOps, commit: commit || (applyOps && !partial && !prepare), abort };
}
