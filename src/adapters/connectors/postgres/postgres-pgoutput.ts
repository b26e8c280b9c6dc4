import { DbBackupError } from '../../../domain/errors.js';
import { pgTimeToIso } from './postgres-replication.js';

/**
 * A decoder of the `pgoutput` logical replication protocol, version 1 (PostgreSQL 10+): Begin,
 * Commit, Origin, Relation, Type, Insert, Update, Delete, Truncate (and Message, skipped). Column
 * values stay the server's text output, never converted to JS types (no lost microseconds, no
 * float rounding). A column whose TOASTed value did not change arrives as 'u' with no data: it is
 * left out of the change's columns, which the apply reads as "keep the row's value".
 */

/** `[column, text value or null]`: pairs, so that no column name becomes an object key. */
export type Column = [string, string | null];

export interface Relation {
  id: number;
  schema: string;
  table: string;
  /** d (default: primary key), n (nothing), f (full), i (index). */
  replicaIdentity: string;
  columns: { name: string; key: boolean; typeOid: number }[];
}

export type PgOutputMessage =
  | { tag: 'begin'; finalLsn: bigint; time: string; xid: number }
  | { tag: 'commit'; commitLsn: bigint; endLsn: bigint; time: string }
  | { tag: 'relation'; relation: Relation }
  | { tag: 'change'; change: Change }
  | { tag: 'other' };

/** One row change as the change-log parts store it (see postgres-changes.ts for the format). */
export type Change =
  | { op: 'I'; rel: [string, string]; new: Column[] }
  | { op: 'U'; rel: [string, string]; key: Column[]; new: Column[] }
  | { op: 'D'; rel: [string, string]; key: Column[] }
  | { op: 'T'; rels: [string, string][]; cascade: boolean; restartIdentity: boolean }
  /** Not from pgoutput: every row deleted, before a whole table's rows (postgres-change-tables.ts). */
  | { op: 'R'; rel: [string, string] };

type Tuple = ({ kind: 'n' } | { kind: 'u' } | { kind: 't'; text: string })[];

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  byte(): number {
    return this.buf.readUInt8(this.at++);
  }
  int16(): number {
    const v = this.buf.readInt16BE(this.at);
    this.at += 2;
    return v;
  }
  int32(): number {
    const v = this.buf.readInt32BE(this.at);
    this.at += 4;
    return v;
  }
  uint32(): number {
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  int64(): bigint {
    const v = this.buf.readBigInt64BE(this.at);
    this.at += 8;
    return v;
  }
  cstring(): string {
    const end = this.buf.indexOf(0, this.at);
    if (end < 0) throw new DbBackupError('E_BACKUP_FAILED', 'A pgoutput message has an unterminated string.');
    const s = this.buf.toString('utf8', this.at, end);
    this.at = end + 1;
    return s;
  }
  text(n: number): string {
    const s = this.buf.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }
}

/** Keeps the relations the server described in this session; decodes each message's body. */
export class PgOutputDecoder {
  private readonly relations = new Map<number, Relation>();

  decode(body: Buffer): PgOutputMessage {
    const r = new Reader(body);
    const tag = String.fromCharCode(r.byte());
    switch (tag) {
      case 'B': {
        const finalLsn = r.int64();
        const time = pgTimeToIso(r.int64());
        return { tag: 'begin', finalLsn, time, xid: r.uint32() };
      }
      case 'C': {
        r.byte();
        const commitLsn = r.int64();
        const endLsn = r.int64();
        return { tag: 'commit', commitLsn, endLsn, time: pgTimeToIso(r.int64()) };
      }
      case 'R':
        return { tag: 'relation', relation: this.relation(r) };
      case 'I': {
        const rel = this.rel(r.uint32());
        r.byte(); // 'N'
        return { tag: 'change', change: { op: 'I', rel: name(rel), new: columns(rel, tuple(r), () => true) } };
      }
      case 'U':
        return { tag: 'change', change: this.update(r) };
      case 'D': {
        const rel = this.rel(r.uint32());
        const kind = String.fromCharCode(r.byte());
        return { tag: 'change', change: { op: 'D', rel: name(rel), key: columns(rel, tuple(r), (i) => kind === 'O' || rel.columns[i]!.key) } };
      }
      case 'T': {
        const n = r.int32();
        const flags = r.byte();
        const rels: [string, string][] = [];
        for (let i = 0; i < n; i++) rels.push(name(this.rel(r.uint32())));
        return { tag: 'change', change: { op: 'T', rels, cascade: (flags & 1) !== 0, restartIdentity: (flags & 2) !== 0 } };
      }
      default:
        // 'O' origin, 'Y' type, 'M' message: nothing a restore needs (values stay text).
        return { tag: 'other' };
    }
  }

  private relation(r: Reader): Relation {
    const id = r.uint32();
    const schema = r.cstring();
    const table = r.cstring();
    const replicaIdentity = String.fromCharCode(r.byte());
    const n = r.int16();
    const cols: Relation['columns'] = [];
    for (let i = 0; i < n; i++) {
      const flags = r.byte();
      const colName = r.cstring();
      const typeOid = r.uint32();
      r.int32();
      cols.push({ name: colName, key: (flags & 1) !== 0, typeOid });
    }
    const relation = { id, schema, table, replicaIdentity, columns: cols };
    this.relations.set(id, relation);
    return relation;
  }

  /** The old key ('K' key columns, 'O' the whole old row) or, when the key did not change, the new row's key columns. */
  private update(r: Reader): Change {
    const rel = this.rel(r.uint32());
    let kind = String.fromCharCode(r.byte());
    let old: { kind: string; values: Tuple } | undefined;
    if (kind === 'K' || kind === 'O') {
      old = { kind, values: tuple(r) };
      kind = String.fromCharCode(r.byte());
    }
    const next = tuple(r);
    const key = old ? columns(rel, old.values, (i) => old.kind === 'O' || rel.columns[i]!.key) : columns(rel, next, (i) => rel.columns[i]!.key);
    return { op: 'U', rel: name(rel), key, new: columns(rel, next, () => true) };
  }

  private rel(id: number): Relation {
    const rel = this.relations.get(id);
    if (!rel) throw new DbBackupError('E_BACKUP_FAILED', `pgoutput sent a change of relation ${id} before describing it.`);
    return rel;
  }
}

function name(rel: Relation): [string, string] {
  return [rel.schema, rel.table];
}

function tuple(r: Reader): Tuple {
  const n = r.int16();
  const out: Tuple = [];
  for (let i = 0; i < n; i++) {
    const kind = String.fromCharCode(r.byte());
    if (kind === 't') out.push({ kind: 't', text: r.text(r.int32()) });
    else if (kind === 'n') out.push({ kind: 'n' });
    else if (kind === 'u') out.push({ kind: 'u' });
    else throw new DbBackupError('E_BACKUP_FAILED', `pgoutput sent a column of unknown kind "${kind}" (binary values are not asked for).`);
  }
  return out;
}

/**
 * The tuple's columns that `pick` keeps, as pairs; 'u' (unchanged TOAST) columns are left out.
 * For a 'K' old tuple the server sends nulls in the non-key places, so those are left out too.
 */
function columns(rel: Relation, values: Tuple, pick: (i: number) => boolean): Column[] {
  const out: Column[] = [];
  values.forEach((v, i) => {
    const col = rel.columns[i];
    if (!col || !pick(i) || v.kind === 'u') return;
    out.push([col.name, v.kind === 't' ? v.text : null]);
  });
  return out;
}
