const MiB = 1 << 20;

/**
 * Bytes of part and block uploads in flight, shared by every cloud upload of the process: a backup
 * into two clouds, or several parts at once (`--parallel`), keeps at most `limit` bytes in flight
 * in all, not a window per upload, so memory does not grow with targets or parallel parts. One
 * request may always go when nothing else is in flight (a part bigger than the limit still moves).
 */
export class UploadBudget {
  private used = 0;
  private readonly waiting = new Set<() => void>();

  constructor(private limit: number) {}

  /** A store whose own window (part size × parts in flight) is larger widens the budget to it: tuning is the user's to raise. */
  fit(window: number): void {
    this.limit = Math.max(this.limit, window);
  }

  /** Waits until `bytes` fit (or nothing is in flight), takes them, and returns their release (idempotent). */
  async take(bytes: number, signal?: AbortSignal): Promise<() => void> {
    while (this.used > 0 && this.used + bytes > this.limit) {
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiting.delete(wake);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        this.waiting.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
    signal?.throwIfAborted();
    this.used += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
      for (const wake of [...this.waiting]) wake();
    };
  }
}

/** The process's budget: 32 MiB, four 8 MiB S3 parts or eight 4 MiB Azure blocks. */
export const uploadBudget = new UploadBudget(32 * MiB);
