import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCloudRepository } from '../../../src/adapters/storage/cloud/open-cloud-store.js';
import type { StorageOptions } from '../../../src/adapters/storage/cloud/storage-options.js';
import { S3BlobStore } from '../../../src/adapters/storage/s3/s3-blob-store.js';
import type { BlobStore } from '../../../src/application/ports/blob-store.js';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { PatternSource, blobStoreContract, sha256 } from '../../contracts/blob-store-contract.js';
import { type FaultyProxy, startFaultyProxy } from '../../helpers/faulty-proxy.js';
import { S3RVER_CREDENTIALS, type S3Server, startS3Server } from '../../helpers/s3-server.js';

const MiB = 1 << 20;
let server: S3Server;
let proxy: FaultyProxy;
let n = 0;

beforeAll(async () => {
  server = await startS3Server(['test-bucket']);
  proxy = await startFaultyProxy({ port: server.port });
});
afterAll(async () => {
  await proxy?.stop();
  await server?.stop();
});

function options(endpoint: string, extra: Partial<StorageOptions> = {}): StorageOptions {
  return {
    s3: { endpoint, region: 'us-east-1', forcePathStyle: true, checksumMode: 'WHEN_REQUIRED', credentials: S3RVER_CREDENTIALS },
    gcs: {},
    azure: {},
    partSize: 5 * MiB,
    concurrency: 4,
    pageSize: 2,
    retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 50 },
    ...extra,
  };
}

async function open(endpoint: string, extra: Partial<StorageOptions> = {}): Promise<{ store: BlobStore; cleanup(): Promise<void> }> {
  const repo = await openCloudRepository(`s3://test-bucket/run${++n}/repo`, options(endpoint, extra));
  return { store: repo.store, cleanup: () => repo.close() };
}

// Two parts in flight: about 6 × 5 MiB live at the peaks measured.
blobStoreContract("s3 (s3rver)", () => open(server.endpoint, { concurrency: 2 }), { maxBufferGrowth: 48 * MiB });

describe('S3 faults (through a faulty proxy)', () => {
  it('survives 503s and a connection dropped mid-part', async () => {
    const { store, cleanup } = await open(proxy.endpoint);
    try {
      const isPart = (req: { method?: string; url?: string }) => req.method === 'PUT' && /partNumber=/.test(req.url ?? '');
      proxy.failNext(2, 503, isPart);
      proxy.failNext(1, 'drop', isPart);
      proxy.failNext(1, 500, (req) => req.method === 'HEAD');
      proxy.failNext(1, 503, (req) => req.method === 'GET' && /list-type=2/.test(req.url ?? ''));
      const source = new PatternSource(12 * MiB);
      await store.put('retry/big', source.stream());
      expect(proxy.injected.filter((f) => /partNumber/.test(f.url))).toHaveLength(3);
      expect((await store.stat('retry/big'))?.size).toBe(12 * MiB);
      const keys: string[] = [];
      for await (const info of store.list('retry/')) keys.push(info.key);
      expect(keys).toEqual(['retry/big']);
      expect(await sha256(await store.get('retry/big'))).toBe(source.sha256());
    } finally {
      proxy.clearFaults();
      await cleanup();
    }
  });

  it('resumes a download cut mid-stream with a ranged read', async () => {
    const { store, cleanup } = await open(proxy.endpoint);
    try {
      const source = new PatternSource(6 * MiB);
      await store.put('cut/obj', source.stream());
      proxy.failNext(1, 'cut', (req) => req.method === 'GET' && !/list-type/.test(req.url ?? ''));
      expect(await sha256(await store.get('cut/obj'))).toBe(source.sha256());
      expect(proxy.injected.at(-1)?.fault).toBe('cut');
    } finally {
      proxy.clearFaults();
      await cleanup();
    }
  });

  it('fails cleanly when failures persist, leaving no object', async () => {
    const { store, cleanup } = await open(proxy.endpoint);
    try {
      proxy.failNext(1000, 503, (req) => req.method === 'PUT');
      const err = await store.put('doomed', new PatternSource(11 * MiB).stream()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isDbBackupError(err, 'E_STORAGE')).toBe(true);
      expect((err as Error).message).toMatch(/s3:\/\/test-bucket/);
      // It gave up after its bounded retries, long before the 1000 injected failures ran out.
      expect(proxy.injected.length).toBeGreaterThan(1);
      expect(proxy.injected.length).toBeLessThan(100);
      proxy.clearFaults();
      expect(await store.stat('doomed')).toBeUndefined();
    } finally {
      proxy.clearFaults();
      await cleanup();
    }
  });

  it('catches a stored checksum that differs from what was sent', async () => {
    const { store, cleanup } = await open(proxy.endpoint);
    try {
      proxy.rewriteResponses(
        (req) => req.method === 'PUT',
        (h) => ({ ...h, etag: '"0123456789abcdef0123456789abcdef"' }),
      );
      const err = await store.put('tampered', Readable.from([Buffer.from('some bytes')])).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isDbBackupError(err, 'E_CHECKSUM')).toBe(true);
      proxy.clearFaults();
      expect(await store.stat('tampered')).toBeUndefined();
    } finally {
      proxy.clearFaults();
      await cleanup();
    }
  });

  it('maps a missing bucket and bad credentials to clear errors without secrets', async () => {
    const missing = new S3BlobStore({ ...options(server.endpoint).s3, bucket: 'no-such-bucket' });
    const err = await missing.put('x', Readable.from([Buffer.from('x')])).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isDbBackupError(err, 'E_NOT_FOUND')).toBe(true);
    const wrong = new S3BlobStore({
      ...options(server.endpoint).s3,
      bucket: 'test-bucket',
      credentials: { accessKeyId: 'NOT-S3RVER', secretAccessKey: 'not-the-secret-xyz' },
    });
    const auth = await wrong.put('x', Readable.from([Buffer.from('x')])).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isDbBackupError(auth, 'E_AUTH')).toBe(true);
    expect(JSON.stringify((auth as Error).message)).not.toContain('not-the-secret-xyz');
    missing.close();
    wrong.close();
  });
});
