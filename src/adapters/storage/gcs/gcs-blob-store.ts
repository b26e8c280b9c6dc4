import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Bucket, IdempotencyStrategy, RETRYABLE_ERR_FN_DEFAULT, Storage, type StorageOptions } from '@google-cloud/storage';
import type { BlobInfo, BlobStore, ByteRange, PutOptions } from '../../../application/ports/blob-store.js';
import { DbBackupError } from '../../../domain/errors.js';
import { type RetryPolicy, retryPolicy } from '../../../infrastructure/retry.js';
import { checksumMismatch, cloudError, isRequestTimeout } from '../cloud/cloud-errors.js';
import { guardDownload } from '../cloud/guarded-download.js';
import { KeySpace } from '../cloud/key-space.js';
import type { RetryLog } from '../cloud/retry-log.js';
import { SDK_RETRY_OPTIONS, uploadRetryAdapter } from './gcs-upload-retries.js';

export interface GcsBlobStoreOptions {
  bucket: string;
  prefix?: string;
  /** JSON API endpoint, e.g. `http://127.0.0.1:4443` for a fake or a private endpoint. */
  endpoint?: string;
  /** Service-account key file; otherwise Application Default Credentials. */
  keyFile?: string;
  projectId?: string;
  /** Resumable-upload chunk size (a multiple of 256 KiB); the SDK holds one chunk for retries. */
  chunkSize?: number;
  pageSize?: number;
  /** A download with no byte for this long counts as broken (the SDK hangs on a cut connection). */
  readIdleMs?: number;
  /** Retry of each resumable chunk request (the SDK's own retry; the chunk is buffered). */
  chunkRetry?: Partial<RetryPolicy>;
  /** Where each retry of an upload request is reported (gcs-upload-retries.ts). */
  retryLog?: RetryLog;
  /** Refused: see the constructor. */
  insecure?: boolean;
  /**
   * How long a request may take to answer (every JSON call and each resumable chunk, its sending
   * included) and a download may pass no byte (unless `readIdleMs`) before it fails and is retried;
   * default 60 s for JSON calls and downloads (the SDK's), 120 s for a chunk.
   */
  requestTimeoutMs?: number;
}

const QUANTUM = 256 * 1024;

/**
 * A repository in a Google Cloud Storage bucket. Uploads are resumable, sent in chunks of bounded
 * size (one at a time: GCS resumable sessions are sequential); the SDK compares the MD5 it computed
 * with the one the service stores, and deletes the object on a mismatch. Other requests make one
 * try each: RetryingBlobStore retries them.
 */
export class GcsBlobStore implements BlobStore {
  readonly location: string;
  private readonly keys: KeySpace;
  private readonly control: Bucket;
  private readonly transfer: Bucket;
  private readonly chunkSize: number;

