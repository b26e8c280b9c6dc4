import type { Logger } from '../../../application/ports/logger.js';
import { redact } from './cloud-errors.js';

/**
 * One retry of a storage request, as every retry layer reports it (RetryingBlobStore, Azure's
 * blocks, S3's parts and single PUTs through the SDK's retry, GCS's resumable-upload requests):
 * one log line per retry, so that the log tells how often a run retried, what, and how long it waited.
 */
export interface StorageRetry {
  /** The repository, e.g. `s3://bucket/prefix`. */
  target: string;
  /** What failed, e.g. `stat KEY`, `upload a part of KEY`. */
  operation: string;
  /** The try that failed (1 = the first) … */
  attempt: number;
  /** … of this many at most. */
  maxAttempts: number;
  /** The wait before the next try. */
  delayMs: number;
  /** Why: the error's message, redacted (no query string, key or signature). */
  reason: string;
  /** What the answer's Retry-After asked for, when it did (the wait is at least that, up to 30 s). */
  retryAfterMs?: number;
}

export type RetryLog = (retry: StorageRetry) => void;

export const STORAGE_RETRY_MESSAGE = 'storage request failed; retrying';

/** The log line of each retry: `storage request failed; retrying` with the StorageRetry fields. */
export function storageRetryLog(logger: Logger | undefined): RetryLog {
  return (r) => logger?.warn(STORAGE_RETRY_MESSAGE, { ...r });
}

/** An error's message for `reason`: redacted, one line, at most 300 characters. */
export function retryReason(err: unknown): string {
  const text = redact(String((err as Error)?.message ?? err)).replace(/\s+/g, ' ').trim();
  return text.length > 300 ? `${text.slice(0, 297)}…` : text;
}
