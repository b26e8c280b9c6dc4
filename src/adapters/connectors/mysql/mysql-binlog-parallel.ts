import { EventType, type FormatDescription, isGtidEvent, isRowsEvent, readFormatDescription, readGtid, readHeader, readQuery, readTableMap } from './mysql-binlog-events.js';
import type { BinlogApplier } from './mysql-binlog-applier.js';

/** A source transaction is held whole (to learn its tables before it is given to a connection) up to this many bytes; a bigger one streams once all before it committed. */
const HOLD_BYTES = 16 << 20;
/** Bytes of held transactions waiting for their connections; the log's reading waits above it. */
const QUEUED_BYTES = 24 << 20;
/**
 * …or this many transactions, whatever their size: each holds objects (its job, an array and a Buffer
 * per event) that weigh more than a small transaction's bytes, and the log is read much faster than it
 * applies, so without a count 24 MiB of one-row transactions (hundreds of thousands) would wait.
 */
const QUEUED_TRANSACTIONS = 1024;

/** A transaction given to a worker (a connection with its own BinlogApplier). */
interface Job {
  seq: number;
  worker: number;
  /** The FORMAT_DESCRIPTION its events follow. */
  fd: Buffer;
  events: Buffer[];
  bytes: number;
  /** Transactions that must be committed before it starts: [worker, seq]. */
  deps: [number, number][];
  /** More events come (a transaction too big to hold, streamed); closed when the log reaches its end. */
  streaming: boolean;
}

/** The transaction being read: its events until its end, or (streaming) the job they go to. */
interface Open {
  events: Buffer[];
  bytes: number;
  keys: Set<string>;
  /** A statement (DDL, statement-based DML) or anything the dispatcher does not look into: it runs alone. */
  alone: boolean;
  /** The next statement ends it (MariaDB's standalone GTID, MySQL's GTID before a DDL, an autocommit statement). */
  standalone: boolean;
  job?: Job;
}

/** Resolves every waiter on each `notify()`: workers and the reader re-check their conditions. */
class Tick {
  private resolve!: () => void;
  private next = this.fresh();
  wait(): Promise<void> {
    return this.next;
  }
  notify(): void {
    this.resolve();
    this.next = this.fresh();
  }
  private fresh(): Promise<void> {
    return new Promise<void>((r) => (this.resolve = r));
  }
}

class Worker {
  readonly queue: Job[] = [];
  /** Seq of the last job applied, of the last one known committed, and the highest one another worker waits for. */
  applied = 0;
  committed = 0;
  demand = 0;
  /** Seq of the last job given to it. */
  assigned = 0;
  queuedBytes = 0;
  private fd: Buffer | undefined;

  constructor(
    readonly applier: BinlogApplier,
    private readonly index: number,
    private readonly replay: ParallelReplay,
  ) {}

  async run(where: string): Promise<void> {
    const r = this.replay;
    for (;;) {
      r.throwIfFailed();
      const job = this.queue[0];
      if (!job) {
        if (r.ended) {
          await this.applier.finish();
          this.committed = this.applied;
          r.tick.notify();
          return;
        }
        if (this.waitedFor()) await this.commit();
        else await r.tick.wait();
        continue;
      }
      if (!job.deps.every(([w, seq]) => w === this.index || r.workers[w]!.committed >= seq)) {
        // What this worker applied is committed before it waits: a worker waited for never waits for it in turn.
        // Then the check again: what it waits for may have committed meanwhile, and no wake-up would say so.
        if (this.applied > this.committed) {
          await this.commit();
          continue;
        }
        // From this check to the wait nothing yields, so no commit can slip between them unseen.
        // Only a new demand wakes the others (a wake-up that leads to another would spin without I/O).
        let asked = false;
        for (const [w, seq] of job.deps) {
          const other = r.workers[w]!;
          if (w !== this.index && other.committed < seq && other.demand < seq) {
            other.demand = seq;
            asked = true;
          }
        }
        if (asked) r.tick.notify();
        await r.tick.wait();
        continue;
      }
      if (job.fd !== this.fd) {
        await this.applier.event(job.fd, where);
        this.fd = job.fd;
      }
      for (;;) {
        const events = job.events.splice(0);
        for (const e of events) await this.applier.event(e, where);
        this.queuedBytes -= events.reduce((n, e) => n + e.length, 0);
        r.tick.notify();
        // The reader may have added the transaction's last events (and closed it) while these applied:
        // it is done only once closed with nothing left (the bug was to stop at closed, dropping its tail and XID).
        if (job.events.length === 0) {
          if (!job.streaming) break;
          await r.tick.wait();
        }
        r.throwIfFailed();
      }
      this.queue.shift();
      r.queuedJobs--;
      r.tick.notify();
      this.applied = job.seq;
      if (this.waitedFor()) await this.commit();
    }
  }