  constructor(private readonly options: GcsBlobStoreOptions) {
    this.keys = new KeySpace(options.prefix ?? '');
    this.location = `gs://${options.bucket}${this.keys.prefix ? `/${this.keys.prefix}` : ''}`;
    // The SDK sends through two HTTP stacks (teeny-request for JSON calls, gaxios for resumable
    // uploads and tokens) and exposes no per-client agent or TLS option for either; only the
    // process-wide NODE_TLS_REJECT_UNAUTHORIZED would do, which would also unverify every other
    // connection of the run. So verification cannot be turned off for GCS alone.
    if (options.insecure) {
      throw new DbBackupError(
        'E_UNSUPPORTED',
        `--insecure (no TLS certificate check) is not supported for ${this.location}: the Google Cloud Storage SDK cannot turn it off per client. ` +
          `Trust the endpoint's CA instead with NODE_EXTRA_CA_CERTS=/path/to/ca.pem, and drop --insecure, DBBACKUP_STORAGE_INSECURE or "insecure: true" for this target.`,
      );
    }
    this.chunkSize = Math.max(1, Math.round((options.chunkSize ?? 16 << 20) / QUANTUM)) * QUANTUM;
    const base: StorageOptions = {
      ...(options.endpoint ? { apiEndpoint: options.endpoint.replace(/\/+$/, '') } : {}),
      ...(options.keyFile ? { keyFilename: options.keyFile, useAuthWithCustomEndpoint: true } : {}),
      ...(options.projectId ? { projectId: options.projectId } : {}),
    };
    const policy = retryPolicy(options.chunkRetry);
    const timeout = options.requestTimeoutMs ?? 60_000;
    const chunkTimeout = options.requestTimeoutMs ?? 120_000;
    this.control = new Storage({ ...base, timeout, retryOptions: { autoRetry: false, maxRetries: 0 } }).bucket(options.bucket);
    const transfer = new Storage({
      ...base,
      retryOptions: {
        autoRetry: policy.attempts > 1,
        maxRetries: policy.attempts - 1,
        // The SDK then waits a fixed 1 s (its session-creation retry, async-retry, refuses a cap under
        // 1 s); observeUploadRetries holds each failure for our backoff or its Retry-After first.
        ...SDK_RETRY_OPTIONS,
        totalTimeout: 3600,
        // Re-sending a chunk of the same session is safe: the session, not the object, is written.
        idempotencyStrategy: IdempotencyStrategy.RetryAlways,
        // The SDK's own list leaves out its HTTP client's timeout (node-fetch's 'request-timeout').
        retryableErrorFn: (err) => RETRYABLE_ERR_FN_DEFAULT(err) || isRequestTimeout(err),
      },
    });
    const adapter = uploadRetryAdapter(transfer, policy, this.location, options.retryLog);
    this.transfer = transfer.bucket(options.bucket);
    // Resumable-upload requests go through gaxios with no timeout of their own: without one a stalled
    // endpoint held a chunk, and the backup, for ever. An interceptor gives each its timeout.
    // (The SDK types the interceptor's answer as the JSON calls' options; gaxios takes the same object.)
    type Interceptor = (typeof this.transfer.interceptors)[number];
    // The same options carry the adapter that logs and paces the SDK's retries of those requests (gcs-upload-retries.ts).
    this.transfer.interceptors.push({ request: (reqOpts) => Object.assign(reqOpts, { timeout: chunkTimeout, adapter }) as unknown as ReturnType<Interceptor['request']> });
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<BlobInfo> {
    const file = this.transfer.file(this.keys.objectName(key));
    const sink = file.createWriteStream({
      resumable: true,
      chunkSize: this.chunkSize,
      validation: 'md5',
      contentType: 'application/octet-stream',
    });
    const gate = new ProgressGate(2 * this.chunkSize);
    sink.on('progress', (p: { bytesWritten?: number }) => gate.acknowledge(p.bytesWritten ?? 0));
    try {
      await pipeline(body, (source: AsyncIterable<Buffer>) => gate.pace(source), sink, options.signal ? { signal: options.signal } : {});
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason ?? err;
      const code = (err as { code?: unknown }).code;
      if (code === 'FILE_NO_UPLOAD' || code === 'FILE_NO_UPLOAD_DELETE') {
        throw checksumMismatch(this.location, key, 'the MD5 the service computed differs from ours');
      }
      // Creating an object can only 404 when its bucket is missing.
      throw this.fail(err, `upload ${key}`, codeOf(err) === 404);
    } finally {
      gate.release();
    }
    return { key, size: gate.bytes, modifiedAt: new Date() };
  }

  async get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const file = this.control.file(this.keys.objectName(key));
    const stream = file.createReadStream(range ? { start: range.start, ...(range.end === undefined ? {} : { end: range.end }) } : { validation: 'md5' });
    const onAbort = () => stream.destroy(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.once('close', () => signal?.removeEventListener('abort', onAbort));
    let expectedBytes: number | undefined;
    stream.once('response', (res: { headers?: Record<string, string | undefined> }) => {
      const length = Number(res.headers?.['content-length']);
      if (Number.isFinite(length) && !res.headers?.['content-encoding']?.includes('gzip')) expectedBytes = length;
    });
    // The request starts on the first read; wait for data (or the end) so a missing key rejects here.
    try {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: unknown) => {
          stream.off('readable', onReadable);
          stream.off('error', done);
          if (err) reject(err);
          else resolve();
        };
        const onReadable = () => done();
        stream.once('readable', onReadable);
        stream.once('error', done);
      });
    } catch (err) {
      stream.destroy();
      if (codeOf(err) === 404 && !isMissingBucket(err)) throw notFound(this.location, key);
      throw this.fail(err, `read ${key}`);
    }
    return guardDownload(stream, {
      ...(expectedBytes === undefined ? {} : { expectedBytes }),
      idleMs: this.options.readIdleMs ?? this.options.requestTimeoutMs ?? 60_000,
      location: this.location,
      key,
      ...(signal ? { signal } : {}),
    });
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<BlobInfo> {
    let pageToken: string | undefined;
    do {
      signal?.throwIfAborted();
      const [files, next] = await this.control
        .getFiles({
          prefix: this.keys.listPrefix(prefix),
          autoPaginate: false,
          maxResults: Math.min(1000, this.options.pageSize ?? 1000),
          ...(pageToken ? { pageToken } : {}),
        })
        .catch((err: unknown) => {
          throw this.fail(err, `list ${prefix || 'objects'}`);
        });
      for (const f of files) {
        const key = this.keys.keyOf(f.name);
        if (key !== undefined) yield { key, size: Number(f.metadata.size ?? 0), modifiedAt: new Date(String(f.metadata.updated ?? 0)) };
      }
      pageToken = (next as { pageToken?: string } | null | undefined)?.pageToken;
    } while (pageToken);
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    try {
      const [meta] = await this.control.file(this.keys.objectName(key)).getMetadata();
      return { key, size: Number(meta.size ?? 0), modifiedAt: new Date(String(meta.updated ?? 0)) };
    } catch (err) {
      if (codeOf(err) === 404 && !isMissingBucket(err)) return undefined;
      throw this.fail(err, `stat ${key}`);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.control.file(this.keys.objectName(key)).delete({ ignoreNotFound: true });
    } catch (err) {
      throw this.fail(err, `delete ${key}`);
    }
  }

  private fail(err: unknown, what: string, bucketMissing = isMissingBucket(err)): unknown {
    const status = codeOf(err);
    return cloudError(err, { status, code: bucketMissing ? 'BucketNotFound' : undefined }, what, this.location, 'bucket');
  }
}

