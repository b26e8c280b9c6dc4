import { Readable } from 'node:stream';
import { setTimeout as wait } from 'node:timers/promises';
import type { PartSink, PartSpec } from '../ports/parts.js';

/** Milliseconds on a monotonic clock, and a wait that ends early (rejecting) when `signal` aborts. */
export interface RateTimer {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

const realTimer: RateTimer = {
  now: () => performance.now(),
  // Rejects with the abort reason itself (timers/promises rejects with an AbortError around it).
  sleep: (ms, signal) =>
    wait(ms, undefined, { signal }).catch((err: unknown) => {
      throw signal.aborted ? signal.reason : err;
    }),
};

/**
 * Idle time earns at most this many seconds' allowance: a part that starts after a pause reads a
 * short burst, not several seconds' worth at once.
 */
const BURST_SECONDS = 0.25;

/**
 * Holds the readers of a backup to `bytesPerSecond` of raw data in total (every part, every
 * `--parallel` connection sharing one allowance): `take(n)` resolves once n more bytes fit. A
 * reader that waits stops reading, so backpressure holds the database's side still too (a COPY
 * backend or a WAL sender blocks on its socket instead of working). Each take reserves its slot in
 * order, so concurrent readers share the rate fairly by bytes.
 */
export class RateLimiter {
  /** When (timer ms) the bytes granted so far have been paid for. */
  private paidUntil = Number.NEGATIVE_INFINITY;

  constructor(
    readonly bytesPerSecond: number,
    private readonly timer: RateTimer = realTimer,
  ) {
    if (!(bytesPerSecond > 0)) throw new RangeError('bytesPerSecond must be positive');
  }

  /** Resolves when `n` more bytes may be read (at once while within the allowance). */
  take(n: number, signal: AbortSignal): Promise<void> {
    const now = this.timer.now();
    const start = Math.max(this.paidUntil, now - BURST_SECONDS * 1000);
    this.paidUntil = start + (n * 1000) / this.bytesPerSecond;
    const wait = this.paidUntil - now;
    return wait > 0 ? this.timer.sleep(wait, signal) : Promise.resolve();
  }
}

/** `source`'s chunks, each passed on once the limiter allows its bytes. */
export async function* rateLimited(source: AsyncIterable<Buffer>, limiter: RateLimiter, signal: AbortSignal): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    await limiter.take(chunk.length, signal);
    yield chunk;
  }
}

/** A sink whose every part's raw bytes are read through `limiter`. */
export function rateLimitedSink(sink: PartSink, limiter: RateLimiter, signal: AbortSignal): PartSink {
  return {
    write: (spec: PartSpec, body: Readable) => sink.write(spec, Readable.from(rateLimited(body, limiter, signal), { objectMode: false })),
  };
}
