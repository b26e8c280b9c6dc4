import { Readable } from 'node:stream';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureBlobStore } from '../../../src/adapters/storage/azure/azure-blob-store.js';
import { openCloudRepository } from '../../../src/adapters/storage/cloud/open-cloud-store.js';
import type { StorageOptions } from '../../../src/adapters/storage/cloud/storage-options.js';
import type { BlobStore } from '../../../src/application/ports/blob-store.js';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { PatternSource, blobStoreContract, sha256 } from '../../contracts/blob-store-contract.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, type Azurite, startAzurite } from '../../helpers/azurite.js';
import { type FaultyProxy, startFaultyProxy } from '../../helpers/faulty-proxy.js';

const MiB = 1 << 20;
const CONTAINER = 'test-container';
let azurite: Azurite;
let proxy: FaultyProxy;
let n = 0;

beforeAll(async () => {
  azurite = await startAzurite();
  await BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(CONTAINER).create();
  proxy = await startFaultyProxy({ port: azurite.port });
});
afterAll(async () => {
  await proxy?.stop();
  await azurite?.stop();
});

function options(endpoint: string): StorageOptions {
  return {
    s3: {},
    gcs: {},
    azure: { endpoint: `${endpoint}/${AZURITE_ACCOUNT}`, accountKey: AZURITE_KEY },
    partSize: 1 * MiB,
    concurrency: 4,
    pageSize: 2,
    retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 50 },
  };
}

async function open(endpoint: string): Promise<{ store: BlobStore; cleanup(): Promise<void> }> {
  const repo = await openCloudRepository(`azure://${AZURITE_ACCOUNT}/${CONTAINER}/run${++n}/repo`, options(endpoint));
  return { store: repo.store, cleanup: () => repo.close() };
}

blobStoreContract('azure (azurite)', () => open(`http://127.0.0.1:${azurite.port}`));

