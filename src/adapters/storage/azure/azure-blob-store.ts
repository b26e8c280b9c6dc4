import { createHash, randomBytes } from 'node:crypto';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import {
  AnonymousCredential,
  BlobServiceClient,
  type ContainerClient,
  newPipeline,
  type Pipeline,
  type RequestPolicyFactory,
  RestError,
  StorageSharedKeyCredential,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import type { BlobInfo, BlobStore, ByteRange, PutOptions } from '../../../application/ports/blob-store.js';
import { DbBackupError } from '../../../domain/errors.js';
import { type RetryPolicy, retryPolicy, withRetry } from '../../../infrastructure/retry.js';
import { checksumMismatch, cloudError, isRetryableStorageError, retryAfterOf } from '../cloud/cloud-errors.js';
import { type RetryLog, retryReason } from '../cloud/retry-log.js';
import { TaskPool, growingChunks, growingPartSize } from '../cloud/fixed-chunks.js';
import { uploadBudget } from '../cloud/upload-budget.js';
import { requestTimeoutPolicy } from './request-timeout.js';
import { KeySpace } from '../cloud/key-space.js';
import { UploadDigest } from '../cloud/upload-digest.js';

export interface AzureBlobStoreOptions {
  account: string;
  container: string;
  prefix?: string;
  /** Blob service URL, e.g. `http://127.0.0.1:10000/devstoreaccount1` for azurite. */
  endpoint?: string;
  connectionString?: string;
  accountKey?: string;
  /** A SAS token (with or without the leading `?`). */
  sasToken?: string;
  /** Block size in bytes (default 4 MiB); memory is about blockSize × (concurrency + 1), within the process's upload budget. */
  blockSize?: number;
  concurrency?: number;
  pageSize?: number;
  /** Retry of each staged block (a buffer, so re-sendable). */
  blockRetry?: Partial<RetryPolicy>;
  /** Where each retry of a block is reported. */
  retryLog?: RetryLog;
  /** Skip TLS certificate verification of the blob endpoint (never of the Azure AD token endpoint). */
  insecure?: boolean;
  /** How long a request may go without an answer before it fails (E_NETWORK_TIMEOUT) and is retried; default 120 s. */
  requestTimeoutMs?: number;
}

const MiB = 1 << 20;
type PipelineCredential = NonNullable<Parameters<typeof newPipeline>[0]>;
/** The pipeline makes one try per request: RetryingBlobStore and the per-block retry do the rest. */
const PIPELINE: StoragePipelineOptions = { retryOptions: { maxTries: 1, tryTimeoutInMs: 120_000 } };

/**
 * A repository in an Azure Blob container. A put stages fixed-size blocks (each sent with its MD5,
 * which the service verifies, and retried on its own), then commits the block list with the MD5 of
 * the whole blob. Uncommitted blocks are invisible and expire, so a failed put leaves no blob.
 */
export class AzureBlobStore implements BlobStore {
  readonly location: string;
  /** The blob service URL requests go to (no query string: a SAS never shows). */
  readonly endpoint: string;
  private readonly keys: KeySpace;
  private readonly blockSize: number;
  private readonly concurrency: number;

  constructor(
    private readonly container: ContainerClient,
    private readonly options: AzureBlobStoreOptions,
  ) {
    this.keys = new KeySpace(options.prefix ?? '');
    this.location = `azure://${options.account}/${options.container}${this.keys.prefix ? `/${this.keys.prefix}` : ''}`;
    const url = new URL(container.url);
    this.endpoint = `${url.origin}${url.pathname.replace(/\/[^/]*\/?$/, '')}`;
    this.blockSize = Math.max(64 * 1024, options.blockSize ?? 4 * MiB);
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    uploadBudget.fit(this.blockSize * this.concurrency);
  }

  /** Builds the client from a connection string, an account key, a SAS token or DefaultAzureCredential. */
  static async open(options: AzureBlobStoreOptions): Promise<AzureBlobStore> {
    return new AzureBlobStore((await serviceClient(options)).getContainerClient(options.container), options);
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<BlobInfo> {
    const blob = this.container.getBlockBlobClient(this.keys.objectName(key));
    const signal = options.signal;
    const digest = new UploadDigest(this.blockSize);
    const token = randomBytes(6).toString('hex');
    const ids: string[] = [];
    const pool = new TaskPool(this.concurrency, uploadBudget);
    try {
      // 4 MiB blocks reach 40 GB, then the size doubles every 10,000 blocks: any object fits in 50,000.
      for await (const { block, pool: blocks } of growingChunks(digest.tap(body), growingPartSize(this.blockSize, 10_000, 4000 * MiB))) {
        signal?.throwIfAborted();
        const id = Buffer.from(`${token}-${String(ids.length).padStart(6, '0')}`).toString('base64');
        ids.push(id);
        // A block goes back to the pool once staged (its request has been answered, so fully sent).
        await pool.add(() => this.stageBlock(key, blob, id, block, signal).finally(() => blocks.give(block)), block.length, signal);
      }
      await pool.drain();
      signal?.throwIfAborted();
      await blob
        .commitBlockList(ids, { blobHTTPHeaders: { blobContentMD5: Buffer.from(digest.md5Hex(), 'hex') }, abortSignal: signal })
        .catch((err: unknown) => {
          throw this.fail(err, `commit ${key}`);
        });
    } catch (err) {
      body.destroy();
      await pool.settle();
      throw signal?.aborted ? (signal.reason ?? err) : err;
    }
    return { key, size: digest.bytes, modifiedAt: new Date() };
  }

  private async stageBlock(key: string, blob: ReturnType<ContainerClient['getBlockBlobClient']>, id: string, block: Buffer, signal?: AbortSignal): Promise<void> {
    const md5 = createHash('md5').update(block).digest();
    await withRetry(
      async () => {
        const res = await blob.stageBlock(id, block, block.length, { transactionalContentMD5: md5, abortSignal: signal }).catch((err: unknown) => {
          if (err instanceof RestError && (err.code === 'Md5Mismatch' || err.code === 'InvalidMd5')) {
            throw checksumMismatch(this.location, key, `the service rejected a block's MD5: ${err.code}`);
          }
          throw this.fail(err, `upload a block of ${key}`);
        });
        const echoed = res.contentMD5 ? Buffer.from(res.contentMD5) : undefined;
        if (echoed && !echoed.equals(md5)) {
          throw checksumMismatch(this.location, key, `block MD5 ${echoed.toString('hex')}, sent ${md5.toString('hex')}`);
        }
      },
      {
        policy: this.options.blockRetry,
        retryable: isRetryableStorageError,
        signal,
        retryAfter: retryAfterOf,
        onRetry: (err, attempt, delayMs, retryAfterMs) =>
          this.options.retryLog?.({
            target: this.location,
            operation: `upload a block of ${key}`,
            attempt,
            maxAttempts: retryPolicy(this.options.blockRetry).attempts,
            delayMs,
            reason: retryReason(err),
            ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
          }),
      },
    );
  }

  async get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const blob = this.container.getBlobClient(this.keys.objectName(key));
    const offset = range?.start ?? 0;
    const count = range?.end === undefined ? undefined : range.end - offset + 1;
    try {
      const res = await blob.download(offset, count, { abortSignal: signal, maxRetryRequests: 0 });
      return this.classifyBreaks(res.readableStreamBody as Readable, key, signal);
    } catch (err) {
      if (isMissingBlob(err)) throw notFound(this.location, key);
      throw this.fail(err, `read ${key}`);
    }
  }

  /**
   * The SDK reports a connection lost mid-download as an AbortError; unless our caller aborted,
   * it is a transient storage failure (RetryingBlobStore resumes it with a ranged read).
   */
  private classifyBreaks(body: Readable, key: string, signal?: AbortSignal): Readable {
    const location = this.location;
    const out = Readable.from(
      (async function* () {
        try {
          yield* body as AsyncIterable<Buffer>;
        } catch (err) {
          if (signal?.aborted || !(err instanceof Error)) throw err;
          throw new DbBackupError('E_STORAGE', `The connection broke while reading ${key} from ${location}.`, {
            cause: err,
            details: { location, retryable: true },
          });
        }
      })(),
      { objectMode: false },
    );
    out.once('close', () => body.destroy());
    return out;
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<BlobInfo> {
    const pages = this.container
      .listBlobsFlat({ prefix: this.keys.listPrefix(prefix), abortSignal: signal })
      .byPage({ maxPageSize: Math.min(5000, this.options.pageSize ?? 5000) });
    try {
      for await (const page of pages) {
        for (const item of page.segment.blobItems) {
          const key = this.keys.keyOf(item.name);
          if (key !== undefined) yield { key, size: item.properties.contentLength ?? 0, modifiedAt: item.properties.lastModified };
        }
      }
    } catch (err) {
      throw this.fail(err, `list ${prefix || 'blobs'}`);
    }
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    try {
      const p = await this.container.getBlobClient(this.keys.objectName(key)).getProperties();
      return { key, size: p.contentLength ?? 0, modifiedAt: p.lastModified ?? new Date(0) };
    } catch (err) {
      if (isMissingBlob(err)) return undefined;
      throw this.fail(err, `stat ${key}`);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.container.getBlobClient(this.keys.objectName(key)).deleteIfExists({ deleteSnapshots: 'include' });
    } catch (err) {
      throw this.fail(err, `delete ${key}`);
    }
  }

  private fail(err: unknown, what: string): unknown {
    const e = err as { statusCode?: number; code?: string; details?: { errorCode?: string } };
    const code = e?.details?.errorCode ?? e?.code;
    return cloudError(err, { status: e?.statusCode, code, transient: code === 'REQUEST_SEND_ERROR' }, what, this.location, 'container');
  }
}

/**
 * The service client, every path through one pipeline (one try per request, the request timeout,
 * --insecure's agent): an account key (given, or in the connection string); a SAS token (given, or
 * in it); `UseDevelopmentStorage=true` (the SDK's development account); a connection string with
 * neither key nor SAS — anonymous access to the endpoint it names (a public container), as the
 * .NET SDK reads such a string; no connection string: Azure AD through DefaultAzureCredential.
 */
export async function serviceClient(o: AzureBlobStoreOptions): Promise<BlobServiceClient> {
  const cs = o.connectionString ? parseConnectionString(o.connectionString) : {};
  const accountKey = o.accountKey ?? cs.AccountKey;
  const sas = (o.sasToken ?? cs.SharedAccessSignature)?.replace(/^\?/, '');
  const development = /^true$/i.test(cs.UseDevelopmentStorage ?? '') ? BlobServiceClient.fromConnectionString('UseDevelopmentStorage=true', PIPELINE) : undefined;
  const url = (o.endpoint ?? cs.BlobEndpoint ?? development?.url ?? defaultEndpoint(cs, o.account)).replace(/\/+$/, '');
  const insecure = o.insecure === true && /^https:/i.test(url);
  const pipeline = (credential: PipelineCredential): Pipeline => {
    const p = insecure ? unverifiedTlsPipeline(credential) : newPipeline(credential, PIPELINE);
    p.factories.push(requestTimeoutPolicy(o.requestTimeoutMs ?? 120_000));
    return p;
  };
  if (accountKey) return new BlobServiceClient(url, pipeline(new StorageSharedKeyCredential(cs.AccountName ?? o.account, accountKey)));
  if (sas) return new BlobServiceClient(`${url}?${sas}`, pipeline(new AnonymousCredential()));
  if (development) return new BlobServiceClient(url, pipeline(development.credential as StorageSharedKeyCredential));
  if (o.connectionString) return new BlobServiceClient(url, pipeline(new AnonymousCredential()));
  // Loaded only when needed: it pulls in MSAL.
  const { DefaultAzureCredential } = await import('@azure/identity');
  return new BlobServiceClient(url, pipeline(new DefaultAzureCredential()));
}

/** `https://ACCOUNT.blob.SUFFIX` from a connection string's parts (or the public cloud's). */
function defaultEndpoint(cs: Record<string, string>, account: string): string {
  return `${cs.DefaultEndpointsProtocol ?? 'https'}://${cs.AccountName ?? account}.blob.${cs.EndpointSuffix ?? 'core.windows.net'}`;
}

/**
 * A pipeline whose requests go through an https.Agent that accepts any certificate. The SDK's
 * `httpClient` option takes a core-http (v1) client, so the agent is set instead by a v1 request
 * policy: storage-blob runs such extra factories through core-http-compat, which passes `agent`
 * through to the request the default HTTP client sends. Token requests of DefaultAzureCredential
 * use their own pipeline and stay verified.
 */
function unverifiedTlsPipeline(credential: PipelineCredential): Pipeline {
  const agent = new HttpsAgent({ keepAlive: true, rejectUnauthorized: false });
  const setAgent: RequestPolicyFactory = {
    create: (next) => ({
      sendRequest: (request) => {
        request.agent = agent;
        return next.sendRequest(request);
      },
    }),
  };
  const pipeline = newPipeline(credential, PIPELINE);
  pipeline.factories.push(setAgent);
  return pipeline;
}

/** `Key=Value;…` pairs of an Azure connection string (values may contain `=`). */
export function parseConnectionString(cs: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of cs.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

function isMissingBlob(err: unknown): boolean {
  const e = err as { statusCode?: number; code?: string; details?: { errorCode?: string } };
  const code = e?.details?.errorCode ?? e?.code;
  return e?.statusCode === 404 && code !== 'ContainerNotFound';
}

function notFound(location: string, key: string): DbBackupError {
  return new DbBackupError('E_NOT_FOUND', `${location}/${key} does not exist.`, { details: { key } });
}
