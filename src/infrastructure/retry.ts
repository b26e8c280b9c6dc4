/**
 * Retry with exponential backoff and full jitter (the AWS architecture-blog scheme): attempt n
 * waits a random time in [0, min(maxDelayMs, baseDelayMs · 2^(n-1))]. Generic: the caller says
 * which errors are worth another try.
 */
export interface RetryPolicy {
  /** Total tries, the first one included (1 = no retry). */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 20_000 };

export interface RetryOptions {
  policy?: Partial<RetryPolicy>;
  /** True when `err` is transient (a 5xx, a dropped connection); anything else fails at once. */
  retryable: (err: unknown) => boolean;
  signal?: AbortSignal;
  /** Called before each wait; for logging. `attempt` is the try that failed (1 = the first), `retryAfterMs` what the answer asked for, if it did. */
  onRetry?: (err: unknown, attempt: number, delayMs: number, retryAfterMs?: number) => void;
  /** How long the failure asked to wait (an answer's Retry-After), if it did: the wait is at least that, up to MAX_RETRY_AFTER_MS. */
  retryAfter?: (err: unknown) => number | undefined;
  /** For tests: replaces Math.random. */
  random?: () => number;
}

export function retryPolicy(partial: Partial<RetryPolicy> = {}): RetryPolicy {
  const p = { ...DEFAULT_RETRY_POLICY, ...partial };
  return { attempts: Math.max(1, Math.floor(p.attempts)), baseDelayMs: Math.max(0, p.baseDelayMs), maxDelayMs: Math.max(0, p.maxDelayMs) };
}

/** The wait before retry number `retry` (1 = the first retry). */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(random() * ceiling);
}

/**
 * Runs `fn` until it resolves, fails with a non-retryable error, runs out of attempts, or `signal`
 * aborts (then the abort reason is thrown). The last error is rethrown unchanged.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const policy = retryPolicy(options.policy);
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= policy.attempts || options.signal?.aborted || !options.retryable(err)) throw err;
      const asked = options.retryAfter?.(err);
      const delay = retryWait(backoffDelay(attempt, policy, options.random), asked);
      options.onRetry?.(err, attempt, delay, asked);
      await sleep(delay, options.signal);
    }
  }
}

/** The longest wait a Retry-After answer may impose on one retry (a larger value is cut to this). */
export const MAX_RETRY_AFTER_MS = 30_000;

/** The wait before a retry: the backoff, or what the answer's Retry-After asked when that is longer (at most MAX_RETRY_AFTER_MS). */
export function retryWait(backoffMs: number, retryAfterMs: number | undefined): number {
  return retryAfterMs === undefined ? backoffMs : Math.max(backoffMs, Math.min(Math.max(0, retryAfterMs), MAX_RETRY_AFTER_MS));
}

/** A Retry-After header's value (delta-seconds, or an HTTP date) in ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: unknown, now: number = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (typeof text !== 'string' || text.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Resolves after `ms`, or rejects with the abort reason as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const TRANSIENT_NET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/** True for an HTTP status that says "try again": 408, 429 and the 5xx family (but 501). */
export function isTransientStatus(status: number | undefined): boolean {
  return status !== undefined && (status === 408 || status === 429 || (status >= 500 && status !== 501 && status < 600));
}

/** True for the Node network errors a retry can cure (reset, refused, timeout, premature close). */
export function isTransientNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_NET_CODES.has(code)) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && /^(aborted|socket hang up|Premature close)$/i.test(message)) return true;
  }
  return false;
}