describe('Azure faults (through a faulty proxy)', () => {
  const isBlock = (req: { method?: string; url?: string }) => req.method === 'PUT' && /comp=block(&|$)/.test(req.url ?? '');

  it('survives 503s and a connection dropped mid-block', async () => {
    const { store, cleanup } = await open(proxy.endpoint);
    try {
      proxy.failNext(2, 503, isBlock);
      proxy.failNext(1, 'drop', isBlock);
      proxy.failNext(1, 500, (req) => req.method === 'HEAD');
      proxy.failNext(1, 503, (req) => req.method === 'GET' && /comp=list/.test(req.url ?? ''));
      const source = new PatternSource(6 * MiB);
      await store.put('retry/big', source.stream());
      expect(proxy.injected.filter((f) => /comp=block/.test(f.url))).toHaveLength(3);
      expect((await store.stat('retry/big'))?.size).toBe(6 * MiB);
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
      const source = new PatternSource(4 * MiB);
      await store.put('cut/obj', source.stream());
      proxy.failNext(1, 'cut', (req) => req.method === 'GET' && !/comp=list/.test(req.url ?? ''));
      expect(await sha256(await store.get('cut/obj'))).toBe(source.sha256());
      expect(proxy.injected.at(-1)?.fault).toBe('cut');
    } finally {
      proxy.clearFaults();
      await cleanup();
    }
  });

  it('fails cleanly when failures persist, leaving no blob', async () => {
    const { store, cleanup } = await open(proxy.endpoint);
    try {
      proxy.failNext(1000, 503, isBlock);
      const err = await store.put('doomed', new PatternSource(3 * MiB).stream()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isDbBackupError(err, 'E_STORAGE')).toBe(true);
      expect((err as Error).message).toContain(`azure://${AZURITE_ACCOUNT}/${CONTAINER}`);
      proxy.clearFaults();
      expect(await store.stat('doomed')).toBeUndefined();
    } finally {
      proxy.clearFaults();
      await cleanup();
    }
  });

  it('gives up on a stalled request after DBBACKUP_STORAGE_TIMEOUT_MS: retried once, E_NETWORK_TIMEOUT for good', async () => {
    // Without a client-side timeout (the SDK's tryTimeoutInMs only asks the service) a stall hung for ever.
    const repo = await openCloudRepository(`azure://${AZURITE_ACCOUNT}/${CONTAINER}/run${++n}/repo`, { ...options(proxy.endpoint), requestTimeoutMs: 300 });
    try {
      await repo.store.put('stalled', Readable.from([Buffer.from('bytes')]));
      const isHead = (req: { method?: string }) => req.method === 'HEAD';
      proxy.failNext(1, 'stall', isHead);
      expect((await repo.store.stat('stalled'))?.size).toBe(5);
      expect(proxy.injected.at(-1)?.fault).toBe('stall');
      proxy.failNext(1000, 'stall', isHead);
      const err = await repo.store.stat('stalled').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isDbBackupError(err, 'E_NETWORK_TIMEOUT')).toBe(true);
      expect((err as Error).message).toContain(`azure://${AZURITE_ACCOUNT}/${CONTAINER}`);
    } finally {
      proxy.clearFaults();
      await repo.close();
    }
  }, 30_000);

  it('times out a stalled request on every credential path: key, SAS, UseDevelopmentStorage, a connection string with neither (anonymous)', async () => {
    const endpoint = `${proxy.endpoint}/${AZURITE_ACCOUNT}`;
    // The proxy holds each request before azurite sees it: the credentials need only be well-formed.
    const sas = 'sv=2024-08-04&ss=b&srt=sco&sp=rl&se=2099-01-01T00:00:00Z&sig=eA%3D%3D';
    const paths = {
      key: { endpoint, accountKey: AZURITE_KEY },
      sas: { endpoint, sasToken: sas },
      UseDevelopmentStorage: { endpoint, connectionString: 'UseDevelopmentStorage=true' },
      anonymous: { connectionString: `BlobEndpoint=${endpoint};` },
    };
    const isHead = (req: { method?: string }) => req.method === 'HEAD';
    const before = proxy.injected.length;
    try {
      proxy.failNext(1000, 'stall', isHead);
      const outcomes: Record<string, string> = {};
      for (const [name, o] of Object.entries(paths)) {
        const store = await AzureBlobStore.open({ account: AZURITE_ACCOUNT, container: CONTAINER, requestTimeoutMs: 300, ...o });
        const err = await store.stat('anything').then(() => undefined, (e: unknown) => e);
        outcomes[name] = isDbBackupError(err) ? err.code : String(err);
      }
      expect(outcomes).toEqual({ key: 'E_NETWORK_TIMEOUT', sas: 'E_NETWORK_TIMEOUT', UseDevelopmentStorage: 'E_NETWORK_TIMEOUT', anonymous: 'E_NETWORK_TIMEOUT' });
      expect(proxy.injected.slice(before).filter((f) => f.fault === 'stall')).toHaveLength(4);
    } finally {
      proxy.clearFaults();
    }
  });

  it('catches a block MD5 that differs from what was sent', async () => {
    const { store, cleanup } = await open(proxy.endpoint);
    try {
      proxy.rewriteResponses(isBlock, (h) => ({ ...h, 'content-md5': Buffer.alloc(16, 7).toString('base64') }));
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

  it('maps a missing container and a wrong key to clear errors without secrets', async () => {
    const base = { account: AZURITE_ACCOUNT, endpoint: `http://127.0.0.1:${azurite.port}/${AZURITE_ACCOUNT}` };
    const missing = await AzureBlobStore.open({ ...base, container: 'no-such-container', accountKey: AZURITE_KEY });
    const err = await missing.put('x', Readable.from([Buffer.from('x')])).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isDbBackupError(err, 'E_NOT_FOUND')).toBe(true);
    const wrongKey = Buffer.alloc(64, 1).toString('base64');
    const wrong = await AzureBlobStore.open({ ...base, container: CONTAINER, accountKey: wrongKey });
    const auth = await wrong.put('x', Readable.from([Buffer.from('x')])).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isDbBackupError(auth, 'E_AUTH')).toBe(true);
    expect((auth as Error).message).not.toContain(wrongKey);
  });
});
