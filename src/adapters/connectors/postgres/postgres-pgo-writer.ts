import { DbBackupError } from '../../../domain/errors.js';

/** The pgoutput message tags the writers look at. */
export const TAG = { begin: 0x42, commit: 0x43, relation: 0x52, insert: 0x49, update: 0x55, delete: 0x44, truncate: 0x54 } as const;

/** Records are gathered into chunks of this size (a bigger one for a record that does not fit). */
const CHUNK = 256 << 10;

interface Described {
  /** The Relation message as a record (length prefix included). */
  record: Buffer;
  name: string;
  /** Changes counted to it since they were last added to `counts.objects`. */
  count: number;
}

/** Where the recorder counts changes (an incremental's totals); absent: only checked. */
export interface ChangeCounts {
  changes: number;
  objects: Map<string, number>;
}

/**
 * The writing side of change-log format 2 (postgres-change-records.ts), shared by an incremental's
 * parts (postgres-slot-records.ts) and replicate's segments (postgres-continuous-reader.ts): each
 * pgoutput message the stream hands on in place is copied as a record (u32 length, the message)
 * into chunks, looking only at the few fields it needs (a change's relation, to check and count
 * it). Relation messages are kept, so that a part or segment can start with the relations described
 * before it (relationRecords()). Chunks go to `spill` when full (flush() hands on the rest); take()
 * returns the bytes written since the last take or spill without copying them.
 */
export class PgoRecorder {
  private readonly relations = new Map<number, Described>();
  private described: Buffer | undefined;
  private chunk = Buffer.allocUnsafe(CHUNK);
  private start = 0;
  private pos = 0;
  /** Inside a transaction (between a Begin and its Commit). */
  inTxn = false;
  /** Changes and Relation messages of the transaction being read. */
  txnChanges = 0;
  txnRelations = 0;
  /** Bytes written in all. */
  written = 0;
  /** Relation messages outside a transaction are written too while this is set (an incremental's open part). */
  writing = false;

  constructor(
    private readonly spill: (bytes: Buffer) => void,
    private readonly counts?: ChangeCounts,
  ) {}

  /**
   * Takes one pgoutput message `buf[at, end)`: returns its tag when it was written (a change or
   * commit outside a transaction is not, nor are Origin, Type and Message: nothing a restore needs),
   * else 0. E_BACKUP_FAILED for a change of a relation never described.
   */
  message(buf: Buffer, at: number, end: number): number {
    const tag = buf[at]!;
    switch (tag) {
      case TAG.begin:
        this.inTxn = true;
        this.txnChanges = 0;
        this.txnRelations = 0;
        break;
      case TAG.commit:
        if (!this.inTxn) return 0;
        this.inTxn = false;
        break;
      case TAG.relation:
        this.describe(buf, at, end);
        return tag;
      case TAG.insert:
      case TAG.update:
      case TAG.delete:
        if (!this.inTxn) return 0;
        this.count(buf.readUInt32BE(at + 1));
        break;
      case TAG.truncate: {
        if (!this.inTxn) return 0;
        const n = buf.readInt32BE(at + 1);
        for (let i = 0; i < n; i++) this.count(buf.readUInt32BE(at + 6 + 4 * i));
        break;
      }
      default:
        return 0;
    }
    this.record(buf, at, end);
    return tag;
  }

  /** The records of every relation described so far, in one buffer (the same one until the next description). */
  relationRecords(): Buffer {
    this.described ??= Buffer.concat([...this.relations.values()].map((r) => r.record));
    return this.described;
  }

  /** Appends bytes as they are (a header, relation records, an end record). */
  bytes(b: Buffer): void {
    this.room(b.length);
    b.copy(this.chunk, this.pos);
    this.pos += b.length;
    this.written += b.length;
  }

  /** The bytes written since the last take() or spill, not copied (valid for good: chunks are never reused). */
  take(): Buffer {
    const out = this.chunk.subarray(this.start, this.pos);
    this.start = this.pos;
    return out;
  }

  /** Hands the bytes not yet taken to `spill` (the rest of the chunk is written on: what was handed on stays as it is). */
  flush(): void {
    if (this.pos > this.start) this.spill(this.take());
  }

  /** Adds the changes counted per relation to `counts.objects`. */
  flushCounts(): void {
    for (const r of this.relations.values()) this.flushCount(r);
  }

  private describe(buf: Buffer, at: number, end: number): void {
    const id = buf.readUInt32BE(at + 1);
    const schemaEnd = buf.indexOf(0, at + 5);
    const tableEnd = schemaEnd < 0 || schemaEnd >= end ? -1 : buf.indexOf(0, schemaEnd + 1);
    if (tableEnd < 0 || tableEnd >= end) throw new DbBackupError('E_BACKUP_FAILED', 'pgoutput sent a relation message without its names.');
    const name = `${buf.toString('utf8', at + 5, schemaEnd)}.${buf.toString('utf8', schemaEnd + 1, tableEnd)}`;
    const record = Buffer.allocUnsafe(4 + end - at);
    record.writeUInt32BE(end - at, 0);
    buf.copy(record, 4, at, end);
    const before = this.relations.get(id);
    if (before) this.flushCount(before);
    this.relations.set(id, { record, name, count: 0 });
    this.described = undefined;
    if (this.writing || this.inTxn) {
      this.txnRelations++;
      this.bytes(record);
    }
  }

  private count(relation: number): void {
    const r = this.relations.get(relation);
    if (!r) throw new DbBackupError('E_BACKUP_FAILED', `pgoutput sent a change of relation ${relation} before describing it.`);
    this.txnChanges++;
    if (!this.counts) return;
    r.count++;
    this.counts.changes++;
  }

  private flushCount(r: Described): void {
    if (r.count === 0 || !this.counts) return;
    this.counts.objects.set(r.name, (this.counts.objects.get(r.name) ?? 0) + r.count);
    r.count = 0;
  }

  private record(buf: Buffer, at: number, end: number): void {
    const length = end - at;
    this.room(4 + length);
    this.chunk.writeUInt32BE(length, this.pos);
    buf.copy(this.chunk, this.pos + 4, at, end);
    this.pos += 4 + length;
    this.written += 4 + length;
  }

  /** Room for `n` more bytes: a full chunk is spilled first (a record never spans two chunks). */
  private room(n: number): void {
    if (this.pos + n <= this.chunk.length) return;
    if (this.pos > this.start) this.spill(this.chunk.subarray(this.start, this.pos));
    this.chunk = Buffer.allocUnsafe(Math.max(CHUNK, n));
    this.start = 0;
    this.pos = 0;
  }
}
