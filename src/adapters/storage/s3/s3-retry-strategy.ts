import { type RetryPolicy, backoffDelay, parseRetryAfter, retryPolicy, retryWait } from '../../../infrastructure/retry.js';
import type { RetryLog } from '../cloud/retry-log.js';
import { retryReason } from '../cloud/retry-log.js';

/** The shapes of the SDK's retry interface (smithy's RetryStrategyV2) this strategy uses. */
interface RetryToken {
  getRetryCount(): number;
  getRetryDelay(): number;
}
interface RetryErrorInfo {
  error?: unknown;
  errorType: 'TRANSIENT' | 'THROTTLING' | 'SERVER_ERROR' | 'CLIENT_ERROR';
  retryAfterHint?: Date;
}

/**
 * The S3 SDK's retries (parts and single PUTs of an upload, whose bodies are buffers) on our
 * RetryPolicy, as the other services' retries: the same attempts and backoff with full jitter, a
 * Retry-After (or x-amz-retry-after) honoured up to MAX_RETRY_AFTER_MS — the SDK's own strategy
 * waits at most its backoff + 5 s — and one `storage request failed; retrying` line per retry.
 * What is retried is the SDK's call (transient, throttling and 5xx answers; not 4xx).
 */
export class S3RetryStrategy {
  readonly mode = 'standard';
  private readonly policy: RetryPolicy;

  constructor(
    policy: Partial<RetryPolicy>,
    private readonly target: string,
    private readonly log?: RetryLog,
  ) {
    this.policy = retryPolicy(policy);
  }

  async acquireInitialRetryToken(): Promise<RetryToken> {
    return token(0, 0);
  }

  async refreshRetryTokenForRetry(previous: RetryToken, info: RetryErrorInfo): Promise<RetryToken> {
    const attempt = previous.getRetryCount() + 1;
    if (attempt >= this.policy.attempts || info.errorType === 'CLIENT_ERROR') throw info.error ?? new Error('no retry');
    const asked = info.retryAfterHint instanceof Date ? Math.max(0, info.retryAfterHint.getTime() - Date.now()) : retryAfterOfSdkError(info.error);
    const delayMs = retryWait(backoffDelay(attempt, this.policy), asked);
    this.log?.({
      target: this.target,
      operation: `upload a part or an object (HTTP ${statusOf(info.error) ?? 'no answer'})`,
      attempt,
      maxAttempts: this.policy.attempts,
      delayMs,
      reason: retryReason(info.error),
      ...(asked === undefined ? {} : { retryAfterMs: asked }),
    });
    return token(attempt, delayMs);
  }

  recordSuccess(): void {}
}

function token(count: number, delay: number): RetryToken {
  return { getRetryCount: () => count, getRetryDelay: () => delay };
}

function retryAfterOfSdkError(err: unknown): number | undefined {
  const headers = (err as { $response?: { headers?: Record<string, string> } })?.$response?.headers ?? {};
  return parseRetryAfter(headers['retry-after'] ?? headers['Retry-After']);
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}
