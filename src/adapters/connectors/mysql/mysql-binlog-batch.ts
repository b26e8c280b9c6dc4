/** The buffer's first size; it doubles as events come, up to what a batch holds. */
const INITIAL = 64 << 10;

/**
 * The row events of a BINLOG statement not yet sent, their bytes back to back in one buffer that
 * is reused from batch to batch. Each event's own Buffer is dropped as soon as it is copied in:
 * an array of thousands of small event Buffers, held until the batch is full, outlived V8's young
 * generation (it grew to its 32 MB maximum and promoted them all). A buffer grown past `keep`
 * bytes (a statement whose rows cannot be split) is let go once sent.
 */
export class BinlogBatch {
  private buf: Buffer | undefined;
  /** Bytes of events in the batch. */
  length = 0;

  constructor(private readonly keep: number) {}

  push(event: Buffer): void {
    const need = this.length + event.length;
    if (!this.buf || need > this.buf.length) {
      let size = this.buf?.length ?? INITIAL;
      while (size < need) size *= 2;
      const grown = Buffer.allocUnsafeSlow(size);
      if (this.buf) this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
    }
    event.copy(this.buf, this.length);
    this.length = need;
  }

  /** The events' bytes in [start, end): valid until the next push. */
  bytes(start = 0, end = this.length): Buffer {
    return this.buf ? this.buf.subarray(start, end) : Buffer.alloc(0);
  }

  /** Drops the events from byte `length` on. */
  truncate(length: number): void {
    this.length = Math.min(this.length, length);
  }

  /** Empties the batch (after its bytes were encoded): the buffer stays for the next unless it grew past `keep`. */
  clear(): void {
    this.length = 0;
    if (this.buf && this.buf.length > this.keep) this.buf = undefined;
  }
}
