import type { Connection } from 'pg';
import { COPY_DATA, COPY_DONE, NOTICE, NOTIFICATION, PARAMETER_STATUS, type DataHandler, SocketTakeover } from './postgres-socket-takeover.js';

const COPY_BOTH_RESPONSE = 0x57; // 'W'
/**
 * A socket chunk shorter than this means the kernel's buffer was drained (a read takes up to 64 KiB):
 * the reader is ahead of the server, so it naps for NAP_MS before reading on.
 */
const NAP_BELOW = 32 << 10;
const NAP_MS = 1;
/** A CopyData message larger than this is not one the server sends (a WAL record's decoded row is at most 1 GiB). */
const MAX_MESSAGE = (1 << 30) + (1 << 20);

/**
 * Receives each CopyData payload as `buf[start, end)`, synchronously, while the socket's chunk is
 * being read (the bytes are only valid during the call: copy what must outlive it). A throw stops
 * the stream: it becomes `finished`'s rejection.
 */
export type CopyDataHandler = (buf: Buffer, start: number, end: number) => void;

/**
 * A CopyBoth query (START_REPLICATION) as a pg Submittable that reads the connection's socket
 * itself: the framing is parsed in place and each CopyData payload handed to `onData` without an
 * allocation (a payload cut by the end of a socket chunk is gathered first), instead of one stream
 * chunk and one object per message. `send()` writes CopyData to the server. An ErrorResponse goes
 * back to pg's parser, which rejects `finished` through handleError; CopyDone from the server ends
 * it. The connection cannot be reused after `stop()`: close it.
 */
export class CopyBothQuery {
  /** Settles when the stream ends: the server's CopyDone, its error, a handler's throw, or stop(). */
  readonly finished: Promise<void>;
  private resolveFinished!: () => void;
  private rejectFinished!: (err: unknown) => void;
  private readonly onChunk: DataHandler = (chunk) => this.parse(chunk);
  private readonly takeover = new SocketTakeover('START_REPLICATION', this.onChunk);
  private stopped = false;
  private paused = false;
  /** Set while the reader naps (see parse): the socket is not read until the timer ends it. */
  private nap: NodeJS.Timeout | undefined;
  /** The socket went back to pg's parser (CopyDone, an error). */
  private detached = false;
  /** Parser state: a payload being gathered (`gather`, filled to `gathered`), `skipping` bytes of another message, `carry` a cut header. */
  private gather: Buffer | undefined;
  private gathered = 0;
  private skipping = 0;
  private carry: Buffer | undefined;

  constructor(
    readonly text: string,
    private readonly onData: CopyDataHandler,
  ) {
    this.finished = new Promise((resolve, reject) => {
      this.resolveFinished = resolve;
      this.rejectFinished = reject;
    });
    this.finished.catch(() => undefined);
  }

  /** Called by pg when the query is due: take the socket over, then send the query. */
  submit(connection: Connection): void {
    this.takeover.take(connection, this.text);
  }

  handleError(err: unknown): void {
    this.end(err);
  }

  handleReadyForQuery(): void {
    this.end();
  }

  handleCommandComplete(): void {}

  /** Sends one CopyData message (a standby status update); false once the stream is over. */
  send(payload: Buffer): boolean {
    const socket = this.takeover.socket;
    if (!socket || socket.destroyed || this.stopped) return false;
    const head = Buffer.allocUnsafe(5);
    head[0] = COPY_DATA;
    head.writeUInt32BE(payload.length + 4, 1);
    socket.write(Buffer.concat([head, payload]));
    return true;
  }

  /** Stops reading (backpressure) until resume(). */
  pause(): void {
    if (this.paused || this.stopped) return;
    this.paused = true;
    if (!this.nap) this.takeover.pause();
  }

  resume(): void {
    if (!this.paused || this.stopped) return;
    this.paused = false;
    if (!this.nap) this.takeover.resume();
  }

  /**
   * Ends the stream here: nothing more is handed on (what still arrives is read and dropped, so the
   * connection can close), and `finished` resolves (or rejects with `err`).
   */
  stop(err?: unknown): void {
    if (this.stopped) return;
    this.end(err);
    const napping = this.nap !== undefined;
    clearTimeout(this.nap);
    this.nap = undefined;
    if (this.paused || napping) {
      this.paused = false;
      this.takeover.resume();
    }
  }

  private end(err?: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    if (err === undefined) this.resolveFinished();
    else this.rejectFinished(err);
  }

  /**
   * Parses one socket chunk (then naps when it was short). The WAL sender sends each message as
   * soon as it is decoded (one `sendto` of ~100 bytes): a reader waiting on the socket is woken for
   * each, which costs the server (a wake-up per message: the WAL sender used twice the CPU per change
   * behind an idle client as behind a busy one) and the reader (a read and a callback per message).
   * After a short chunk the socket is not read for NAP_MS, so the messages gather in the kernel's
   * buffer, unread and with no one to wake, and the next read takes them at once. A millisecond
   * holds up nothing that matters: the read ends on a keepalive, replicate ships every second.
   */
  private parse(input: Buffer): void {
    this.take(input);
    if (input.length < NAP_BELOW && !this.stopped && !this.detached && this.nap === undefined) {
      if (!this.paused) this.takeover.pause();
      this.nap = setTimeout(() => {
        this.nap = undefined;
        if (!this.paused && !this.stopped && !this.detached) this.takeover.resume();
      }, NAP_MS);
    }
  }

  /** CopyData payloads to the handler; anything else but the few harmless messages goes back to pg. */
  private take(input: Buffer): void {
    if (this.stopped) return;
    let buf = input;
    if (this.carry) {
      buf = Buffer.concat([this.carry, input]);
      this.carry = undefined;
    }
    const n = buf.length;
    let i = 0;
    try {
      while (i < n && !this.stopped) {
        if (this.gather) {
          const take = Math.min(this.gather.length - this.gathered, n - i);
          buf.copy(this.gather, this.gathered, i, i + take);
          this.gathered += take;
          i += take;
          if (this.gathered === this.gather.length) {
            const whole = this.gather;
            this.gather = undefined;
            this.onData(whole, 0, whole.length);
          }
          continue;
        }
        if (this.skipping > 0) {
          const take = Math.min(this.skipping, n - i);
          i += take;
          this.skipping -= take;
          continue;
        }
        const code = buf[i]!;
        if (code !== COPY_DATA && code !== COPY_BOTH_RESPONSE && code !== NOTICE && code !== PARAMETER_STATUS && code !== NOTIFICATION && code !== COPY_DONE) {
          // ErrorResponse (or anything unexpected): pg's parser takes it from here.
          this.detach(buf.subarray(i));
          return;
        }
        if (n - i < 5) {
          this.carry = Buffer.from(buf.subarray(i));
          return;
        }
        const length = buf.readUInt32BE(i + 1) - 4;
        if (length < 0 || length > MAX_MESSAGE) throw new Error(`the server sent a message of ${length} bytes in the replication stream`);
        i += 5;
        if (code === COPY_DATA) {
          if (n - i >= length) {
            this.onData(buf, i, i + length);
            i += length;
          } else {
            this.gather = Buffer.allocUnsafe(length);
            this.gathered = 0;
          }
        } else if (code === COPY_DONE) {
          this.detach(buf.subarray(i));
          return;
        } else this.skipping = length;
      }
    } catch (err) {
      this.stop(err);
    }
  }

  /** Gives the socket back to pg's parser, starting with `rest`. */
  private detach(rest: Buffer): void {
    const paused = this.paused;
    this.paused = false;
    this.detached = true;
    this.takeover.giveBack(rest, paused);
  }
}
