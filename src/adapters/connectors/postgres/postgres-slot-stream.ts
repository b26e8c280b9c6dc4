import type pg from 'pg';
import { DbBackupError } from '../../../domain/errors.js';
import { CopyBothQuery } from './postgres-copy-both.js';
import { lsnToBigInt, slotState, standbyStatus, startReplication, waitSlotFree } from './postgres-replication.js';

/** A status update asking for a keepalive goes out this often (wal_sender_timeout stays content). */
const STATUS_MS = 1000;
/** XLogData's header before the pgoutput message: 'w', start, end, send time. */
const XLOG_HEADER = 25;
/** How long confirmAndEnd waits for the server to show the slot confirmed (it answers within milliseconds). */
const CONFIRM_MS = 10_000;

/** What a slot's reader is handed, synchronously, while the socket's chunk is read (copy what must outlive the call). */
export interface SlotReader {
  /** One pgoutput message, `buf[at, end)`. */
  data(buf: Buffer, at: number, end: number): void;
  /** A keepalive: the WAL position decoding has reached when nothing is in flight. */
  keepalive(walEnd: bigint): void;
}

/**
 * START_REPLICATION of a logical slot (pgoutput protocol 1, the publication) read in place
 * (CopyBothQuery: no object per message), for an incremental's read (postgres-slot-records.ts)
 * and replicate (postgres-continuous-reader.ts) alike. XLogData and keepalives go to the reader; a
 * keepalive asking for a reply is answered at once, and a status update asking for one goes out
 * every second. The status updates report as flushed only what confirm() allowed (0 at first: the
 * slot stays where it is), so the server frees nothing that is not stored in every target. A throw
 * of the reader stops the stream: it becomes `finished`'s rejection.
 */
export class SlotStream {
  readonly query: CopyBothQuery;
  private received = 0n;
  private flushed = 0n;
  private readonly timer: NodeJS.Timeout;
  /** Set by hold(): the reader is handed nothing more. */
  private holding = false;

  constructor(
    readonly client: pg.Client,
    slot: string,
    start: bigint,
    publication: string,
    private readonly reader: SlotReader,
  ) {
    this.query = new CopyBothQuery(startReplication(slot, start, publication), (buf, s, e) => this.take(buf, s, e));
    this.timer = setInterval(() => this.status(true), STATUS_MS);
    this.timer.unref();
    this.query.finished.then(
      () => clearInterval(this.timer),
      () => clearInterval(this.timer),
    );
    client.query(this.query as unknown as pg.Submittable);
  }

  /** Settles when the stream ends (the server's CopyDone or error, a reader's throw, or stop()). */
  get finished(): Promise<void> {
    return this.query.finished;
  }

  /**
   * Lets the slot move to `lsn` (never back): this and every later status update report it as
   * flushed. Only for a commit boundary whose changes are stored in every target, or an idle
   * keepalive's WAL end with nothing unshipped. False when the stream is over (nothing was sent).
   */
  confirm(lsn: bigint): boolean {
    if (lsn > this.flushed) this.flushed = lsn;
    if (lsn > this.received) this.received = lsn;
    return this.status(false);
  }

  /** A standby status update (`reply`: asks the server for a keepalive back); false once the stream is over. */
  status(reply: boolean): boolean {
    return this.query.send(standbyStatus(this.received, this.flushed, reply));
  }

  /**
   * The read is over but the stream is kept for confirmAndEnd (once the changes read are stored in
   * every target): the reader is handed nothing more and the socket is paused, so the server,
   * whose sending blocks, decodes no further; the status updates go on (it still reads them).
   */
  hold(): void {
    this.holding = true;
    this.query.pause();
  }

  /**
   * Confirms `lsn` over this stream (a standby status update: the server moves the slot without
   * decoding anything, where pg_replication_slot_advance decodes the WAL up to it again), waits
   * until the slot shows it, then ends the stream and waits until the slot is free again. False
   * when the slot did not show it (the stream had ended, or the server did not within CONFIRM_MS):
   * the slot is then free for confirmSlot.
   */
  async confirmAndEnd(sql: pg.Client, slot: string, lsn: bigint): Promise<boolean> {
    let shown = false;
    try {
      if (this.confirm(lsn)) {
        const deadline = Date.now() + CONFIRM_MS;
        for (;;) {
          const state = await slotState(sql, slot);
          shown = state?.confirmedFlush != null && lsnToBigInt(state.confirmedFlush) >= lsn;
          if (shown || !state || !state.active || Date.now() > deadline) break;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
    } finally {
      await this.end();
      await waitSlotFree(sql, slot);
    }
    return shown;
  }

  pause(): void {
    this.query.pause();
  }

  resume(): void {
    if (!this.holding) this.query.resume();
  }

  /** Stops the stream here (nothing more reaches the reader); the connection must then be closed. */
  stop(err?: unknown): void {
    clearInterval(this.timer);
    this.query.stop(err);
  }

  /** Stops the stream and closes its connection. */
  async end(): Promise<void> {
    this.stop();
    await this.client.end().catch(() => undefined);
  }

  private take(buf: Buffer, start: number, end: number): void {
    if (this.holding) return;
    const kind = buf[start];
    if (kind === 0x6b /* k: keepalive */) {
      if (end - start < 18) throw new DbBackupError('E_BACKUP_FAILED', 'The server sent a short keepalive message.');
      if (buf[start + 17] === 1) this.status(false);
      this.reader.keepalive(buf.readBigUInt64BE(start + 1));
      return;
    }
    if (kind !== 0x77 /* w: XLogData */ || end - start <= XLOG_HEADER) return;
    const walStart = buf.readBigUInt64BE(start + 1);
    if (walStart > this.received) this.received = walStart;
    this.reader.data(buf, start + XLOG_HEADER, end);
  }
}
