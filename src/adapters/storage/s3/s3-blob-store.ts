import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  type StorageClass,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { BlobInfo, BlobStore, ByteRange, PutOptions } from '../../../application/ports/blob-store.js';
import { DbBackupError } from '../../../domain/errors.js';
import { parseContentRange, servesExactly, sliceServed } from '../cloud/byte-range.js';
import { checksumMismatch, cloudError } from '../cloud/cloud-errors.js';
import { type BlockPool, TaskPool, growingChunks, growingPartSize } from '../cloud/fixed-chunks.js';
import { uploadBudget } from '../cloud/upload-budget.js';
import { KeySpace } from '../cloud/key-space.js';
import { UploadDigest, md5OfStream } from '../cloud/upload-digest.js';
import type { RetryPolicy } from '../../../infrastructure/retry.js';
import type { RetryLog } from '../cloud/retry-log.js';
import { S3RetryStrategy } from './s3-retry-strategy.js';

/** S3 parts of one size before the size doubles: 8 MiB parts reach 16 GB, 16 MiB 48 GB, ... 496 GB in 10,000 parts. */
const S3_PARTS_PER_SIZE = 2000;

export type ChecksumMode = 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';

export interface S3BlobStoreOptions {
  bucket: string;
  prefix?: string;
  /** For S3-compatible services (MinIO, Ceph, s3rver): `http://host:port`. */
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  /** Explicit keys; otherwise the standard AWS chain (env, profile, SSO, IMDS…). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * Flexible checksums (the SDK's CRC32 on every request). Some S3-compatible servers store the
   * aws-chunked framing or reject it: they need WHEN_REQUIRED.
   */
  checksumMode?: ChecksumMode;
  storageClass?: string;
  sse?: 'AES256' | 'aws:kms';
  kmsKeyId?: string;
  /**
   * Multipart part size in bytes (≥ 5 MiB, default 8 MiB: an object of up to 10,000 parts, 78 GiB);
   * memory is about partSize × (concurrency + 1), and every upload of the process shares one
   * window of max(32 MiB, partSize × concurrency) in flight (cloud/upload-budget.ts).
   */
  partSize?: number;
  concurrency?: number;
  /** ListObjectsV2 page size (≤ 1000). */
  pageSize?: number;
  /** Retry of each upload request (a part, or a small object's one PUT: buffers), through the SDK's retry (s3-retry-strategy.ts). */
  partRetry?: Partial<RetryPolicy>;
  /** Where each retry is reported. */
  retryLog?: RetryLog;
  /** A request whose socket is idle this long fails (the SDK and our retries try again); default 120 s. */
  requestTimeoutMs?: number;
  /** Skip TLS certificate verification (only by explicit choice). */
  insecure?: boolean;
}

const MiB = 1 << 20;

/**
 * A repository in an S3 bucket (or an S3-compatible service). Uploads are streamed: one PUT when
 * the body fits in a part, else a multipart upload with bounded part size and concurrency, its part
 * buffers reused; the stored ETag is checked against the MD5 we
 * computed (a read-back where the ETag is not an MD5, as with SSE-KMS). Non-upload requests make
 * one try each: RetryingBlobStore retries them.
 */
export class S3BlobStore implements BlobStore {
  readonly location: string;
  private readonly keys: KeySpace;
  private readonly control: S3Client;
  private readonly transfer: S3Client;
  private readonly partSize: number;
  /** Part i's size: `partSize`, doubled every S3_PARTS_PER_SIZE parts (an object of any size fits in 10,000 parts). */
  private readonly partSizeAt: (index: number) => number;
  private readonly concurrency: number;

