import { Readable } from 'node:stream';
import type { BlobInfo, BlobStore, ByteRange, PutOptions } from '../../application/ports/blob-store.js';
import type { Logger } from '../../application/ports/logger.js';
import { type RetryPolicy, backoffDelay, retryPolicy, retryWait, sleep, withRetry } from '../../infrastructure/retry.js';
import { DbBackupError } from '../../domain/errors.js';
import { isRetryableStorageError, retryAfterOf } from './cloud/cloud-errors.js';
import { type RetryLog, retryReason, type StorageRetry, storageRetryLog } from './cloud/retry-log.js';

/**
 * Retries around any BlobStore (restic's RetryBackend): every request whose input can be sent
 * again is retried with exponential backoff and jitter when it fails transiently (an error with
 * `details.retryable`, or a dropped connection).
 *
 * - stat, delete: retried whole.
 * - get: opening is retried; a stream that breaks mid-way is resumed with a ranged read from the
 *   byte where it stopped, so a 100 GB download survives a reset without starting over.
 * - list: a listing that breaks mid-way starts again and skips the keys already yielded.
 * - put: passed through once. Its body is a one-shot stream, so the only re-sendable unit is the
 *   part buffer the adapter holds: S3 parts are retried by the SDK's retry strategy inside
 *   the adapter (parts of a multipart upload), GCS resumable chunks by the SDK's resumable upload, Azure blocks by the adapter
 *   with `withRetry`. Each adapter takes those attempts from the same RetryPolicy.
 */
export class RetryingBlobStore implements BlobStore {
  readonly policy: RetryPolicy;
  private readonly log: RetryLog;

  constructor(
    readonly inner: BlobStore,
    policy: Partial<RetryPolicy> = {},
    logger?: Logger,
  ) {
    this.policy = retryPolicy(policy);
    this.log = storageRetryLog(logger);
  }

  get location(): string {
    return this.inner.location;
  }

  put(key: string, body: Readable, options?: PutOptions): Promise<BlobInfo> {
    return this.inner.put(key, body, options);
  }

  async get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const first = await this.retry(`get ${key}`, () => this.inner.get(key, range, signal), signal);
    return Readable.from(this.resuming(first, key, range, signal), { objectMode: false, highWaterMark: 1 << 20 });
  }

  private async *resuming(stream: Readable, key: string, range: ByteRange | undefined, signal?: AbortSignal): AsyncGenerator<Buffer> {
    let offset = range?.start ?? 0;
    let current = stream;
    for (let failures = 0; ; ) {
      try {
        for await (const chunk of current as AsyncIterable<Buffer>) {
          offset += chunk.length;
          yield chunk;
        }
        return;
      } catch (err) {
        current.destroy();
        failures++;
        if (signal?.aborted || !isRetryableStorageError(err)) throw err;
        if (failures >= this.policy.attempts) throw this.brokenRead(err, key, failures);
        if (range?.end !== undefined && offset > range.end) return;
        const delay = this.note(`resume reading ${key} at byte ${offset}`, err, failures);
        await sleep(delay, signal);
        const rest: ByteRange = { start: offset, ...(range?.end === undefined ? {} : { end: range.end }) };
        current = await this.retry(`get ${key}`, () => this.inner.get(key, rest, signal), signal);
      }
    }
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<BlobInfo> {
    const seen = new Set<string>();
    for (let failures = 0; ; ) {
      try {
        for await (const info of this.inner.list(prefix, signal)) {
          if (seen.has(info.key)) continue;
          seen.add(info.key);
          yield info;
        }
        return;
      } catch (err) {
        failures++;
        if (failures >= this.policy.attempts || signal?.aborted || !isRetryableStorageError(err)) throw err;
        const delay = this.note(`list ${prefix || 'the repository'} again`, err, failures);
        await sleep(delay, signal);
      }
    }
  }

  stat(key: string): Promise<BlobInfo | undefined> {
    return this.retry(`stat ${key}`, () => this.inner.stat(key));
  }

  delete(key: string): Promise<void> {
    return this.retry(`delete ${key}`, () => this.inner.delete(key));
  }

  /** A read that kept breaking (a raw socket error such as "aborted" otherwise): E_STORAGE naming the object, exit 3. */
  private brokenRead(err: unknown, key: string, failures: number): unknown {
    if (err instanceof DbBackupError) return err;
    return new DbBackupError(
      'E_STORAGE',
      `Could not read ${key} at ${this.location}: the download broke ${failures} times (${(err as Error).message}). The service or network failed; it was retried and may work later.`,
      { cause: err, details: { location: this.location, retryable: true } },
    );
  }

  /** Releases the inner store's connections, where it has any. */
  close(): void {
    (this.inner as { close?(): void }).close?.();
  }

  private retry<T>(what: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withRetry(fn, {
      policy: this.policy,
      retryable: isRetryableStorageError,
      ...(signal ? { signal } : {}),
      retryAfter: retryAfterOf,
      onRetry: (err, attempt, delayMs, retryAfterMs) => this.log(this.entry(what, err, attempt, delayMs, retryAfterMs)),
    });
  }

  /** Logs the retry after failure number `failures` of `operation` and returns its wait (the backoff, or the answer's Retry-After). */
  private note(operation: string, err: unknown, failures: number): number {
    const asked = retryAfterOf(err);
    const delay = retryWait(backoffDelay(failures, this.policy), asked);
    this.log(this.entry(operation, err, failures, delay, asked));
    return delay;
  }

  private entry(operation: string, err: unknown, attempt: number, delayMs: number, retryAfterMs: number | undefined): StorageRetry {
    return { target: this.location, operation, attempt, maxAttempts: this.policy.attempts, delayMs, reason: retryReason(err), ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  }
}
