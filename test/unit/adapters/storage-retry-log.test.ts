import { describe, expect, it } from 'vitest';
import { cloudError, retryAfterOf } from '../../../src/adapters/storage/cloud/cloud-errors.js';
import type { StorageRetry } from '../../../src/adapters/storage/cloud/retry-log.js';
import { RetryingBlobStore } from '../../../src/adapters/storage/retrying-blob-store.js';
import { S3RetryStrategy } from '../../../src/adapters/storage/s3/s3-retry-strategy.js';
import type { BlobInfo, BlobStore } from '../../../src/application/ports/blob-store.js';
import type { Logger } from '../../../src/application/ports/logger.js';
import { DbBackupError } from '../../../src/domain/errors.js';
import { MAX_RETRY_AFTER_MS, parseRetryAfter, retryWait } from '../../../src/infrastructure/retry.js';

function capture(): { logger: Logger; lines: { msg: string; fields: Record<string, unknown> }[] } {
  const lines: { msg: string; fields: Record<string, unknown> }[] = [];
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    error: () => undefined,
    warn: (msg, fields = {}) => void lines.push({ msg, fields }),
    child: () => logger,
  };
  return { logger, lines };
}

describe('Retry-After', () => {
  it('reads delta-seconds and HTTP dates; a wait is the backoff or the Retry-After when longer, at most 30 s', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(['1.5'])).toBe(1500);
    expect(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(retryWait(300, undefined)).toBe(300);
    expect(retryWait(300, 2000)).toBe(2000);
    expect(retryWait(3000, 2000)).toBe(3000);
    expect(retryWait(10, 3_600_000)).toBe(MAX_RETRY_AFTER_MS);
  });

  it("cloudError keeps an answer's Retry-After (S3's $response, Azure's HttpHeaders, GCS's response headers)", () => {
    const s3 = cloudError(Object.assign(new Error('SlowDown'), { $response: { headers: { 'retry-after': '2' } } }), { status: 503 }, 'stat k', 's3://b', 'bucket');
    expect(retryAfterOf(s3)).toBe(2000);
    const azure = cloudError(Object.assign(new Error('ServerBusy'), { response: { headers: { get: (n: string) => (n === 'retry-after' ? '3' : undefined) } } }), { status: 503 }, 'stat k', 'azure://a/c', 'container');
    expect((azure as DbBackupError).details.retryAfterMs).toBe(3000);
    const gcs = cloudError(Object.assign(new Error('rateLimitExceeded'), { response: { headers: { 'retry-after': '1' } } }), { status: 429 }, 'stat k', 'gs://b', 'bucket');
    expect(retryAfterOf(gcs)).toBe(1000);
    expect(retryAfterOf(cloudError(new Error('plain'), { status: 500 }, 'stat k', 'gs://b', 'bucket'))).toBeUndefined();
  });
});

describe('one log line per storage retry', () => {
  it('RetryingBlobStore: target, operation, attempt of maxAttempts, delay (at least the Retry-After) and reason', async () => {
    let failures = 2;
    const inner = {
      location: 'mem://x',
      stat: async (key: string): Promise<BlobInfo> => {
        if (failures-- > 0) throw new DbBackupError('E_STORAGE', 'HTTP 503 SlowDown', { details: { retryable: true, retryAfterMs: 40 } });
        return { key, size: 1, modifiedAt: new Date(0) };
      },
    } as unknown as BlobStore;
    const { logger, lines } = capture();
    const store = new RetryingBlobStore(inner, { attempts: 4, baseDelayMs: 1, maxDelayMs: 2 }, logger);
    expect((await store.stat('k'))?.size).toBe(1);
    expect(lines.map((l) => l.msg)).toEqual(['storage request failed; retrying', 'storage request failed; retrying']);
    expect(lines.map((l) => l.fields)).toEqual([1, 2].map((attempt) => ({ target: 'mem://x', operation: 'stat k', attempt, maxAttempts: 4, delayMs: 40, retryAfterMs: 40, reason: 'HTTP 503 SlowDown' })));
  });

  it('S3RetryStrategy: retries what the SDK calls transient, throttling or a server error, as our policy says, honouring Retry-After up to 30 s', async () => {
    const logged: StorageRetry[] = [];
    const s = new S3RetryStrategy({ attempts: 3, baseDelayMs: 1, maxDelayMs: 2 }, 's3://b/p', (r) => logged.push(r));
    const t0 = await s.acquireInitialRetryToken();
    const error = Object.assign(new Error('SlowDown'), { $metadata: { httpStatusCode: 503 } });
    const t1 = await s.refreshRetryTokenForRetry(t0, { error, errorType: 'THROTTLING', retryAfterHint: new Date(Date.now() + 2000) });
    expect(t1.getRetryCount()).toBe(1);
    expect(t1.getRetryDelay()).toBeGreaterThanOrEqual(1900);
    const t2 = await s.refreshRetryTokenForRetry(t1, { error, errorType: 'SERVER_ERROR', retryAfterHint: new Date(Date.now() + 3_600_000) });
    expect(t2.getRetryDelay()).toBe(30_000);
    await expect(s.refreshRetryTokenForRetry(t2, { error, errorType: 'SERVER_ERROR' })).rejects.toBe(error);
    await expect(s.refreshRetryTokenForRetry(t0, { error, errorType: 'CLIENT_ERROR' })).rejects.toBe(error);
    expect(logged).toHaveLength(2);
    expect(logged[0]).toMatchObject({ target: 's3://b/p', attempt: 1, maxAttempts: 3, reason: 'SlowDown', operation: expect.stringContaining('HTTP 503') });
    expect(logged[0]!.retryAfterMs).toBeGreaterThanOrEqual(1900);
  });
});
