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
  /** `[schema, table]`, made once: every change of the relation shares it (read only). */
  name: [string, string];
}

export type PgOutputMessage =
  | { tag: 'begin'; finalLsn: bigint; time: string; xid: number }
  | { tag: 'commit'; commitLsn: bigint; endLsn: bigint; time: string }
  | { tag: 'relation'; relation: Relation }
  | { tag: 'change'; change: Change }
  /** A logical decoding message (read back from storage only: dbbackup's own, see postgres-change-records.ts). */
  | { tag: 'message'; prefix: string; content: Buffer }
  | { tag: 'other' };

/** One row change as the change-log parts store it (see postgres-changes.ts for the format). */
export type Change =
  | { op: 'I'; rel: [string, string]; new: Column[] }
  | { op: 'U'; rel: [string, string]; key: Column[]; new: Column[] }
  | { op: 'D'; rel: [string, string]; key: Column[] }
  | { op: 'T'; rels: [string, string][]; cascade: boolean; restartIdentity: boolean }
  /** Not from pgoutput: every row deleted, before a whole table's rows (postgres-change-tables.ts). */
  | { op: 'R'; rel: [string, string] };

/** Says what is wrong with a message: the error to throw (live: E_BACKUP_FAILED; read back from storage: E_UNSAFE_BACKUP). */
export type DecodeFailure = (what: string) => Error;

const liveFailure: DecodeFailure = (what) => new DbBackupError('E_BACKUP_FAILED', `pgoutput sent ${what}.`);

/** Reads a message's fields, never past its end (a short message is `fail`ed, not read as zeros or cut strings). */
class Reader {
  at = 0;
  private buf: Buffer = Buffer.alloc(0);
  private end = 0;
  constructor(private readonly fail: DecodeFailure) {}
  /** Reads `buf[start, end)` from its start (one Reader serves every message). */
  reset(buf: Buffer, start: number, end: number): this {
    this.buf = buf;
    this.at = start;
    this.end = end;
    return this;
  }
  /** The position of the next `n` bytes, which are then read. */
  private skip(n: number): number {
    const at = this.at;
    if (at + n > this.end) throw this.fail('a message shorter than its fields');
    this.at = at + n;
    return at;
  }
  byte(): number {
    return this.buf[this.skip(1)]!;
  }
  int16(): number {
    return this.buf.readInt16BE(this.skip(2));
  }
  int32(): number {
    return this.buf.readInt32BE(this.skip(4));
  }
  uint32(): number {
    return this.buf.readUInt32BE(this.skip(4));
  }
  int64(): bigint {
    return this.buf.readBigInt64BE(this.skip(8));
  }
  cstring(): string {
    const end = this.buf.indexOf(0, this.at);
    if (end < 0 || end >= this.end) throw this.fail('an unterminated string');
    const s = this.buf.toString('utf8', this.at, end);
    this.at = end + 1;
    return s;
  }
  text(n: number): string {
    if (n < 0) throw this.fail('a value of negative length');
    const at = this.skip(n);
    return this.buf.toString('utf8', at, at + n);
  }
  /** `n` bytes as they are (not copied). */
  bytes(n: number): Buffer {
    if (n < 0) throw this.fail('a value of negative length');
    const at = this.skip(n);
    return this.buf.subarray(at, at + n);
  }
  /** Stored messages are exactly their fields: nothing may follow. */
  done(): void {
    if (this.at !== this.end) throw this.fail('bytes after a message');
  }
}

/** Most columns a PostgreSQL row has (MaxTupleAttributeNumber). */
const MAX_COLUMNS = 1664;

/**
 * Keeps the relations the server described in this session; decodes each message's body. With
 * `stored` (messages read back from a backup, postgres-change-records.ts: untrusted) every message
 * must be exactly its fields, names must be names, a tuple must have its relation's columns, and an
 * update or delete must carry a key; failures are `fail`'s errors.
 */
export class PgOutputDecoder {
  private readonly relations = new Map<number, Relation>();
  private readonly reader: Reader;

  constructor(
    private readonly fail: DecodeFailure = liveFailure,
    private readonly stored = false,
  ) {
    this.reader = new Reader(fail);
  }

  /** Decodes the message `body[start, end)` (the whole buffer by default). */
  decode(body: Buffer, start = 0, end = body.length): PgOutputMessage {
    const r = this.reader.reset(body, start, end);
    let out: PgOutputMessage;
    try {
      out = this.message(r);
    } catch (err) {
      // A time no Date can hold (only in damaged input).
      if (err instanceof RangeError) throw this.fail('a value out of range');
      throw err;
    }
    if (this.stored) r.done();
    return out;
  }

