import type { Storage } from '@google-cloud/storage';
import { type RetryPolicy, backoffDelay, parseRetryAfter, retryWait, sleep } from '../../../infrastructure/retry.js';
import { type RetryLog, retryReason } from '../cloud/retry-log.js';

/**
 * The SDK's own wait before each resumable-upload retry once `SDK_RETRY_OPTIONS` apply: its
 * `getRetryDelay` is min(multiplier^n × 1 s + up to 1 s, maxRetryDelay) = exactly 1 s, and the
 * session creation's async-retry with factor 1 and a 1 s cap waits 1 s too.
 */
export const SDK_RETRY_WAIT_MS = 1000;
export const SDK_RETRY_OPTIONS = { retryDelayMultiplier: 1, maxRetryDelay: SDK_RETRY_WAIT_MS / 1000 } as const;

interface Answer {
  status?: number;
  statusText?: string;
  headers?: Record<string, unknown>;
}
type Options = { url?: unknown; method?: string };
/** gaxios's `adapter` request option: it sends the request through `send` (the default adapter) and returns the answer, any status. */
export type RequestAdapter = (opts: Options, send: (opts: Options) => Promise<Answer>) => Promise<Answer>;

/**
 * The resumable upload (session creation, chunk PUTs, status checks) retries inside the SDK, which
 * ignores Retry-After and logs nothing. Each of its requests goes through gaxios — with the
 * client's auth, or straight for an endpoint outside Google's domains — taking the transfer
 * client's request options (its interceptors' `customRequestOptions`), so an `adapter` set there
 * sees every answer: a failure the SDK will retry (its `retryableErrorFn` says so, within its
 * `maxRetries`) is logged as one `storage request failed; retrying` line and held for our backoff —
 * or the answer's Retry-After, up to 30 s — before the SDK sees it; the SDK then adds its fixed
 * SDK_RETRY_WAIT_MS. Counts go per upload session, as the SDK counts.
 */
export function uploadRetryAdapter(storage: Storage, policy: RetryPolicy, target: string, log?: RetryLog): RequestAdapter {
  const retryable = storage.retryOptions.retryableErrorFn ?? (() => false);
  const failures = new Map<string, number>();
  const hold = async (session: string, name: string | undefined, answer: Answer | undefined, err: unknown): Promise<void> => {
    const n = (failures.get(session) ?? 0) + 1;
    failures.set(session, n);
    if (n >= policy.attempts) return; // the SDK gives up: no retry follows
    const asked = parseRetryAfter(answer?.headers?.['retry-after']);
    const delay = retryWait(backoffDelay(n, policy), asked);
    log?.({
      target,
      operation: name === undefined ? 'upload a chunk (resumable session)' : `upload ${name} (resumable session creation)`,
      attempt: n,
      maxAttempts: policy.attempts,
      delayMs: delay + SDK_RETRY_WAIT_MS,
      reason: retryReason(err),
      ...(asked === undefined ? {} : { retryAfterMs: asked }),
    });
    await sleep(delay);
  };
  return async (opts, send) => {
    const url = String(opts.url ?? '');
    // Session creation: POST …/upload/storage/v1/b/B/o?…uploadType=resumable&name=…; then requests to the session URI.
    const creation = /[?&]uploadType=resumable(&|$)/.test(url) && !/[?&]upload_id=/.test(url);
    if (!creation && !/[?&]upload_id=/.test(url)) return send(opts);
    const raw = creation ? /[?&]name=([^&]*)/.exec(url)?.[1] : undefined;
    const name = raw === undefined ? undefined : decodeURIComponent(raw.replace(/\+/g, ' '));
    const session = creation ? `create ${name ?? ''}` : url;
    let answer: Answer;
    try {
      answer = await send(opts);
    } catch (err) {
      // A network failure, as the SDK judges it: session creation by the error's code, the session's requests by the error.
      const judged = creation ? { errors: [{ reason: (err as { code?: unknown }).code }] } : err;
      if (retryable(judged as never)) await hold(session, name, undefined, err);
      throw err;
    }
    const status = answer.status ?? 0;
    const failed = status !== 200 && status !== 201 && status !== 308;
    if (failed && retryable({ code: status, message: answer.statusText ?? '', name: answer.statusText ?? '' } as never)) {
      await hold(session, name, answer, new Error(`HTTP ${status} ${answer.statusText ?? ''}`.trim()));
    }
    return answer;
  };
}
