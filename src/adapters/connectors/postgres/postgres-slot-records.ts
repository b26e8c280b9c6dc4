import { Readable } from 'node:stream';
import type pg from 'pg';
import type { PartSink } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import { END_RECORD, RECORDS_EXTENSION, recordsHeader } from './postgres-change-records.js';
import { CopyBothQuery } from './postgres-copy-both.js';
import { standbyStatus, startReplication } from './postgres-replication.js';

/** What the stream of one read of the changes produced so far. */
export interface ReadState {
  changes: number;
  objects: Map<string, number>;
  /** The LSN the read is complete to: every transaction committing before it was read. */
  reached: bigint;
}

/** Keepalives (about one a second, see STATUS_MS) with no progress before the read counts as caught up. */
const IDLE_KEEPALIVES = 3;
/** A status update asking for a keepalive goes out this often (wal_sender_timeout stays content). */
const STATUS_MS = 1000;
/** Records are gathered into chunks of this size before they travel down the part pipeline. */
const CHUNK = 256 << 10;
/** Chunks waiting for the pipeline before the socket is paused (backpressure on the server). */
const MAX_QUEUED = 8;
/** Between two parts in the queue. */
const CUT = Symbol('cut');

const TAG = { begin: 0x42, commit: 0x43, relation: 0x52, insert: 0x49, update: 0x55, delete: 0x44, truncate: 0x54 } as const;
/** XLogData's header before the pgoutput message: 'w', start, end, send time. */
const XLOG_HEADER = 25;

export function partName(i: number): string {
  return String(i).padStart(4, '0');
}

/**
 * Streams the slot's transactions that commit before `stop` (from `state.reached`) into change-log
 * parts of format version 2 (postgres-change-records.ts) of about `partSize` bytes, cut after a
 * commit, numbered from `first`; returns how many were written. The pgoutput messages are copied
 * as they arrive (CopyBothQuery hands each on in place): only the few fields the read needs are
 * looked at (a begin's and commit's LSNs, a change's relation, to count it). Nothing is confirmed:
 * the status updates report no flush position. Ends at the first transaction at or past `stop`, or
 * when a keepalive between transactions says decoding has passed `stop`, or (the flushed WAL may
 * end inside a record no commit follows) when decoding stands still between transactions: then
 * `state.reached` is the keepalive's position, before which every commit was sent.
 */