/**
 * Backpressure for the SDK's resumable upload, whose writable acknowledges writes faster than it
 * sends them (its buffer grows with the object). `pace` lets bytes through only while fewer than
 * `window` bytes are ahead of what the upload reported sent ('progress' events).
 */
class ProgressGate {
  bytes = 0;
  private sent = 0;
  private wake: (() => void) | undefined;
  private released = false;

  constructor(private readonly window: number) {}

  acknowledge(bytesWritten: number): void {
    this.sent = Math.max(this.sent, bytesWritten);
    this.wake?.();
  }

  release(): void {
    this.released = true;
    this.wake?.();
  }

  async *pace(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      while (!this.released && this.bytes - this.sent > this.window) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
      this.bytes += chunk.length;
      yield chunk;
    }
  }
}

/** The HTTP status of a GCS ApiError or gaxios error. */
function codeOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; status?: unknown; response?: { status?: unknown } };
  for (const v of [e?.code, e?.status, e?.response?.status]) if (typeof v === 'number') return v;
  return undefined;
}

function isMissingBucket(err: unknown): boolean {
  return codeOf(err) === 404 && /bucket/i.test(String((err as Error)?.message ?? '')) && !/object|No such object/i.test(String((err as Error)?.message));
}

function notFound(location: string, key: string): DbBackupError {
  return new DbBackupError('E_NOT_FOUND', `${location}/${key} does not exist.`, { details: { key } });
}
