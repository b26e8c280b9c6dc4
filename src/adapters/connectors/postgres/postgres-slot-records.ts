import { Readable } from 'node:stream';
import type pg from 'pg';
import type { PartSink } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import { END_RECORD, RECORDS_EXTENSION, recordsHeader } from './postgres-change-records.js';
import { PgoRecorder, TAG } from './postgres-pgo-writer.js';
import { type SlotReader, SlotStream } from './postgres-slot-stream.js';

/** What the stream of one read of the changes produced so far. */
export interface ReadState {
  changes: number;
  objects: Map<string, number>;
  /** The LSN the read is complete to: every transaction committing before it was read. */
  reached: bigint;
}

/** Keepalives (about one a second, see SlotStream) with no progress before the read counts as caught up. */
const IDLE_KEEPALIVES = 3;
/** Chunks waiting for the pipeline before the socket is paused (backpressure on the server). */
const MAX_QUEUED = 8;
/** Between two parts in the queue. */
const CUT = Symbol('cut');

export function partName(i: number): string {
  return String(i).padStart(4, '0');
}

/**
 * Streams the slot's transactions that commit before `stop` (from `state.reached`) into change-log
 * parts of format version 2 (postgres-change-records.ts) of about `partSize` bytes, cut after a
 * commit, numbered from `first`; returns how many were written. The pgoutput messages are copied
 * as they arrive (SlotStream hands each on in place, PgoRecorder writes it): only the few fields
 * the read needs are looked at (a begin's and commit's LSNs, a change's relation, to count it).
 * Nothing is confirmed: the status updates report no flush position. Ends at the first transaction
 * at or past `stop`, or when a keepalive between transactions says decoding has passed `stop`, or
 * (the flushed WAL may end inside a record no commit follows) when decoding stands still between
 * transactions: then `state.reached` is the keepalive's position, before which every commit was sent.
 * With `held`, a read that ends well leaves the stream open (SlotStream.hold) in `held.stream`:
 * the caller confirms the slot over it (confirmAndEnd) or ends it.
 */
export async function streamRecords(client: pg.Client, slot: string, publication: string, stop: bigint, state: ReadState, sink: PartSink, partSize: number, signal: AbortSignal, first = 0, held?: { stream?: SlotStream }): Promise<number> {
  if (stop <= state.reached) return 0;
  const writer = new RecordWriter(stop, state, partSize, held !== undefined);
  const stream = new SlotStream(client, slot, state.reached, publication, writer);
  writer.attach(stream);
  const onAbort = () => stream.stop(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    let index = first;
    for (;;) {
      if (!(await writer.hasPart())) break;
      await sink.write({ name: `changes/${partName(index++)}.${RECORDS_EXTENSION}`, role: 'changes' }, Readable.from(writer.part()));
    }
    signal.throwIfAborted();
    if (held) held.stream = stream;
    return index - first;
  } catch (err) {
    stream.stop(err);
    throw err;
  } finally {
    if (held?.stream !== stream) stream.stop();
    signal.removeEventListener('abort', onAbort);
  }
}

/** The synchronous side (the socket's reader) and the part side (async iteration) of one read. */
class RecordWriter implements SlotReader {
  private stream!: SlotStream;
  private readonly recorder: PgoRecorder;
  private readonly queue: (Buffer | typeof CUT)[] = [];
  private partOpen = false;
  private partStart = 0;
  private idle = { at: -1n, count: 0 };
  /** Set when the read reached its end: nothing more is taken. */
  private done = false;
  private failure: unknown;
  private wake: (() => void) | undefined;

  constructor(
    private readonly stop: bigint,
    private readonly state: ReadState,
    private readonly partSize: number,
    /** At the end the stream is held (for a confirmation over it), not stopped. */
    private readonly hold: boolean,
  ) {
    this.recorder = new PgoRecorder((bytes) => this.queued(bytes), state);
  }

  attach(stream: SlotStream): void {
    this.stream = stream;
    stream.finished.then(
      () => {
        if (!this.done) this.fail(new DbBackupError('E_BACKUP_FAILED', 'The server ended the replication stream before the changes were read to the end; try again.'));
      },
      (err: unknown) => this.fail(err),
    );
  }

  keepalive(walEnd: bigint): void {
    if (this.done || this.recorder.inTxn) return;
    if (walEnd >= this.stop) return this.finish(this.stop);
    this.idle = walEnd === this.idle.at ? { at: walEnd, count: this.idle.count + 1 } : { at: walEnd, count: 1 };
    if (this.idle.count >= IDLE_KEEPALIVES) this.finish(walEnd > this.state.reached ? walEnd : this.state.reached);
  }

  /** One pgoutput message (the rules in streamRecords' contract). */
  data(buf: Buffer, at: number, end: number): void {
    if (this.done) return;
    this.idle.at = -1n;
    const tag = buf[at];
    if (tag === TAG.begin) {
      if (buf.readBigUInt64BE(at + 1) >= this.stop) return this.finish(this.stop);
      if (!this.partOpen) this.openPart();
    }
    if (this.recorder.message(buf, at, end) !== TAG.commit) return;
    const endLsn = buf.readBigUInt64BE(at + 10);
    if (endLsn > this.state.reached) this.state.reached = endLsn;
    if (this.recorder.written - this.partStart >= this.partSize) this.closePart();
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
        if (this.queue.length < MAX_QUEUED) this.stream.resume();
        yield next;
        continue;
      }
      if (this.done) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** A chunk of records for the pipeline (the socket pauses while too many wait). */
  private queued(bytes: Buffer): void {
    this.queue.push(bytes);
    if (this.queue.length >= MAX_QUEUED) this.stream.pause();
    this.notify();
  }

  private openPart(): void {
    this.partOpen = true;
    this.recorder.writing = true;
    this.partStart = this.recorder.written;
    this.recorder.bytes(recordsHeader());
    this.recorder.bytes(this.recorder.relationRecords());
  }

  private closePart(): void {
    this.recorder.bytes(END_RECORD);
    this.recorder.flush();
    this.queue.push(CUT);
    this.partOpen = false;
    this.recorder.writing = false;
    this.notify();
  }

  private finish(reached: bigint): void {
    this.state.reached = reached;
    if (this.partOpen) this.closePart();
    this.recorder.flushCounts();
    this.done = true;
    if (this.hold) this.stream.hold();
    else this.stream.stop();
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
