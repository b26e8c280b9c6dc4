import type { Readable } from 'node:stream';

/**
 * A byte stream's chunks as they were pushed, one at a time. (An async iterator over a Readable
 * calls read(), which joins every buffered chunk into a new buffer: a copy of all the bytes.)
 */
export class ChunkReader {
  private readonly queue: Buffer[] = [];
  private ended = false;
  private failure: unknown;
  private wake: (() => void) | undefined;

  constructor(private readonly body: Readable) {
    body.on('data', (chunk: Buffer) => {
      this.queue.push(chunk);
      body.pause();
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
      if (chunk) return chunk;
      if (this.ended) return undefined;
      const waiting = new Promise<void>((resolve) => (this.wake = resolve));
      this.body.resume();
      await waiting;
    }
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
