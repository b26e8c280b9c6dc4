// Contract: one writable copied into N readable branches with backpressure (the slowest sets the
// pace); a failed branch is dropped and the rest carry on; the tee fails only when none is left.
import { once } from 'node:events';
import { PassThrough, Writable } from 'node:stream';

/** One reader of a tee: the stream it reads, and the means to stop feeding it. */
export interface TeeBranch {
  readonly stream: PassThrough;
  /** Aborted when the branch is dropped (its consumer failed) or the whole tee fails. */
  readonly signal: AbortSignal;
}

interface Branch extends TeeBranch {
  readonly controller: AbortController;
}

/**
 * Copies every chunk written to it into each branch, with backpressure: a chunk is accepted only
 * once every live branch has room for it, so the slowest consumer sets the pace and at most one
 * high-water mark per branch is ever buffered. A branch whose consumer fails is dropped (the others
 * carry on); when the last one is dropped the tee fails with that branch's error.
 */
export class Tee extends Writable {
  private readonly live = new Set<Branch>();
  private lastDropError: unknown;
  private ended = false;

  constructor(branches: number, highWaterMark = 1 << 20) {
    super({ highWaterMark });
    for (let i = 0; i < branches; i++) {
      const controller = new AbortController();
      const stream = new PassThrough({ highWaterMark });
      // A branch can fail before its consumer has attached (the source fails at its first byte while
      // a store is still opening its file): that must not be an unhandled 'error' event that kills
      // the process. The consumer still learns of it (a destroyed stream, and `signal`).
      stream.on('error', () => undefined);
      this.live.add({ stream, signal: controller.signal, controller });
    }
    this.branches = [...this.live];
  }

  readonly branches: readonly TeeBranch[];

  /** Stops feeding `branch` (its consumer failed with `error`). The tee fails if it was the last. */
  drop(branch: TeeBranch, error: unknown): void {
    const b = branch as Branch;
    if (!this.live.delete(b)) return;
    this.lastDropError = error;
    b.controller.abort(error);
    b.stream.destroy();
    if (this.live.size === 0 && !this.ended) this.destroy(error instanceof Error ? error : new Error(String(error)));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (error?: Error | null) => void): void {
    const waits: Promise<unknown>[] = [];
    for (const b of this.live) {
      if (!b.stream.write(chunk)) waits.push(once(b.stream, 'drain', { signal: b.signal }).catch(() => undefined));
    }
    if (waits.length === 0) cb();
    else void Promise.all(waits).then(() => cb(this.failed()), cb);
  }

  override _final(cb: (error?: Error | null) => void): void {
    const error = this.failed();
    if (error) return cb(error);
    for (const b of this.live) b.stream.end();
    this.ended = true;
    cb();
  }

  override _destroy(error: Error | null, cb: (error?: Error | null) => void): void {
    // After a clean end the branches still hold data their consumers have yet to read.
    if (this.ended && !error) return cb(null);
    for (const b of this.live) {
      b.controller.abort(error ?? new Error('The stream being copied was closed early.'));
      b.stream.destroy(error ?? undefined);
    }
    this.live.clear();
    cb(error);
  }

  private failed(): Error | null {
    if (this.live.size > 0) return null;
    const e = this.lastDropError;
    return e instanceof Error ? e : new Error(String(e ?? 'every copy of the stream failed'));
  }
}
