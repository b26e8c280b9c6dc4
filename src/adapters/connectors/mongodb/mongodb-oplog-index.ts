import type { PartSource } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { PartEntry } from '../../../domain/manifest.js';
import { readSmallPart } from '../read-small-part.js';
import { type OplogEntry, type OplogTime, oplogTimeOf } from './mongodb-oplog-entry.js';

/**
 * An oplog link's parts: the entries as the server stored them, concatenated raw BSON in
 * mongodump's `oplog.bson` layout (so `mongorestore --oplogReplay` can replay a full plus this
 * file as `oplog.bson`), and a small JSON index saying what they hold.
 */
export const OPLOG_PART = 'changes/oplog.bson';
export const OPLOG_INDEX_PART = 'changes/oplog-index.json';
export const OPLOG_INDEX_FORMAT = 'dbbackup-mongodb-oplog-index';
/** Namespaces listed one by one in an index; beyond, the index says it is cut (`namespacesCut`). */
const MAX_NAMESPACES = 10_000;
const MAX_INDEX_BYTES = 16 << 20;

export interface OpCounts {
  i: number;
  u: number;
  d: number;
  c: number;
}

/** The index part: the time range, entry and byte counts, and each namespace's operations by kind. */
export interface OplogIndex {
  format: typeof OPLOG_INDEX_FORMAT;
  version: 1;
  /** The parent's end (entries are after it) and this link's end (the newest entry of the log when read). */
  from: OplogTime | null;
  to: OplogTime;
  /** The first and last entry stored, with their times (ISO); absent when none. */
  first?: OplogTime;
  last?: OplogTime;
  firstTime?: string;
  lastTime?: string;
  entries: number;
  bytes: number;
  transactions: number;
  namespaces: Record<string, OpCounts>;
  namespacesCut?: boolean;
}

/** Counts entries as they are written, for the index part and the manifest's objects. */
export class OplogTally {
  entries = 0;
  bytes = 0;
  transactions = 0;
  first: OplogEntry | undefined;
  last: OplogEntry | undefined;
  private readonly namespaces = new Map<string, OpCounts>();
  private cut = false;

  add(e: OplogEntry): void {
    this.entries++;
    this.bytes += e.raw.length;
    this.first ??= e;
    this.last = e;
    if (e.op === 'c' && Array.isArray(e.doc.o?.applyOps)) {
      if (e.doc.lsid !== undefined) this.transactions++;
      for (const inner of e.doc.o.applyOps as { op?: unknown; ns?: unknown }[]) this.count(String(inner?.ns ?? ''), String(inner?.op ?? ''));
      return;
    }
    this.count(e.op === 'c' ? commandNs(e) : e.ns, e.op);
  }

  private count(ns: string, op: string): void {
    if (op !== 'i' && op !== 'u' && op !== 'd' && op !== 'c') return;
    let c = this.namespaces.get(ns);
    if (!c) {
      if (this.namespaces.size >= MAX_NAMESPACES) {
        this.cut = true;
        return;
      }
      c = { i: 0, u: 0, d: 0, c: 0 };
      this.namespaces.set(ns, c);
    }
    c[op]++;
  }

  /** The namespaces written to (inserts, updates, deletes or DDL), sorted. */
  touched(): string[] {
    return [...this.namespaces.keys()].filter((ns) => ns.includes('.') && !ns.endsWith('.$cmd')).sort();
  }

  index(from: OplogTime | null, to: OplogTime): OplogIndex {
    return {
      format: OPLOG_INDEX_FORMAT,
      version: 1,
      from,
      to,
      ...(this.first && this.last
        ? { first: this.first.ts, last: this.last.ts, firstTime: new Date(this.first.time).toISOString(), lastTime: new Date(this.last.time).toISOString() }
        : {}),
      entries: this.entries,
      bytes: this.bytes,
      transactions: this.transactions,
      namespaces: Object.fromEntries([...this.namespaces.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
      ...(this.cut ? { namespacesCut: true } : {}),
    };
  }
}

/** The namespace a command entry changes: `db.coll` for create/drop/createIndexes/…, `db.$cmd` otherwise. */
export function commandNs(e: OplogEntry): string {
  const o = e.doc.o as Record<string, unknown>;
  const name = Object.keys(o)[0];
  const db = e.ns.endsWith('.$cmd') ? e.ns.slice(0, -5) : e.ns;
  if (name === 'renameCollection' && typeof o.to === 'string') return o.to;
  const coll = name ? o[name] : undefined;
  return typeof coll === 'string' && name !== 'dropDatabase' ? `${db}.${coll}` : e.ns;
}

/** The stored part whose base name (before codec suffixes) is `base`. */
export function oplogPart(parts: PartSource, base: string): PartEntry | undefined {
  return parts.manifest.parts.find((p) => p.name === base || p.name.startsWith(`${base}.`));
}

/** Reads and checks a link's index part (untrusted: size bounded, fields checked). */
export async function readOplogIndex(parts: PartSource, signal?: AbortSignal): Promise<OplogIndex> {
  const entry = oplogPart(parts, OPLOG_INDEX_PART);
  if (!entry) throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${parts.manifest.id} has no oplog index part (${OPLOG_INDEX_PART}).`);
  const where = `${entry.name} of backup ${parts.manifest.id}`;
  let value: Record<string, unknown>;
  try {
    value = JSON.parse((await readSmallPart(parts, entry, signal, MAX_INDEX_BYTES)).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof DbBackupError) throw err;
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `${where} is not JSON.`, { cause: err });
  }
  const ok =
    value?.format === OPLOG_INDEX_FORMAT &&
    value.version === 1 &&
    oplogTimeOf(value.to) !== undefined &&
    (value.from === null || oplogTimeOf(value.from) !== undefined) &&
    Number.isSafeInteger(value.entries) &&
    Number.isSafeInteger(value.bytes) &&
    typeof value.namespaces === 'object' &&
    value.namespaces !== null;
  if (!ok) throw new DbBackupError('E_FOREIGN_ARCHIVE', `${where} is not an oplog index of this version.`);
  return value as unknown as OplogIndex;
}
