import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCloudRepository } from '../../../src/adapters/storage/cloud/open-cloud-store.js';
import type { StorageOptions } from '../../../src/adapters/storage/cloud/storage-options.js';
import { GcsBlobStore } from '../../../src/adapters/storage/gcs/gcs-blob-store.js';
import type { BlobStore } from '../../../src/application/ports/blob-store.js';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { PatternSource, blobStoreContract, sha256 } from '../../contracts/blob-store-contract.js';
import { type FaultyProxy, startFaultyProxy } from '../../helpers/faulty-proxy.js';
import { type GcsFake, startGcsFake } from '../../helpers/gcs-fake.js';

const MiB = 1 << 20;
let fake: GcsFake;
let proxy: FaultyProxy;
let n = 0;

beforeAll(async () => {
  fake = await startGcsFake();
  fake.createBucket('test-bucket');
  proxy = await startFaultyProxy({ port: fake.port });
});
afterAll(async () => {
  await proxy?.stop();
  await fake?.stop();
});

function options(endpoint: string): StorageOptions {
  return {
    s3: {},
    gcs: { endpoint },
    azure: {},
    partSize: 1 * MiB,
    pageSize: 2,
    retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 50 },
    readIdleMs: 2000,
  };
}

async function open(endpoint: string): Promise<{ store: BlobStore; cleanup(): Promise<void> }> {
  const repo = await openCloudRepository(`gs://test-bucket/run${++n}/repo`, options(endpoint));
  return { store: repo.store, cleanup: () => repo.close() };
}

// The fake runs in this process, so its request buffers count too.
blobStoreContract('gcs (JSON API fake)', () => open(fake.endpoint), { maxBufferGrowth: 48 * MiB });

describe('GCS faults', () => {
  // Data chunks only (not the SDK's `bytes */*` status queries).
  const isChunk = (req: IncomingMessage) =>
    req.method === 'PUT' && /upload_id=/.test(req.url ?? '') && !/^bytes \*\//.test(req.headers['content-range'] ?? '');

  it('survives 503s and a connection dropped mid-chunk', async () => {
    const { store, cleanup } = await open(proxy.endpoint);
    try {
      proxy.failNext(2, 503, isChunk);
      proxy.failNext(1, 'drop', isChunk);
      proxy.failNext(1, 500, (req) => req.method === 'GET' && /\/o\/[^?]+(\?|$)/.test(req.url ?? '') && !/alt=media/.test(req.url ?? ''));
      proxy.failNext(1, 503, (req) => req.method === 'GET' && /\/o\?/.test(req.url ?? ''));
      const source = new PatternSource(5 * MiB);
      await store.put('retry/big', source.stream());
      expect(proxy.injected.filter((f) => /upload_id/.test(f.url))).toHaveLength(3);
      expect((await store.stat('retry/big'))?.size).toBe(5 * MiB);
      const keys: string[] = [];
      for await (const info of store.list('retry/')) keys.push(info.key);
      expect(keys).toEqual(['retry/big']);
      expect(await sha256(await store.get('retry/big'))).toBe(source.sha256());
      expect(proxy.injected).toHaveLength(5);
    } finally {
      proxy.clearFaults();
      await cleanup();
    }
  });

  it('gives up on a stalled chunk or a stalled download after DBBACKUP_STORAGE_TIMEOUT_MS and retries: the upload and the read heal', async () => {
    // Without a timeout a stalled resumable chunk (gaxios has none) hung for ever, and a truncated or
    // stalled download waited the fixed 60 s read guard whatever the timeout said.
    const { readIdleMs: _, ...rest } = options(proxy.endpoint);
    const repo = await openCloudRepository(`gs://test-bucket/run${++n}/repo`, { ...rest, requestTimeoutMs: 400 });
    try {
      proxy.failNext(1, 'stall', isChunk);
      const source = new PatternSource(3 * MiB);
      await repo.store.put('stalled', source.stream());
      expect(proxy.injected.at(-1)?.fault).toBe('stall');
      proxy.failNext(1, 'truncate', (req) => req.method === 'GET' && /alt=media/.test(req.url ?? ''));
      expect(await sha256(await repo.store.get('stalled'))).toBe(source.sha256());
      expect(proxy.injected.at(-1)?.fault).toBe('truncate');
    } finally {
      proxy.clearFaults();
      await repo.close();
    }
  }, 30_000);

  it('resumes a download cut mid-stream with a ranged read', async () => {
    const { store, cleanup } = await open(proxy.endpoint);
    try {
      const source = new PatternSource(4 * MiB);
      await store.put('cut/obj', source.stream());
      proxy.failNext(1, 'cut', (req) => req.method === 'GET' && /alt=media/.test(req.url ?? ''));
      expect(await sha256(await store.get('cut/obj'))).toBe(source.sha256());
      expect(proxy.injected.at(-1)?.fault).toBe('cut');
    } finally {
      proxy.clearFaults();
      await cleanup();
    }
  });

  it('fails cleanly when failures persist, leaving no object', async () => {
    const { store, cleanup } = await open(fake.endpoint);
    try {
      fake.failNext(1000, 503, (req) => req.method === 'PUT');
      const err = await store.put('doomed', new PatternSource(3 * MiB).stream()).then(
        () => undefined,
        (e: unknown) => e,
      );
      fake.clearFaults();
      expect(isDbBackupError(err, 'E_STORAGE')).toBe(true);
      expect((err as Error).message).toContain('gs://test-bucket');
    } finally {
      fake.clearFaults();
      await cleanup();
    }
    const { store: again, cleanup: done } = await open(fake.endpoint);
    expect(await again.stat('doomed')).toBeUndefined();
    await done();
  });

  it('catches a checksum mismatch reported by the service, and removes the object', async () => {
    const { store, cleanup } = await open(fake.endpoint);
    try {
      fake.corruptNextUploadChecksum();
      const err = await store.put('tampered', Readable.from([Buffer.from('some bytes')])).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isDbBackupError(err, 'E_CHECKSUM')).toBe(true);
      expect(await store.stat('tampered')).toBeUndefined();
    } finally {
      await cleanup();
    }
  });

  it('maps a missing bucket to E_NOT_FOUND', async () => {
    const missing = new GcsBlobStore({ bucket: 'no-such-bucket', endpoint: fake.endpoint });
    const err = await missing.put('x', Readable.from([Buffer.from('x')])).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isDbBackupError(err, 'E_NOT_FOUND')).toBe(true);
  });
});