export async function streamRecords(client: pg.Client, slot: string, publication: string, stop: bigint, state: ReadState, sink: PartSink, partSize: number, signal: AbortSignal, first = 0): Promise<number> {
  if (stop <= state.reached) return 0;
  const writer = new RecordWriter(stop, state, partSize);
  const query = new CopyBothQuery(startReplication(slot, state.reached, publication), (buf, start, end) => writer.take(buf, start, end));
  writer.attach(query);
  const timer = setInterval(() => writer.status(true), STATUS_MS);
  timer.unref();
  const onAbort = () => query.stop(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  client.query(query as unknown as pg.Submittable);
  try {
    let index = first;
    for (;;) {
      if (!(await writer.hasPart())) break;
      await sink.write({ name: `changes/${partName(index++)}.${RECORDS_EXTENSION}`, role: 'changes' }, Readable.from(writer.part()));
    }
    signal.throwIfAborted();
    return index - first;
  } catch (err) {
    query.stop(err);
    throw err;
  } finally {
    clearInterval(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

interface Described {
  /** The Relation message as a record (length prefix included), repeated at the start of each part. */
  record: Buffer;
  name: string;
  /** Changes counted to it since they were last added to the state's objects. */
  count: number;
}

/** The synchronous side (the socket's data handler) and the part side (async iteration) of one read. */
class RecordWriter {
  private query!: CopyBothQuery;
  private readonly relations = new Map<number, Described>();
  private chunk = Buffer.allocUnsafe(CHUNK);
  private pos = 0;
  private readonly queue: (Buffer | typeof CUT)[] = [];
  private partOpen = false;
  private partBytes = 0;
  private inTxn = false;
  private received = 0n;
  private idle = { at: -1n, count: 0 };
  /** Set when the read reached its end: nothing more is taken. */
  private done = false;
  private failure: unknown;
  private wake: (() => void) | undefined;

  constructor(
    private readonly stop: bigint,
    private readonly state: ReadState,
    private readonly partSize: number,
  ) {}

  attach(query: CopyBothQuery): void {
    this.query = query;
    query.finished.then(
      () => {
        if (!this.done) this.fail(new DbBackupError('E_BACKUP_FAILED', 'The server ended the replication stream before the changes were read to the end; try again.'));
      },
      (err: unknown) => this.fail(err),
    );
  }

  status(reply: boolean): void {
    if (!this.done) this.query.send(standbyStatus(this.received, 0n, reply));
  }

  /** One CopyData payload of the stream (the rules in streamRecords' contract). */
  take(buf: Buffer, start: number, end: number): void {
    if (this.done) return;
    const kind = buf[start];
    if (kind === 0x6b /* k: keepalive */) {
      if (end - start < 18) throw new DbBackupError('E_BACKUP_FAILED', 'The server sent a short keepalive message.');
      if (buf[start + 17] === 1) this.status(false);
      if (this.inTxn) return;
      const walEnd = buf.readBigUInt64BE(start + 1);
      if (walEnd >= this.stop) return this.finish(this.stop);
      this.idle = walEnd === this.idle.at ? { at: walEnd, count: this.idle.count + 1 } : { at: walEnd, count: 1 };
      if (this.idle.count >= IDLE_KEEPALIVES) this.finish(walEnd > this.state.reached ? walEnd : this.state.reached);
      return;
    }
    if (kind !== 0x77 /* w: XLogData */ || end - start <= XLOG_HEADER) return;
    this.idle.at = -1n;
    const at = start + XLOG_HEADER;
    switch (buf[at]) {
      case TAG.begin: {
        const finalLsn = buf.readBigUInt64BE(at + 1);
        if (finalLsn >= this.stop) return this.finish(this.stop);
        this.received = buf.readBigUInt64BE(start + 1);
        if (!this.partOpen) this.openPart();
        this.inTxn = true;
        this.record(buf, at, end);
        return;
      }
      case TAG.commit: {
        if (!this.inTxn) return;
        this.record(buf, at, end);
        this.inTxn = false;
        const endLsn = buf.readBigUInt64BE(at + 10);
        if (endLsn > this.state.reached) this.state.reached = endLsn;
        if (this.partBytes >= this.partSize) this.closePart();
        return;
      }
      case TAG.relation:
        return this.describe(buf, at, end);
      case TAG.insert:
      case TAG.update:
      case TAG.delete:
        if (!this.inTxn) return;
        this.count(buf.readUInt32BE(at + 1));
        this.record(buf, at, end);
        return;
      case TAG.truncate: {
        if (!this.inTxn) return;
        const n = buf.readInt32BE(at + 1);
        for (let i = 0; i < n; i++) this.count(buf.readUInt32BE(at + 6 + 4 * i));
        this.record(buf, at, end);
        return;
      }
      default:
      // Origin, Type, Message: nothing a restore needs (values stay text).
    }
  }

  /** Waits until a part's bytes (or the end) are there; false when the read ended with no more parts. */
  async hasPart(): Promise<boolean> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      if (this.queue.length > 0) return true;
      if (this.done) return false;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** One part's bytes, up to its cut. */
  async *part(): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      const next = this.queue.shift();
      if (next === CUT) return;
      if (next !== undefined) {
        if (this.queue.length < MAX_QUEUED) this.query.resume();
        yield next;
        continue;
      }
      if (this.done) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** A Relation message: kept (each part starts with them), written to the open part, counted under its name. */
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
    if (this.partOpen) this.bytes(record);
  }

  private count(relation: number): void {
    const r = this.relations.get(relation);
    if (!r) throw new DbBackupError('E_BACKUP_FAILED', `pgoutput sent a change of relation ${relation} before describing it.`);
    r.count++;
    this.state.changes++;
  }

  private flushCount(r: Described): void {
    if (r.count === 0) return;
    this.state.objects.set(r.name, (this.state.objects.get(r.name) ?? 0) + r.count);
    r.count = 0;
  }

  /** Appends a record (its length, then buf[at, end)) to the open part. */
  private record(buf: Buffer, at: number, end: number): void {
    const length = end - at;
    this.room(4 + length);
    this.chunk.writeUInt32BE(length, this.pos);
    buf.copy(this.chunk, this.pos + 4, at, end);
    this.pos += 4 + length;
    this.partBytes += 4 + length;
  }

  private bytes(b: Buffer): void {
    this.room(b.length);
    b.copy(this.chunk, this.pos);
    this.pos += b.length;
    this.partBytes += b.length;
  }

  private room(n: number): void {
    if (this.pos + n <= this.chunk.length) return;
    this.flushChunk();
    if (n > this.chunk.length) this.chunk = Buffer.allocUnsafe(n);
  }

  private flushChunk(): void {
    if (this.pos === 0) return;
    this.queue.push(this.chunk.subarray(0, this.pos));
    this.chunk = Buffer.allocUnsafe(CHUNK);
    this.pos = 0;
    if (this.queue.length >= MAX_QUEUED) this.query.pause();
    this.notify();
  }

  private openPart(): void {
    this.partOpen = true;
    this.partBytes = 0;
    this.bytes(recordsHeader());
    for (const r of this.relations.values()) this.bytes(r.record);
  }

  private closePart(): void {
    this.bytes(END_RECORD);
    this.flushChunk();
    this.queue.push(CUT);
    this.partOpen = false;
    this.notify();
  }

  private finish(reached: bigint): void {
    this.state.reached = reached;
    if (this.partOpen) this.closePart();
    for (const r of this.relations.values()) this.flushCount(r);
    this.done = true;
    this.query.stop();
    this.notify();
  }

  private fail(err: unknown): void {
    if (this.done) return;
    this.failure ??= err;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
