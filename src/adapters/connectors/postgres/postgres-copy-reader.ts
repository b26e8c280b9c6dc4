import type { Connection } from 'pg';
import { activeProfiler, timeSync } from '../../../application/services/profiling.js';
import { COPY_DATA, COPY_DONE, NOTICE, NOTIFICATION, PARAMETER_STATUS, type DataHandler, SocketTakeover } from './postgres-socket-takeover.js';

/** Chunks smaller than this are gathered into buffers of OUT_CHUNK bytes before they are handed on. */
const MIN_CHUNK = 32 << 10;
const OUT_CHUNK = 128 << 10;
/** Chunks queued before the socket is paused (backpressure on the server). */
const MAX_QUEUED = 8;
const EMPTY = Buffer.alloc(0);

/** `parse`, timed as the 'parse' stage when profiling is on (unchanged when it is off). */
function profiledParse(parse: DataHandler): DataHandler {
  const profiler = activeProfiler();
  return profiler.enabled ? (chunk) => timeSync('parse', chunk.length, () => parse(chunk), profiler) : parse;
}

const COPY_OUT_RESPONSE = 0x48; // 'H'

/**
 * `COPY … TO STDOUT` as a pg Submittable that reads the connection's socket itself and strips the
 * protocol framing in bulk: each CopyData payload (one row) is moved down in place within the
 * socket's chunk (copyWithin, no allocation per row) and the rows are handed on in chunks of
 * 32–128 KiB through an async iterator. Only the framing is removed: the bytes are the COPY
 * text exactly as the server sent it.
 *
 * At CopyDone or an ErrorResponse the socket goes back to pg's own parser with the bytes not yet
 * read, so pg sees CommandComplete / ErrorResponse / ReadyForQuery as usual. `finished` settles at
 * ReadyForQuery with the row count (or the error). A consumer that stops early must call `abort()`:
 * the connection is then unusable and is closed.
 */
export class CopyOutQuery implements AsyncIterable<Buffer> {
  rowCount = 0;
  readonly finished: Promise<number>;
  private resolveFinished!: (rows: number) => void;
  private rejectFinished!: (err: unknown) => void;
  private readonly onData: DataHandler = profiledParse((chunk) => this.parse(chunk));
  private readonly takeover = new SocketTakeover('COPY OUT', this.onData);
  private paused = false;
  // Parser state: `copying` bytes of a CopyData payload or `skipping` bytes of another message
  // still to come; `carry` holds a message header cut by the end of a socket chunk.
  private copying = 0;
  private skipping = 0;
  private carry: Buffer | undefined;
  // Output: rows gathered in `out`, full chunks queued for the consumer.
  private out = EMPTY;
  private outPos = 0;
  private readonly queue: Buffer[] = [];
  private ended = false;
  private error: unknown;
  private wake: (() => void) | undefined;
  private sawError = false;

  constructor(readonly text: string) {
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

  handleCommandComplete(msg: { text?: string }): void {
    const match = /COPY (\d+)/.exec(msg?.text ?? '');
    if (match) this.rowCount = Number(match[1]);
  }

  handleError(err: unknown): void {
    this.sawError = true;
    this.fail(err);
    this.rejectFinished(err);
  }

  handleReadyForQuery(): void {
    if (!this.sawError) this.resolveFinished(this.rowCount);
  }

  /** Stops a COPY the consumer gave up on: the connection is closed (mid-COPY it cannot be reused). */
  abort(reason: unknown): void {
    this.fail(reason);
    this.takeover.socket?.destroy();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk) {
        if (this.paused && this.queue.length < MAX_QUEUED) {
          this.paused = false;
          this.takeover.socket?.resume();
        }
        yield chunk;
        continue;
      }
      if (this.error !== undefined) throw this.error;
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private fail(err: unknown): void {
    this.error ??= err;
    this.notify();
  }

  /** Strips the framing of one socket chunk; hands the rest to pg at CopyDone or any other message. */
  private parse(input: Buffer): void {
    let buf = input;
    if (this.carry) {
      buf = Buffer.concat([this.carry, input]);
      this.carry = undefined;
    }
    const n = buf.length;
    let i = 0;
    let w = 0; // end of the compacted rows at the start of buf
    while (i < n) {
      if (this.copying > 0) {
        const take = Math.min(this.copying, n - i);
        if (w !== i) buf.copyWithin(w, i, i + take);
        w += take;
        i += take;
        this.copying -= take;
        continue;
      }
      if (this.skipping > 0) {
        const take = Math.min(this.skipping, n - i);
        i += take;
        this.skipping -= take;
        continue;
      }
      const code = buf[i]!;
      if (code !== COPY_DATA && code !== COPY_OUT_RESPONSE && code !== NOTICE && code !== PARAMETER_STATUS && code !== NOTIFICATION && code !== COPY_DONE) {
        // ErrorResponse (or anything unexpected): pg's parser takes it from here.
        this.emit(buf, w);
        this.detach(buf.subarray(i));
        return;
      }
      if (n - i < 5) {
        this.carry = Buffer.from(buf.subarray(i));
        break;
      }
      const length = buf.readUInt32BE(i + 1) - 4;
      i += 5;
      if (code === COPY_DATA) this.copying = length;
      else if (code === COPY_DONE) {
        this.emit(buf, w);
        this.flushOut();
        this.ended = true;
        this.notify();
        this.detach(buf.subarray(i));
        return;
      } else this.skipping = length;
    }
    this.emit(buf, w);
  }

  /**
   * Hands on buf[0, end): a socket chunk of at least MIN_CHUNK bytes of rows goes on as it is (no
   * copy; that is the common case when the client is the bottleneck and reads find full socket
   * buffers), smaller ones are gathered first so that no tiny chunk travels down the pipeline.
   */
  private emit(buf: Buffer, end: number): void {
    if (end >= MIN_CHUNK && this.outPos === 0) this.queue.push(buf.subarray(0, end));
    else if (end > 0) {
      if (this.outPos + end > this.out.length) this.flushOut();
      if (this.outPos === 0 && end >= MIN_CHUNK) this.queue.push(buf.subarray(0, end));
      else {
        if (this.out.length === 0) this.out = Buffer.allocUnsafe(Math.max(OUT_CHUNK, end));
        buf.copy(this.out, this.outPos, 0, end);
        this.outPos += end;
        if (this.outPos >= MIN_CHUNK) this.flushOut();
      }
    }
    if (this.queue.length) {
      this.notify();
      if (this.queue.length >= MAX_QUEUED && !this.paused) {
        this.paused = true;
        this.takeover.socket?.pause();
      }
    }
  }

  /** Queues the gathered rows; the next small chunk starts a new buffer. */
  private flushOut(): void {
    if (this.outPos === 0) return;
    this.queue.push(this.out.subarray(0, this.outPos));
    this.out = EMPTY;
    this.outPos = 0;
  }

  /** Gives the socket back to pg's parser, starting with `rest` (the bytes after the COPY data). */
  private detach(rest: Buffer): void {
    const paused = this.paused;
    this.paused = false;
    this.takeover.giveBack(rest, paused);
  }
}
