import type pg from 'pg';
import { DbBackupError } from '../../../domain/errors.js';
import { type LogCommit, MAX_COMMIT_BYTES, oldestCommits } from '../../../domain/log-segment.js';
import type { SequenceValue } from './postgres-change-log.js';
import { sequencesRecord } from './postgres-change-records.js';
import { PgOutputDecoder, type Relation } from './postgres-pgoutput.js';
import { PgoRecorder, TAG } from './postgres-pgo-writer.js';
import { lsnToBigInt } from './postgres-replication.js';
import { type SlotReader, SlotStream } from './postgres-slot-stream.js';

/** A commit read from the slot, waiting to be shipped. */
interface Waiting {
  commit: LogCommit;
  /** The LSN after it. */
  end: bigint;
  /** The Relation records of the relations described before it: a segment starting with it starts with them. */
  prefix: Buffer;
}

/** PostgreSQL's epoch (2000-01-01) in microseconds since the Unix epoch. */
const PG_EPOCH_MICROS = 946_684_800_000_000n;

/** What the follower asks of its owner (postgres-continuous.ts). */
export interface FollowerHooks {
  /** With DDL captured the tables' shape may change in the stream: no relation check. */
  followsDdl: boolean;
  /** A Relation message: throws (ending the stream) when the table changed shape and that ends the generation. */
  described(relation: Relation): void;
  /** The stream's failure as the error poll() throws. */
  failed(err: unknown): Error;
}

/**
 * The slot of a replicate generation streamed from `lsn` (SlotStream: the messages are read in
 * place), each source transaction kept as one commit of a log segment in change-log format 2 (its
 * pgoutput records, written by PgoRecorder as an incremental's parts are; see
 * postgres-stream-segment.ts), waiting to be taken. Reading pauses while `limit` bytes wait, and
 * from a Relation message on until checked() (the owner compares the tables' shape with the
 * generation's: the commits read meanwhile are held, not offered). The slot is confirmed (the
 * status updates' flush LSN) only by acknowledge(): release()'s commit ends, and an idle
 * keepalive's WAL end when nothing waits and no transaction is half read.
 */
export class SlotFollower implements SlotReader {
  private readonly stream: SlotStream;
  private readonly recorder: PgoRecorder;
  private readonly decoder = new PgOutputDecoder();
  /** The open transaction's bytes spilled by the recorder (a transaction longer than a chunk). */
  private pieces: Buffer[] = [];
  private txnStart = 0;
  private txnPrefix: Buffer = Buffer.alloc(0);
  /** A Relation came between transactions (pgoutput sends them inside): the next transaction carries every relation. */
  private describeNext = false;
  private readonly waiting: Waiting[] = [];
  private held: Waiting[] = [];
  private heldBytes = 0;
  private unchecked = false;
  /** Relation messages read: a check is good only for those read before it started. */
  private relationsRead = 0;
  private lastTime = 0;
  private confirmed: bigint;
  private stopped = false;
  /** Bytes of the commits waiting to be taken. */
  waitingBytes = 0;
  /** Reading pauses while this many bytes wait (poll's maxBytes). */
  limit = 16 << 20;
  /** Commits arrived since the sequences were last appended. */
  fresh = false;
  failure?: Error;

  constructor(
    client: pg.Client,
    p: { slot: string; publication: string; lsn: string },
    private readonly hooks: FollowerHooks,
  ) {
    this.confirmed = lsnToBigInt(p.lsn);
    this.recorder = new PgoRecorder((bytes) => this.pieces.push(bytes));
    this.stream = new SlotStream(client, p.slot, this.confirmed, p.publication, this);
    this.stream.finished.then(
      () => this.fail(new DbBackupError('E_BACKUP_FAILED', 'The server ended the replication stream; replicate stops (run it again to resume).')),
      (err: unknown) => this.fail(this.hooks.failed(err)),
    );
  }

  /** While a Relation message waits for the owner's check: the number to give checked(); else undefined. */
  get checking(): number | undefined {
    return this.unchecked ? this.relationsRead : undefined;
  }

  keepalive(walEnd: bigint): void {
    // Idle: nothing unshipped, no transaction half read, so no change before walEnd is still to come.
    if (!this.recorder.inTxn && this.waiting.length === 0 && this.held.length === 0 && !this.unchecked) this.acknowledge(walEnd);
  }

