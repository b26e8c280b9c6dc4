import type { Readable } from 'node:stream';

/**
 * A byte stream's chunks as they were pushed, one at a time. (An async iterator over a Readable
 * calls read(), which joins every buffered chunk into a new buffer: a copy of all the bytes.)
 *
 * The stream flows until `highWaterMark` bytes are queued (then it is paused until the reader takes
 * some): a pause and resume per chunk stops and restarts the descriptor's reads each time (a child
 * process's pipe delivers 64 KiB chunks: thousands per 200 MB).
 */
export class ChunkReader {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private paused = false;
  private ended = false;
  private failure: unknown;
  private wake: (() => void) | undefined;

  constructor(
    private readonly body: Readable,
    private readonly highWaterMark = 1 << 20,
  ) {
    body.on('data', (chunk: Buffer) => {
      this.queue.push(chunk);
      this.queued += chunk.length;
      if (this.queued >= this.highWaterMark && !this.paused) {
        this.paused = true;
        body.pause();
      }
      this.notify();
    });
    body.once('end', () => {
      this.ended = true;
      this.notify();
    });
    body.once('error', (err) => {
      this.failure = err;
      this.notify();
    });
  }

  /** The next chunk, or undefined at the end; rejects with the stream's error. */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      if (this.failure) throw this.failure;
      const chunk = this.queue.shift();
      if (chunk) {
        this.queued -= chunk.length;
        if (this.paused && this.queued < this.highWaterMark) {
          this.paused = false;
          this.body.resume();
        }
        return chunk;
      }
      if (this.ended) return undefined;
      const waiting = new Promise<void>((resolve) => (this.wake = resolve));
      this.paused = false;
      this.body.resume();
      await waiting;
    }
  }

  /** Bytes received and not yet taken. */
  get buffered(): number {
    return this.queued;
  }

  destroy(): void {
    if (!this.ended) this.body.destroy();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
