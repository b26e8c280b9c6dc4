import { DbBackupError } from '../../domain/errors.js';
import { redact } from '../../infrastructure/redact.js';
import { withRetry } from '../../infrastructure/retry.js';

export interface PostOptions {
  headers?: Record<string, string>;
  timeoutMs: number;
  /** Retries after the first try. */
  retries: number;
  /** What to call the endpoint in messages (never the URL: it may hold a token). */
  label: string;
}

class HttpStatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

/** POSTs a body with a timeout per try; retries timeouts, network errors, 429 and 5xx. */
export async function postWithRetry(url: string, body: string, options: PostOptions): Promise<void> {
  try {
    await withRetry(
      async () => {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'dbbackup', ...options.headers },
          body,
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (!res.ok) throw new HttpStatusError(res.status);
      },
      {
        policy: { attempts: options.retries + 1, baseDelayMs: 250, maxDelayMs: 5000 },
        retryable: (err) => !(err instanceof HttpStatusError) || err.status === 429 || err.status >= 500,
      },
    );
  } catch (err) {
    const why =
      err instanceof HttpStatusError
        ? `it answered ${err.message}`
        : (err as Error).name === 'TimeoutError'
          ? `no answer within ${options.timeoutMs} ms`
          : describeFailure(err, url, options.headers);
    throw new DbBackupError('E_NOTIFY', `Could not notify ${options.label}: ${why}.`, { cause: err });
  }
}

/**
 * A network error's text (with its cause, where fetch keeps the reason), with the endpoint's URL,
 * header values and anything redact() knows taken out: the URL of a Slack hook or a header may be
 * the credential itself.
 */
function describeFailure(err: unknown, url: string, headers: Record<string, string> = {}): string {
  const cause = (err as { cause?: { message?: unknown } }).cause?.message;
  let text = `${(err as Error).message}${typeof cause === 'string' && cause !== '' ? ` (${cause})` : ''}`;
  for (const secret of [url, ...Object.values(headers)].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length)) {
    text = text.split(secret).join('[redacted]');
  }
  return redact(text);
}