  private message(r: Reader): PgOutputMessage {
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
        if (r.byte() !== 0x4e /* N */ && this.stored) throw this.fail('an insert without its new row');
        return { tag: 'change', change: { op: 'I', rel: name(rel), new: this.tuple(r, rel, ALL) } };
      }
      case 'U':
        return { tag: 'change', change: this.update(r) };
      case 'D': {
        const rel = this.rel(r.uint32());
        const kind = String.fromCharCode(r.byte());
        if (this.stored && kind !== 'K' && kind !== 'O') throw this.fail('a delete without its old key');
        return { tag: 'change', change: { op: 'D', rel: name(rel), key: this.key(this.tuple(r, rel, kind === 'O' ? ALL : KEY)) } };
      }
      case 'T': {
        const n = r.int32();
        if (this.stored && n < 1) throw this.fail('a truncate of no relation');
        const flags = r.byte();
        const rels: [string, string][] = [];
        for (let i = 0; i < n; i++) rels.push(name(this.rel(r.uint32())));
        return { tag: 'change', change: { op: 'T', rels, cascade: (flags & 1) !== 0, restartIdentity: (flags & 2) !== 0 } };
      }
      case 'M':
        if (!this.stored) return { tag: 'other' };
        return this.logicalMessage(r);
      default:
        // 'O' origin, 'Y' type (and, live, 'M' message): nothing a restore needs (values stay text). Never stored.
        if (this.stored) throw this.fail(`a message of unknown kind ${JSON.stringify(tag)}`);
        return { tag: 'other' };
    }
  }

  /** A non-transactional logical message (protocol 1, not streamed): flags, LSN, prefix, content. */
  private logicalMessage(r: Reader): PgOutputMessage {
    r.byte();
    r.int64();
    const prefix = r.cstring();
    return { tag: 'message', prefix, content: r.bytes(r.int32()) };
  }

  private relation(r: Reader): Relation {
    const id = r.uint32();
    const schema = r.cstring();
    const table = r.cstring();
    const replicaIdentity = String.fromCharCode(r.byte());
    const n = r.int16();
    if (this.stored && (!isName(schema) || !isName(table) || !'dnfi'.includes(replicaIdentity) || n < 0 || n > MAX_COLUMNS)) throw this.fail('a bad relation');
    const cols: Relation['columns'] = [];
    const names = new Set<string>();
    for (let i = 0; i < n; i++) {
      const flags = r.byte();
      const colName = r.cstring();
      const typeOid = r.uint32();
      r.int32();
      if (this.stored && (!isName(colName) || names.has(colName))) throw this.fail('a bad or repeated column name');
      names.add(colName);
      cols.push({ name: colName, key: (flags & 1) !== 0, typeOid });
    }
    const relation = { id, schema, table, replicaIdentity, columns: cols, name: [schema, table] as [string, string] };
    this.relations.set(id, relation);
    return relation;
  }

  /** The old key ('K' key columns, 'O' the whole old row) or, when the key did not change, the new row's key columns. */
  private update(r: Reader): Change {
    const rel = this.rel(r.uint32());
    let kind = String.fromCharCode(r.byte());
    let old: Column[] | undefined;
    if (kind === 'K' || kind === 'O') {
      old = this.tuple(r, rel, kind === 'O' ? ALL : KEY);
      kind = String.fromCharCode(r.byte());
    }
    if (this.stored && kind !== 'N') throw this.fail('an update without its new row');
    const keyOfNext: Column[] | undefined = old ? undefined : [];
    const next = this.tuple(r, rel, ALL, keyOfNext);
    return { op: 'U', rel: name(rel), key: this.key(old ?? keyOfNext!), new: next };
  }

  private rel(id: number): Relation {
    const rel = this.relations.get(id);
    if (!rel) throw this.fail(`a change of relation ${id} before describing it`);
    return rel;
  }

  /**
   * A tuple's columns as pairs: with KEY only the key columns (a 'K' old tuple has nulls in the
   * others). 'u' (unchanged TOAST) columns are left out, as are values past the relation's columns.
   * `keys` gets the key columns' pairs too (the same pairs).
   */
  private tuple(r: Reader, rel: Relation, pick: typeof ALL | typeof KEY, keys?: Column[]): Column[] {
    const n = r.int16();
    if (this.stored && n !== rel.columns.length) throw this.fail('a row of another width than its relation');
    const cols = rel.columns;
    const out: Column[] = [];
    for (let i = 0; i < n; i++) {
      const kind = r.byte();
      let value: string | null;
      if (kind === 0x74 /* t */) value = r.text(r.int32());
      else if (kind === 0x6e /* n */) value = null;
      else if (kind === 0x75 /* u */) continue;
      else throw this.fail(`a column of unknown kind "${String.fromCharCode(kind)}" (binary values are not asked for)`);
      const col = cols[i];
      if (!col || (pick === KEY && !col.key)) continue;
      const pair: Column = [col.name, value];
      out.push(pair);
      if (keys && col.key) keys.push(pair);
    }
    return out;
  }

  /** An update's or delete's key: a stored one must find a row by something. */
  private key(cols: Column[]): Column[] {
    if (this.stored && cols.length === 0) throw this.fail('an update or delete without a key');
    return cols;
  }
}

const ALL = 0;
const KEY = 1;

function name(rel: Relation): [string, string] {
  return rel.name;
}

/** A PostgreSQL identifier as the change log accepts it (as postgres-change-log.ts does): 1–128 characters. */
function isName(v: string): boolean {
  return v.length > 0 && v.length <= 128;
}