  data(buf: Buffer, at: number, end: number): void {
    const tag = this.recorder.message(buf, at, end);
    if (tag === TAG.begin) {
      this.pieces = [];
      this.txnStart = this.recorder.written - (end - at) - 4;
      this.txnPrefix = this.recorder.relationRecords();
      if (this.describeNext) this.recorder.bytes(this.txnPrefix);
      this.describeNext = false;
    } else if (tag === TAG.commit) {
      this.commit(buf, at);
    } else if (tag === TAG.relation) {
      this.relationsRead++;
      const m = this.decoder.decode(buf, at, end);
      if (m.tag === 'relation') this.hooks.described(m.relation);
      if (!this.recorder.inTxn) this.describeNext = true;
      if (!this.hooks.followsDdl) {
        this.unchecked = true;
        this.stream.pause();
      }
    } else if (tag !== 0 && this.recorder.written - this.txnStart > MAX_COMMIT_BYTES - (1 << 20)) {
      throw new DbBackupError('E_BACKUP_FAILED', `A transaction of more than ${MAX_COMMIT_BYTES >> 20} MiB of changes cannot be one commit of a log segment; back it up with a full (or incrementals) instead.`);
    }
  }

  /**
   * The owner found the tables' shape unchanged, looking after `seen` relation messages (checking's
   * value when its check started; none: whatever came): the held commits are offered and reading
   * goes on, unless another relation message came since (then its check decides).
   */
  checked(seen?: number): void {
    if (seen !== undefined && seen !== this.relationsRead) return;
    this.unchecked = false;
    // Their sequences' values are still to be read (sequencesFor() saw only the commits offered).
    if (this.held.length > 0) this.fresh = true;
    for (const w of this.held) this.waiting.push(w);
    this.waitingBytes += this.heldBytes;
    this.held = [];
    this.heldBytes = 0;
    this.flow();
  }

  /**
   * The last waiting commit, whose sequences' values are about to be read (after it arrived): give
   * it to appendSequences with them. A commit arriving while they are read is fresh again (its
   * values are read at the next poll): values read before a commit are never appended to it.
   */
  sequencesFor(): object | undefined {
    this.fresh = false;
    return this.waiting.at(-1);
  }

  /** Appends the sequences' values, read after `to` (sequencesFor()) arrived, to that commit if it still waits. */
  appendSequences(to: object | undefined, values: SequenceValue[]): void {
    const last = this.waiting.find((w) => w === to);
    if (!last) return;
    const payload = Buffer.concat([last.commit.payload, sequencesRecord(values)]);
    this.waitingBytes += payload.length - last.commit.payload.length;
    last.commit = { time: last.commit.time, payload };
  }

  /** The oldest waiting commits, about `maxBytes` (at least one), the first led by its relations; with the LSN after them. */
  take(maxBytes: number): { commits: LogCommit[]; bytes: number; end: bigint } | undefined {
    const taken = oldestCommits(this.waiting, maxBytes);
    if (!taken) return undefined;
    const first = this.waiting[0]!;
    const lead = { time: first.commit.time, payload: Buffer.concat([first.prefix, first.commit.payload]) };
    return { commits: [lead, ...taken.commits.slice(1)], bytes: taken.bytes + first.prefix.length, end: taken.last.end };
  }

  /** The commits up to `lsn` are listed in every target: no longer waiting, and the slot is confirmed to it. */
  release(lsn: bigint): void {
    let n = 0;
    while (n < this.waiting.length && this.waiting[n]!.end <= lsn) this.waitingBytes -= this.waiting[n++]!.commit.payload.length;
    this.waiting.splice(0, n);
    this.acknowledge(lsn);
    this.flow();
  }

  /** Reads on, or not, as the bytes waiting and the pending check say. */
  flow(): void {
    if (this.unchecked || this.waitingBytes + this.heldBytes >= this.limit) this.stream.pause();
    else this.stream.resume();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.stream.end();
  }

  private commit(buf: Buffer, at: number): void {
    this.pieces.push(this.recorder.take());
    const payload = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces);
    this.pieces = [];
    // A transaction that changed nothing published (pgoutput < 15 sends them) is not shipped; an idle keepalive confirms past it.
    if (this.recorder.txnChanges === 0 && this.recorder.txnRelations === 0) return;
    // Commit times need not grow in commit order by a few microseconds; a segment's must.
    const micros = buf.readBigInt64BE(at + 18) + PG_EPOCH_MICROS;
    this.lastTime = Math.max(this.lastTime, Number((micros + 999n) / 1000n));
    const w: Waiting = { commit: { time: this.lastTime, payload }, end: buf.readBigUInt64BE(at + 10), prefix: this.txnPrefix };
    if (this.unchecked) {
      this.held.push(w);
      this.heldBytes += payload.length;
    } else {
      this.waiting.push(w);
      this.waitingBytes += payload.length;
    }
    this.fresh = true;
    if (this.waitingBytes + this.heldBytes >= this.limit) this.stream.pause();
  }

  private acknowledge(lsn: bigint): void {
    if (lsn <= this.confirmed) return;
    this.confirmed = lsn;
    this.stream.confirm(lsn);
  }

  private fail(err: Error): void {
    if (this.stopped) return;
    this.failure ??= err;
  }
}