  /** Another waits for a transaction this one applied but did not commit yet. */
  private waitedFor(): boolean {
    return this.demand > this.committed && this.demand <= this.applied;
  }

  private async commit(): Promise<void> {
    await this.applier.commit();
    this.committed = this.applied;
    this.replay.tick.notify();
  }
}

/**
 * Replays the log on several connections, as writeset-based parallel replication does: the
 * source's transactions are read in order and each is given whole to one connection; one that
 * touches a table (or a table linked to it by a foreign key, `keyOf`) an earlier transaction
 * touched starts only once that one committed — on the same connection it simply follows it.
 * So every table sees its transactions in the source's order, each source transaction stays
 * atomic, and transactions of disjoint tables run at once. A statement (DDL and the like), a
 * compressed MySQL 8 transaction, or anything else not plain row events runs alone: after all
 * before it committed and before any after it starts. Each connection groups the transactions it
 * runs into target transactions as the serial replay does and commits when another waits for it.
 * Only the final state equals the source's at the stop point; a failure leaves the target at no
 * source state (the restore failed). Memory: a transaction is held up to HOLD_BYTES, bigger ones
 * stream after everything before them committed; QUEUED_BYTES or QUEUED_TRANSACTIONS of held ones at most.
 */
export class ParallelReplay {
  readonly tick = new Tick();
  readonly workers: Worker[];
  ended = false;
  /** Transactions given out and not yet applied. */
  queuedJobs = 0;
  private failure: unknown;
  private readonly runs: Promise<void>[];
  private seq = 0;
  private fdEvent: Buffer | undefined;
  private fd: FormatDescription = { serverVersion: '', checksumLength: 0 };
  private open: Open | undefined;
  /** Per table key: the worker and seq of the last transaction that touched it. */
  private readonly last = new Map<string, [number, number]>();

  constructor(
    appliers: BinlogApplier[],
    where: string,
    /** The scheduling key of a source table (`db`, `table`), or undefined when its rows are not replayed. */
    private readonly keyOf: (db: string, table: string) => string | undefined,
    /** Called once a statement ran alone (a DDL may have changed the foreign keys keyOf follows). */
    private readonly afterStatement: () => Promise<void>,
  ) {
    this.workers = appliers.map((a, i) => new Worker(a, i, this));
    this.runs = this.workers.map((w) =>
      w.run(where).catch((err: unknown) => {
        this.failure ??= err;
        this.tick.notify();
        throw err;
      }),
    );
    for (const r of this.runs) r.catch(() => undefined);
  }

  throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** The log's next event. */
  async event(event: Buffer): Promise<void> {
    this.throwIfFailed();
    const h = readHeader(event);
    const type = h.type;
    if (type === EventType.FORMAT_DESCRIPTION) {
      await this.close();
      this.fdEvent = event;
      this.fd = readFormatDescription(event);
      return;
    }
    if (isGtidEvent(type)) {
      await this.close();
      this.open = this.begin(readGtid(event, h, this.fd).standalone);
      return this.add(event);
    }
    if (type === EventType.QUERY || type === EventType.QUERY_COMPRESSED) {
      const text = readQuery(event, this.fd).query.trim().toUpperCase();
      if (text === 'BEGIN') {
        this.open ??= this.begin(false);
        this.open.standalone = false;
        return this.add(event);
      }
      if (text === 'COMMIT' || text === 'ROLLBACK') {
        if (!this.open) return; // nothing of it was seen: nothing to end
        await this.add(event);
        return this.close();
      }
      this.open ??= this.begin(true);
      this.open.alone = true;
      await this.add(event);
      if (this.open.standalone) await this.close();
      return;
    }
    if (type === EventType.XID || type === EventType.TRANSACTION_PAYLOAD) {
      this.open ??= this.begin(true);
      if (type === EventType.TRANSACTION_PAYLOAD) this.open.alone = true;
      await this.add(event);
      return this.close();
    }
    if (type === EventType.TABLE_MAP) {
      const t = readTableMap(event, this.fd);
      const key = this.keyOf(t.db, t.table);
      this.open ??= this.begin(false, true);
      if (key !== undefined) this.open.keys.add(key);
      return this.add(event);
    }
    if (isRowsEvent(type)) {
      this.open ??= this.begin(false, true);
      return this.add(event);
    }
    // Inside a transaction the other events (annotations) go with it; outside they change nothing.
    if (this.open) return this.add(event);
  }