  constructor(private readonly options: S3BlobStoreOptions) {
    this.keys = new KeySpace(options.prefix ?? '');
    this.location = `s3://${options.bucket}${this.keys.prefix ? `/${this.keys.prefix}` : ''}`;
    this.partSize = Math.max(5 * MiB, options.partSize ?? 8 * MiB);
    this.partSizeAt = growingPartSize(this.partSize, S3_PARTS_PER_SIZE, 5 * 1024 * MiB);
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    uploadBudget.fit(this.partSize * this.concurrency);
    // The SDK warns on every run under Node 20 that its future versions need Node 22: a note for
    // us (package.json pins the SDK), not for the user, so keep it off their terminal.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const base = clientConfig(options, this.concurrency);
    this.control = new S3Client({ ...base, maxAttempts: 1 });
    this.transfer = new S3Client({ ...base, retryStrategy: new S3RetryStrategy(options.partRetry ?? {}, this.location, options.retryLog) });
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<BlobInfo> {
    const name = this.keys.objectName(key);
    const digest = new UploadDigest(this.partSizeAt);
    // Aborting destroys the body: the upload stops reading, its in-flight parts settle, put rejects.
    const onAbort = () => body.destroy(abortErrorOf(options.signal));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const upload: { id?: string } = {};
    let etag: string | undefined;
    try {
      options.signal?.throwIfAborted();
      etag = await this.upload(name, digest.tap(body), upload, options.signal);
    } catch (err) {
      body.destroy();
      // We abort ourselves so a failing AbortMultipartUpload cannot hide the real error.
      if (upload.id) await this.abortMultipart(name, upload.id);
      throw options.signal?.aborted ? abortErrorOf(options.signal) : this.fail(err, `upload ${key}`);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    await this.verify(key, name, etag, digest);
    return { key, size: digest.bytes, modifiedAt: new Date() };
  }

  /** Sends `body` as `name` (one PUT when it fits in a part) and returns the ETag; `upload.id` names a multipart upload once started. */
  private async upload(name: string, body: AsyncIterable<Buffer>, upload: { id?: string }, signal?: AbortSignal): Promise<string | undefined> {
    const params = {
      Bucket: this.options.bucket,
      Key: name,
      ...(this.options.storageClass ? { StorageClass: this.options.storageClass as StorageClass } : {}),
      ...(this.options.sse ? { ServerSideEncryption: this.options.sse } : {}),
      ...(this.options.kmsKeyId ? { SSEKMSKeyId: this.options.kmsKeyId } : {}),
    };
    const send = { abortSignal: signal };
    const parts = growingChunks(body, this.partSizeAt)[Symbol.asyncIterator]();
    const first = await parts.next();
    const second = first.done ? first : await parts.next();
    if (second.done) {
      const whole = first.done ? Buffer.alloc(0) : first.value.block;
      return (await this.transfer.send(new PutObjectCommand({ ...params, Body: whole, ContentLength: whole.length }), send)).ETag;
    }
    upload.id = (await this.transfer.send(new CreateMultipartUploadCommand(params), send)).UploadId;
    const etags: { ETag: string | undefined; PartNumber: number }[] = [];
    const pool = new TaskPool(this.concurrency, uploadBudget);
    const part = ({ block, pool: blocks }: { block: Buffer; pool: BlockPool }) => {
      const PartNumber = etags.length + 1;
      if (PartNumber > 10_000) {
        throw new DbBackupError('E_STORAGE', `${this.location}: an object of over 10,000 parts (from ${this.partSize >> 20} MiB, doubling every ${S3_PARTS_PER_SIZE}); raise DBBACKUP_STORAGE_PART_SIZE_MIB.`);
      }
      etags.push({ ETag: undefined, PartNumber });
      return pool.add(async () => {
        try {
          const out = await this.transfer.send(new UploadPartCommand({ ...pick(params), UploadId: upload.id, PartNumber, Body: block, ContentLength: block.length }), send);
          etags[PartNumber - 1]!.ETag = out.ETag;
        } finally {
          blocks.give(block);
        }
      }, block.length, signal);
    };
    try {
      await part(first.value!);
      await part(second.value);
      for (let next = await parts.next(); !next.done; next = await parts.next()) await part(next.value);
      await pool.drain();
    } catch (err) {
      await pool.settle();
      throw err;
    }
    const done = await this.transfer.send(new CompleteMultipartUploadCommand({ ...pick(params), UploadId: upload.id, MultipartUpload: { Parts: etags } }), send);
    return done.ETag;
  }

  async get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const name = this.keys.objectName(key);
    try {
      const out = await this.control.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: name, ...(range ? { Range: rangeHeader(range) } : {}) }),
        signal ? { abortSignal: signal } : {},
      );
      const body = out.Body as Readable;
      if (!range) return body;
      const served = parseContentRange(out.ContentRange);
      return servesExactly(range, served) ? body : sliceServed(body, range, served?.start ?? 0);
    } catch (err) {
      if (isMissing(err) && !isMissingBucket(err)) throw notFound(this.location, key);
      throw this.fail(err, `read ${key}`);
    }
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<BlobInfo> {
    let token: string | undefined;
    do {
      signal?.throwIfAborted();
      const page = await this.control
        .send(
          new ListObjectsV2Command({
            Bucket: this.options.bucket,
            Prefix: this.keys.listPrefix(prefix),
            MaxKeys: Math.min(1000, this.options.pageSize ?? 1000),
            ...(token ? { ContinuationToken: token } : {}),
          }),
          signal ? { abortSignal: signal } : {},
        )
        .catch((err: unknown) => {
          throw this.fail(err, `list ${prefix || 'objects'}`);
        });
      for (const o of page.Contents ?? []) {
        const key = o.Key === undefined ? undefined : this.keys.keyOf(o.Key);
        if (key !== undefined) yield { key, size: o.Size ?? 0, modifiedAt: o.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    try {
      const out = await this.control.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.keys.objectName(key) }));
      return { key, size: out.ContentLength ?? 0, modifiedAt: out.LastModified ?? new Date(0) };
    } catch (err) {
      if (isMissing(err) && !isMissingBucket(err)) return undefined;
      throw this.fail(err, `stat ${key}`);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.control.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.keys.objectName(key) }));
    } catch (err) {
      if (isMissing(err) && !isMissingBucket(err)) return;
      throw this.fail(err, `delete ${key}`);
    }
  }

  /**
   * Aborts the multipart uploads under `prefix` begun before `startedBefore` (what a killed put
   * leaves: invisible to list, its parts billed until aborted); returns how many. A service that
   * cannot list them (NotImplemented, MethodNotAllowed: s3rver, older S3-compatible servers) has 0.
   */
  async sweepIncomplete(prefix: string, startedBefore: Date, options: { dryRun?: boolean; signal?: AbortSignal } = {}): Promise<number> {
    let count = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      options.signal?.throwIfAborted();
      let page;
      try {
        page = await this.control.send(
          new ListMultipartUploadsCommand({
            Bucket: this.options.bucket,
            Prefix: this.keys.listPrefix(prefix),
            ...(keyMarker ? { KeyMarker: keyMarker } : {}),
            ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
          }),
          options.signal ? { abortSignal: options.signal } : {},
        );
      } catch (err) {
        const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
        if (e?.name === 'NotImplemented' || e?.name === 'MethodNotAllowed' || e?.$metadata?.httpStatusCode === 501) return count;
        throw this.fail(err, `list unfinished uploads under ${prefix || 'the repository'}`);
      }
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !u.Initiated || u.Initiated.getTime() >= startedBefore.getTime()) continue;
        if (this.keys.keyOf(u.Key) === undefined) continue;
        count++;
        if (options.dryRun) continue;
        await this.control
          .send(new AbortMultipartUploadCommand({ Bucket: this.options.bucket, Key: u.Key, UploadId: u.UploadId }))
          .catch((err: unknown) => {
            // Gone meanwhile (completed or aborted by its own run) is what we wanted.
            if ((err as { name?: string })?.name !== 'NoSuchUpload') throw this.fail(err, `abort an unfinished upload of ${u.Key}`);
          });
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return count;
  }

  close(): void {
    this.control.destroy();
    this.transfer.destroy();
  }

  /**
   * The ETag of a plain or SSE-S3 object is the MD5 of its bytes (single PUT, and on some servers
   * multipart too) or `md5(part MD5s)-N` (AWS multipart). SSE-KMS ETags are not MD5s: read back.
   */
  private async verify(key: string, name: string, etag: string | undefined, digest: UploadDigest): Promise<void> {
    const tag = (etag ?? '').replace(/"/g, '').toLowerCase();
    const md5 = digest.md5Hex();
    let ok: boolean;
    let how: string;
    if (this.options.sse !== 'aws:kms' && /^[0-9a-f]{32}(-\d+)?$/.test(tag)) {
      ok = tag === md5 || tag === digest.multipartEtag();
      how = `ETag ${tag}, sent MD5 ${md5}`;
    } else {
      const back = await md5OfStream(await this.get(key));
      ok = back.md5 === md5 && back.bytes === digest.bytes;
      how = `read back ${back.bytes} bytes with MD5 ${back.md5}, sent ${digest.bytes} with ${md5}`;
    }
    if (ok) return;
    await this.control.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: name })).catch(() => undefined);
    throw checksumMismatch(this.location, key, how);
  }

  private async abortMultipart(name: string, uploadId: string): Promise<void> {
    // Best effort: some S3-compatible servers lack AbortMultipartUpload; the parts are then left
    // for a lifecycle rule, but no object appears, because the upload was never completed.
    await this.control
      .send(new AbortMultipartUploadCommand({ Bucket: this.options.bucket, Key: name, UploadId: uploadId }))
      .catch(() => undefined);
  }

  private fail(err: unknown, what: string): unknown {
    const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
    return cloudError(
      err,
      { status: e?.$metadata?.httpStatusCode, code: e?.Code ?? e?.name, transient: e?.$retryable !== undefined },
      what,
      this.location,
      'bucket',
    );
  }
}

