import { DbBackupError } from '../../../domain/errors.js';
import { isTransientNetworkError, isTransientStatus, parseRetryAfter } from '../../../infrastructure/retry.js';

/** What an adapter extracted from its SDK's error (each SDK shapes errors differently). */
export interface ServiceFailure {
  /** HTTP status, when the service answered. */
  status?: number;
  /** The service's error code (`NoSuchBucket`, `ContainerNotFound`, …). */
  code?: string;
  /** The SDK said the request may be retried. */
  transient?: boolean;
}

const MISSING_PLACE = new Set(['NoSuchBucket', 'ContainerNotFound', 'BucketNotFound']);

/** Node's codes for a server certificate it does not trust (OpenSSL verify errors and the host check). */
const TLS_TRUST_CODES = [
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
];

/**
 * Turns an SDK failure into a DbBackupError with a stable code and a message that says what to
 * do. `details.retryable` tells RetryingBlobStore whether another try may help. The SDK's message
 * is redacted: signed URLs and connection strings never reach a log.
 */
export function cloudError(err: unknown, failure: ServiceFailure, what: string, location: string, placeWord: string): unknown {
  if (err instanceof DbBackupError) return err;
  if (isAbort(err)) return err;
  const status = failure.status;
  const sdkMessage = redact(errorMessage(err));
  const retryable = failure.transient === true || isTransientStatus(status) || (status === undefined && isTransientNetworkError(err));
  const details: Record<string, unknown> = { location, retryable };
  if (status !== undefined) details.status = status;
  if (failure.code) details.serviceCode = failure.code;
  const retryAfterMs = retryAfterOfAnswer(err);
  if (retryAfterMs !== undefined) details.retryAfterMs = retryAfterMs;
  const base = `Could not ${what} at ${location}`;
  if (failure.code && MISSING_PLACE.has(failure.code)) {
    return new DbBackupError('E_NOT_FOUND', `${base}: the ${placeWord} does not exist; create it first or check the URL.`, { cause: err, details });
  }
  if (status === 401 || status === 403) {
    return new DbBackupError('E_AUTH', `${base}: access denied (${status}); check the credentials and their permissions.`, {
      cause: err,
      details,
    });
  }
  if (status === undefined && (hasCode(err, TLS_TRUST_CODES) || (failure.code !== undefined && TLS_TRUST_CODES.includes(failure.code)))) {
    // Never retried: the same certificate comes back every time.
    return new DbBackupError(
      'E_CONN_REFUSED',
      `${base}: the storage endpoint's TLS certificate is not trusted (${sdkMessage}). Trust its CA with NODE_EXTRA_CA_CERTS=/path/to/ca.pem, ` +
        `or, only if you accept that anyone on the path could read or alter the backups, pass --insecure.`,
      { cause: err, details: { ...details, retryable: false, tls: true } },
    );
  }
  if (status === undefined && hasCode(err, ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'])) {
    return new DbBackupError('E_CONN_REFUSED', `${base}: cannot reach the storage endpoint (${sdkMessage}); check the endpoint and network.`, {
      cause: err,
      details,
    });
  }
  if (status === undefined && isRequestTimeout(err)) {
    // The socket passed no byte for the request timeout (a silent network, a stalled service): retried like any network failure.
    const ms = /(\d+) ?ms requestTimeout/.exec(sdkMessage)?.[1];
    return new DbBackupError(
      'E_NETWORK_TIMEOUT',
      `${base}: the storage endpoint passed no byte for ${ms ? `${ms} ms` : 'the request timeout'} (DBBACKUP_STORAGE_TIMEOUT_MS), and did not close the connection either: ` +
        'the network stopped passing data or the service stalled. It was retried and may work later; check the network.',
      { cause: err, details: { ...details, retryable: true } },
    );
  }
  const hint = retryable ? ' The service or network failed; it was retried and may work later.' : '';
  return new DbBackupError('E_STORAGE', `${base}: ${sdkMessage}${status ? ` (HTTP ${status})` : ''}.${hint}`, { cause: err, details });
}

/**
 * An SDK's own timeout on a request (smithy's requestTimeout and the Azure request-timeout policy: a
 * TimeoutError; node-fetch under the GCS SDK: a FetchError of type 'request-timeout', also as a
 * GaxiosError's `error`).
 */
export function isRequestTimeout(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    const x = e as { name?: unknown; message?: unknown; type?: unknown; cause?: unknown; error?: unknown };
    if (x.name === 'TimeoutError' && /requestTimeout|timed? ?out/i.test(String(x.message ?? ''))) return true;
    if (x.type === 'request-timeout') return true;
    e = x.cause ?? x.error;
  }
  return false;
}

/**
 * The wait (ms) an error answer asked for in its Retry-After header: S3's `$response.headers`,
 * Azure's RestError `response.headers` (an HttpHeaders), GCS's ApiError or GaxiosError `response.headers`.
 */
export function retryAfterOfAnswer(err: unknown): number | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    const x = e as { $response?: { headers?: unknown }; response?: { headers?: unknown }; cause?: unknown; error?: unknown };
    const headers = (x.$response ?? x.response)?.headers as { get?: (name: string) => unknown } & Record<string, unknown> | undefined;
    if (headers) {
      const value = typeof headers.get === 'function' ? headers.get('retry-after') : (headers['retry-after'] ?? headers['Retry-After']);
      const ms = parseRetryAfter(value);
      if (ms !== undefined) return ms;
    }
    e = x.cause ?? x.error;
  }
  return undefined;
}

/** The Retry-After wait a storage failure carries (cloudError's `details.retryAfterMs`, or the SDK error's answer). */
export function retryAfterOf(err: unknown): number | undefined {
  if (err instanceof DbBackupError) return typeof err.details.retryAfterMs === 'number' ? err.details.retryAfterMs : retryAfterOfAnswer(err.cause);
  return retryAfterOfAnswer(err);
}

/** True for an E_STORAGE/E_CONN_REFUSED error (or a raw network error) that another try may cure. */
export function isRetryableStorageError(err: unknown): boolean {
  if (err instanceof DbBackupError) return err.details.retryable === true;
  if (isAbort(err)) return false;
  return isTransientNetworkError(err);
}

export function checksumMismatch(location: string, key: string, how: string): DbBackupError {
  return new DbBackupError(
    'E_CHECKSUM',
    `The stored copy of ${key} at ${location} does not match what was sent (${how}); the upload was discarded, run the backup again.`,
    { details: { location, key } },
  );
}

/** Strips query strings (SAS tokens, signatures) and key=value secrets from an SDK message. */
export function redact(message: string): string {
  return message
    .replace(/(https?:\/\/[^\s?"'<>]+)\?[^\s"'<>]*/gi, '$1?…')
    .replace(/\b(AccountKey|SharedAccessSignature|sig|Signature|X-Amz-Signature|X-Amz-Credential|access_token)=[^;&\s"']+/gi, '$1=…')
    .slice(0, 500);
}

function errorMessage(err: unknown): string {
  const message = (err as { message?: unknown })?.message;
  if (typeof message === 'string' && message !== '') return message;
  if (message !== undefined && message !== null) return JSON.stringify(message);
  return err instanceof Error ? err.name : String(err);
}

function hasCode(err: unknown, codes: string[]): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && codes.includes(code)) return true;
  }
  return false;
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as { code?: unknown }).code === 'ABORT_ERR');
}
