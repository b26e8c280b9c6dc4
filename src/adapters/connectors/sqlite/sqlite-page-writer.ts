import { writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/**
 * Writes pages, merging runs of consecutive ones into one write of up to 1 MiB. A run of a few
 * pages is written at once, synchronously: a restore writes tens of thousands of scattered pages,
 * and a trip through the thread pool each cost more than the write (a page-cache copy of a few
 * µs). A long run goes through the thread pool while the next one is prepared (one in flight).
 * The pages passed must not change until `drain()`; each page is written once, so writes never
 * overlap.
 */
export class PageRunWriter {
  private run: Buffer[] = [];
  private first = 0;
  private inflight: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly handle: FileHandle,
    private readonly pageSize: number,
  ) {}

  async write(pgno: number, page: Buffer): Promise<void> {
    const contiguous = this.run.length > 0 && pgno === this.first + this.run.length && this.run.length * this.pageSize < 1 << 20;
    if (!contiguous) {
      await this.flush();
      this.first = pgno;
    }
    this.run.push(page);
  }

  async flush(): Promise<void> {
    if (this.run.length === 0) return;
    const bytes = joined(this.run);
    const at = (this.first - 1) * this.pageSize;
    this.run = [];
    if (bytes.length < 64 << 10) {
      for (let done = 0; done < bytes.length; ) done += writeSync(this.handle.fd, bytes, done, bytes.length - done, at + done);
      return;
    }
    await this.inflight;
    this.inflight = this.handle.write(bytes, 0, bytes.length, at);
  }

  /** Flushes and waits until every write is done. */
  async drain(): Promise<void> {
    await this.flush();
    await this.inflight;
  }
}

/** The pages as one buffer: a view when they lie one after another in memory (pages of one chunk), else a copy. */
function joined(pages: Buffer[]): Buffer {
  const first = pages[0]!;
  const adjacent = pages.every((p, i) => p.buffer === first.buffer && p.byteOffset === first.byteOffset + i * first.length);
  return adjacent ? Buffer.from(first.buffer, first.byteOffset, first.length * pages.length) : Buffer.concat(pages);
}
