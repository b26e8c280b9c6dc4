import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RetryingBlobStore } from '../../../src/adapters/storage/retrying-blob-store.js';
import type { BlobInfo, BlobStore, ByteRange } from '../../../src/application/ports/blob-store.js';
import { DbBackupError } from '../../../src/domain/errors.js';
import { backoffDelay, retryPolicy, withRetry } from '../../../src/infrastructure/retry.js';
import { readAll } from '../../contracts/blob-store-contract.js';

const transient = () => new DbBackupError('E_STORAGE', 'HTTP 503', { details: { retryable: true } });
const policy = { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 };

/** An in-memory store whose methods fail as the test says. */
class FlakyStore implements BlobStore {
  readonly location = 'mem://flaky';
  calls: string[] = [];
  failStat = 0;
  /** get: cut the stream after this many bytes, this many times. */
  cuts: number[] = [];
  listFailAfter: number[] = [];

  constructor(private readonly data = new Map<string, Buffer>()) {}

  async put(key: string, body: Readable): Promise<BlobInfo> {
    this.data.set(key, await readAll(body));
    return { key, size: this.data.get(key)!.length, modifiedAt: new Date() };
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    this.calls.push(`get ${range ? `${range.start}-${range.end ?? ''}` : 'all'}`);
    const whole = this.data.get(key)!;
    const bytes = whole.subarray(range?.start ?? 0, range?.end === undefined ? undefined : range.end + 1);
    const cut = this.cuts.shift();
    return Readable.from(
      (async function* () {
        if (cut === undefined) {
          yield bytes;
          return;
        }
        yield bytes.subarray(0, cut);
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      })(),
    );
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    const failAfter = this.listFailAfter.shift();
    let n = 0;
    for (const [key, value] of [...this.data].sort()) {
      if (!key.startsWith(prefix)) continue;
      if (failAfter !== undefined && n++ === failAfter) throw transient();
      yield { key, size: value.length, modifiedAt: new Date(0) };
    }
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    this.calls.push('stat');
    if (this.failStat-- > 0) throw transient();
    const v = this.data.get(key);
    return v ? { key, size: v.length, modifiedAt: new Date(0) } : undefined;
  }

  async delete(key: string): Promise<void> {
    this.data.delete(key);
  }
}

describe('withRetry / backoff', () => {
  it('waits a random time within the exponential ceiling', () => {
    const p = retryPolicy({ baseDelayMs: 100, maxDelayMs: 1000 });
    expect(backoffDelay(1, p, () => 1)).toBe(100);
    expect(backoffDelay(3, p, () => 1)).toBe(400);
    expect(backoffDelay(10, p, () => 1)).toBe(1000);
    expect(backoffDelay(3, p, () => 0)).toBe(0);
  });

  it('retries transient failures, then gives up with the last error; never retries the rest', async () => {
    let n = 0;
    await expect(withRetry(async () => (++n < 3 ? Promise.reject(transient()) : 'ok'), { policy, retryable: () => true })).resolves.toBe('ok');
    n = 0;
    await expect(withRetry(async () => Promise.reject(new Error(`fail ${++n}`)), { policy, retryable: () => true })).rejects.toThrow('fail 4');
    n = 0;
    await expect(withRetry(async () => Promise.reject(new Error(`fatal ${++n}`)), { policy, retryable: () => false })).rejects.toThrow('fatal 1');
  });

  it('stops waiting when the signal aborts', async () => {
    const controller = new AbortController();
    const p = withRetry(async () => Promise.reject(transient()), { policy: { attempts: 5, baseDelayMs: 10_000, maxDelayMs: 10_000 }, retryable: () => true, signal: controller.signal, random: () => 1 });
    setTimeout(() => controller.abort(new Error('stop')), 20);
    await expect(p).rejects.toThrow('stop');
  });
});

describe('RetryingBlobStore', () => {
  it('retries stat on retryable errors only', async () => {
    const inner = new FlakyStore(new Map([['k', Buffer.from('v')]]));
    inner.failStat = 2;
    expect((await new RetryingBlobStore(inner, policy).stat('k'))?.size).toBe(1);
    expect(inner.calls.filter((c) => c === 'stat')).toHaveLength(3);
    inner.failStat = 10;
    await expect(new RetryingBlobStore(inner, policy).stat('k')).rejects.toThrow('HTTP 503');
  });

  it('resumes a broken download from the byte where it stopped, ranges included', async () => {
    const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 256));
    const inner = new FlakyStore(new Map([['k', bytes]]));
    inner.cuts = [100, 50];
    const store = new RetryingBlobStore(inner, policy);
    expect((await readAll(await store.get('k'))).equals(bytes)).toBe(true);
    expect(inner.calls).toEqual(['get all', 'get 100-', 'get 150-']);
    inner.calls = [];
    inner.cuts = [10];
    expect((await readAll(await store.get('k', { start: 200, end: 299 }))).equals(bytes.subarray(200, 300))).toBe(true);
    expect(inner.calls).toEqual(['get 200-299', 'get 210-299']);
  });

  it('a download that keeps breaking fails E_STORAGE naming the object (exit 3), not a raw socket error', async () => {
    const bytes = Buffer.alloc(1000, 7);
    const inner = new FlakyStore(new Map([['k', bytes]]));
    inner.cuts = [100, 100, 100, 100, 100];
    const store = new RetryingBlobStore(inner, policy);
    const err = await readAll(await store.get('k')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DbBackupError);
    expect(err).toMatchObject({ code: 'E_STORAGE', exitCode: 3 });
    expect((err as Error).message).toMatch(/^Could not read k at mem:\/\/flaky: the download broke 4 times \(socket hang up\)/);
    expect(inner.calls).toHaveLength(4);
  });

  it('restarts a broken listing without repeating keys', async () => {
    const inner = new FlakyStore(new Map(['a', 'b', 'c', 'd'].map((k) => [k, Buffer.from(k)])));
    inner.listFailAfter = [2, 3];
    const keys: string[] = [];
    for await (const info of new RetryingBlobStore(inner, policy).list('')) keys.push(info.key);
    expect(keys).toEqual(['a', 'b', 'c', 'd']);
  });
});