  /** Stops the workers after a failure of the reading (theirs is thrown by event/finish). */
  async halt(err: unknown): Promise<void> {
    this.failure ??= err;
    this.tick.notify();
    await Promise.allSettled(this.runs);
  }

  /** The log ends here: a transaction it left open is undone (held: never sent; streaming: by its worker). */
  async finish(): Promise<void> {
    const streaming = this.open?.job;
    if (streaming) {
      streaming.streaming = false;
      this.remember(streaming, this.open!);
    }
    this.open = undefined;
    this.ended = true;
    this.tick.notify();
    const settled = await Promise.allSettled(this.runs);
    this.throwIfFailed();
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
  }

  private begin(standalone: boolean, alone = false): Open {
    return { events: [], bytes: 0, keys: new Set(), alone, standalone };
  }

  private async add(event: Buffer): Promise<void> {
    const o = this.open!;
    if (o.job) {
      // Streaming: the worker takes the events as they come, a bounded amount ahead.
      o.job.events.push(event);
      this.workers[0]!.queuedBytes += event.length;
      this.tick.notify();
      while (this.workers[0]!.queuedBytes > HOLD_BYTES) {
        this.throwIfFailed();
        await this.tick.wait();
      }
      return;
    }
    o.events.push(event);
    o.bytes += event.length;
    if (o.bytes > HOLD_BYTES) {
      // Too big to hold: it goes to the first worker once everything before it committed.
      o.job = this.assign(0, this.everything(), o.events, o.bytes, true);
      o.events = [];
    }
  }

  /** The open transaction ended: given to a worker (or, streaming, marked complete). */
  private async close(): Promise<void> {
    const o = this.open;
    this.open = undefined;
    if (!o) return;
    if (o.job) {
      o.job.streaming = false;
      this.tick.notify();
      this.remember(o.job, o);
      if (o.alone) await this.statementDone(o.job);
      return;
    }
    if (o.keys.size === 0 && !o.alone) return; // none of its rows are replayed
    while (this.queuedJobs >= QUEUED_TRANSACTIONS || this.workers.reduce((n, w) => n + w.queuedBytes, 0) > QUEUED_BYTES) {
      this.throwIfFailed();
      await this.tick.wait();
    }
    if (o.alone) return this.statementDone(this.assign(0, this.everything(), o.events, o.bytes, false));
    const deps = [...o.keys].map((k) => this.last.get(k)).filter((d) => d !== undefined);
    const owners = new Set(deps.map(([w]) => w));
    // Following its only predecessor's connection needs no wait; a fresh one goes where the least waits.
    const worker =
      owners.size === 1 ? [...owners][0]! : owners.size > 1 ? deps.reduce((a, b) => (b[1] > a[1] ? b : a))[0] : this.leastBusy();
    const job = this.assign(worker, deps, o.events, o.bytes, false);
    this.remember(job, o);
  }

  /**
   * A statement runs alone: nothing after it is given out until it committed (so nothing waits
   * for it later), then the table keys are read again (its DDL may have added a foreign key).
   */
  private async statementDone(job: Job): Promise<void> {
    const w = this.workers[0]!;
    w.demand = Math.max(w.demand, job.seq);
    this.tick.notify();
    while (w.committed < job.seq) {
      this.throwIfFailed();
      await this.tick.wait();
    }
    this.last.clear();
    await this.afterStatement();
  }

  private remember(job: Job, o: Open): void {
    for (const k of o.keys) this.last.set(k, [job.worker, job.seq]);
  }

  /** Dependencies on every transaction given out so far. */
  private everything(): [number, number][] {
    return this.workers.map((w, i) => [i, w.assigned] as [number, number]).filter(([, seq]) => seq > 0);
  }

  private leastBusy(): number {
    let best = 0;
    for (let i = 1; i < this.workers.length; i++) {
      const w = this.workers[i]!;
      const b = this.workers[best]!;
      if (w.queue.length < b.queue.length || (w.queue.length === b.queue.length && w.queuedBytes < b.queuedBytes)) best = i;
    }
    return best;
  }

  private assign(worker: number, deps: [number, number][], events: Buffer[], bytes: number, streaming: boolean): Job {
    if (!this.fdEvent) throw new Error('binary log events before its FORMAT_DESCRIPTION');
    const job: Job = { seq: ++this.seq, worker, fd: this.fdEvent, events, bytes, deps, streaming };
    const w = this.workers[worker]!;
    w.queue.push(job);
    this.queuedJobs++;
    w.assigned = job.seq;
    w.queuedBytes += bytes;
    this.tick.notify();
    return job;
  }
}