/** Bucket and key of an upload's parameters (what its part and completion requests take). */
function pick(params: { Bucket: string; Key: string }): { Bucket: string; Key: string } {
  return { Bucket: params.Bucket, Key: params.Key };
}

function clientConfig(options: S3BlobStoreOptions, concurrency: number): S3ClientConfig {
  const agentOptions = { keepAlive: true, maxSockets: Math.max(16, concurrency * 2) };
  return {
    region: options.region ?? (options.endpoint ? 'us-east-1' : undefined),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    forcePathStyle: options.forcePathStyle ?? false,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    // Unset: the SDK default (WHEN_SUPPORTED) or AWS_REQUEST_CHECKSUM_CALCULATION from the environment.
    ...(options.checksumMode ? { requestChecksumCalculation: options.checksumMode, responseChecksumValidation: options.checksumMode } : {}),
    // NodeHttpHandler options; requestTimeout is the socket idle timeout.
    requestHandler: {
      connectionTimeout: 10_000,
      requestTimeout: options.requestTimeoutMs ?? 120_000,
      // Without it the SDK only logs a warning and a stalled request hangs the run for ever.
      throwOnRequestTimeout: true,
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent({ ...agentOptions, rejectUnauthorized: options.insecure !== true }),
    },
  };
}

function rangeHeader(range: ByteRange): string {
  return `bytes=${range.start}-${range.end ?? ''}`;
}

function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.name === 'NoSuchBucket' || e?.$metadata?.httpStatusCode === 404;
}

function isMissingBucket(err: unknown): boolean {
  return (err as { name?: string })?.name === 'NoSuchBucket';
}

function notFound(location: string, key: string): DbBackupError {
  return new DbBackupError('E_NOT_FOUND', `${location}/${key} does not exist.`, { details: { key } });
}

function abortErrorOf(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return Object.assign(new Error('The upload was aborted.', { cause: reason }), { name: 'AbortError' });
}
