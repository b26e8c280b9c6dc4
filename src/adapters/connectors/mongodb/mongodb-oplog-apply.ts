import type { AnyBulkWriteOperation, Document, MongoClient } from 'mongodb';
import { DbBackupError } from '../../../domain/errors.js';
import { applyCommand } from './mongodb-oplog-commands.js';
import { deltaToUpdate } from './mongodb-oplog-diff.js';
import { type OplogEntry, timeText } from './mongodb-oplog-entry.js';
import { type ReplayScope, targetOf } from './mongodb-oplog-scope.js';

/** Writes queued per namespace before they are sent as one ordered bulkWrite, or this many bytes of entries. */
const BATCH = 1000;
const BATCH_BYTES = 8 << 20;

/**
 * Applies single oplog entries to a target with applyOps semantics, through ordinary driver writes
 * (no applyOps privilege needed, and the namespace can be renamed): an insert is an upsert of its
 * document, an update sets what its delta or modifiers say (a replacement upserts), a delete
 * removes by _id; all three are idempotent. Consecutive writes to one namespace go as one ordered
 * bulkWrite; a command (DDL) first flushes what is queued, so entries apply in log order.
 */
export class OplogApplier {
  private queued: { ns: string; db: string; coll: string; ops: AnyBulkWriteOperation[]; bytes: number } | undefined;
  applied = 0;
  skipped = 0;
  /** Target namespaces written to. */
  readonly touched = new Set<string>();
  readonly warnings: string[] = [];

  constructor(
    private readonly client: MongoClient,
    private readonly scope: ReplayScope,
  ) {}

  /** Applies (or queues) one entry; a nested applyOps entry is given with its container's ts. */
  async apply(e: OplogEntry): Promise<void> {
    if (e.op === 'n') return;
    if (e.op === 'c') {
      await this.flush();
      let done: boolean;
      try {
        done = await applyCommand(this.client, this.scope, e, this.warnings);
      } catch (err) {
        throw new DbBackupError('E_RESTORE_FAILED', `Replaying the oplog entry at ${timeText(e.ts)} (${Object.keys(e.doc.o as Document)[0]} on ${e.ns}) failed: ${(err as Error).message}`, { cause: err });
      }
      if (done) this.applied++;
      else this.skipped++;
      return;
    }
    const dot = e.ns.indexOf('.');
    const target = dot > 0 ? targetOf(this.scope, e.ns.slice(0, dot), e.ns.slice(dot + 1)) : undefined;
    if (!target) {
      this.skipped++;
      return;
    }
    const ns = `${target.db}.${target.coll}`;
    if (this.queued && this.queued.ns !== ns) await this.flush();
    this.queued ??= { ns, db: target.db, coll: target.coll, ops: [], bytes: 0 };
    this.queued.ops.push(...writesOf(e));
    // A nested entry's size is its container's: an overestimate, which only flushes sooner.
    this.queued.bytes += e.raw.length;
    this.touched.add(ns);
    this.applied++;
    if (this.queued.ops.length >= BATCH || this.queued.bytes >= BATCH_BYTES) await this.flush();
  }

  /** Sends what is queued. */
  async flush(): Promise<void> {
    const q = this.queued;
    this.queued = undefined;
    if (!q || q.ops.length === 0) return;
    try {
      await this.client.db(q.db).collection(q.coll).bulkWrite(q.ops, { ordered: true, bypassDocumentValidation: true });
    } catch (err) {
      throw new DbBackupError('E_RESTORE_FAILED', `Replaying the oplog into ${q.ns} failed: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** The driver writes one CRUD entry stands for. */
export function writesOf(e: OplogEntry): AnyBulkWriteOperation[] {
  const o = e.doc.o as Document;
  const where = `The oplog entry at ${timeText(e.ts)} on ${e.ns}`;
  if (e.op === 'i') {
    if (o._id === undefined) throw new DbBackupError('E_FOREIGN_ARCHIVE', `${where} inserts a document without _id.`);
    return [{ replaceOne: { filter: { _id: o._id }, replacement: o, upsert: true } }];
  }
  if (e.op === 'd') return [{ deleteOne: { filter: o._id === undefined ? o : { _id: o._id } } }];
  const filter = e.doc.o2 as Document | undefined;
  if (!filter || typeof filter !== 'object') throw new DbBackupError('E_FOREIGN_ARCHIVE', `${where} updates without naming the document (o2).`);
  if (Number(o.$v) === 2 && typeof o.diff === 'object') {
    const d = deltaToUpdate(o.diff as Document, where);
    const update: Document = {};
    if (Object.keys(d.set).length) update.$set = d.set;
    if (Object.keys(d.unset).length) update.$unset = d.unset;
    const writes: AnyBulkWriteOperation[] = Object.keys(update).length ? [{ updateOne: { filter, update } }] : [];
    for (const [path, length] of d.truncate) {
      writes.push({ updateOne: { filter, update: [{ $set: { [path]: { $slice: [`$${path}`, length] } } }] } });
    }
    return writes;
  }
  const modifiers = Object.keys(o).filter((k) => k.startsWith('$') && k !== '$v');
  if (modifiers.length) return [{ updateOne: { filter, update: Object.fromEntries(modifiers.map((k) => [k, o[k]])) } }];
  return [{ replaceOne: { filter, replacement: o, upsert: true } }];
}
