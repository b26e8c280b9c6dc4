import type { OpenedRepository } from '../../../application/ports/repository-opener.js';
import { DbBackupError } from '../../../domain/errors.js';
import { retryPolicy } from '../../../infrastructure/retry.js';
import type { BlobStore } from '../../../application/ports/blob-store.js';
import type { IncompleteUploads } from '../../../application/ports/incomplete-uploads.js';
import { RetryingBlobStore } from '../retrying-blob-store.js';
import type { Logger } from '../../../application/ports/logger.js';
import { type WarningSink, warnInsecure } from './insecure-warning.js';
import { type RetryLog, storageRetryLog } from './retry-log.js';
import { CLOUD_SCHEMES, type CloudScheme, type StorageOptions } from './storage-options.js';

export interface CloudUrl {
  scheme: CloudScheme;
  /** Azure storage account (azure:// only). */
  account?: string;
  /** Bucket or container. */
  bucket: string;
  prefix: string;
}

/** Parses `s3://bucket/prefix`, `gs://bucket/prefix`, `azure://account/container/prefix`. */
export function parseCloudUrl(url: string): CloudUrl {
  const m = /^([a-z0-9]+):\/\/([^/?#]*)(\/[^?#]*)?$/i.exec(url);
  const scheme = m?.[1]?.toLowerCase() as CloudScheme | undefined;
  if (!m || !scheme || !CLOUD_SCHEMES.includes(scheme)) {
    throw new DbBackupError('E_USAGE', `"${url.replace(/\?.*$/, '?…')}" is not a storage URL; use s3://bucket/prefix, gs://bucket/prefix or azure://account/container/prefix.`);
  }
  if (m[2]!.includes('@')) {
    throw new DbBackupError('E_USAGE', `Put no credentials in a storage URL; use the provider's environment variables or config instead.`);
  }
  const segments = (m[3] ?? '').split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '.' || s === '..')) throw new DbBackupError('E_USAGE', `A storage URL may not contain "." or ".." segments.`);
  if (scheme === 'azure') {
    const container = segments.shift();
    if (!m[2] || !container) throw new DbBackupError('E_USAGE', `An Azure URL names the account and the container: azure://account/container/prefix.`);
    return { scheme, account: m[2], bucket: container, prefix: segments.join('/') };
  }
  if (!m[2]) throw new DbBackupError('E_USAGE', `${scheme}:// URLs name a bucket: ${scheme}://bucket/prefix.`);
  return { scheme, bucket: m[2], prefix: segments.join('/') };
}

/**
 * Opens a cloud repository: the provider's adapter inside one RetryingBlobStore. With `insecure`,
 * the adapter either turns TLS verification off (S3, Azure) and a warning naming the endpoint goes
 * to `warn` (stderr by default, once per run), or refuses with E_UNSUPPORTED (GCS).
 */
export async function openCloudRepository(url: string, options: StorageOptions, warn?: WarningSink, logger?: Logger): Promise<OpenedRepository> {
  const parsed = parseCloudUrl(url);
  const { store: inner, endpoint, uploads } = await openStore(parsed, options, storageRetryLog(logger));
  if (options.insecure) warnInsecure(parsed.scheme, endpoint, warn);
  const store = new RetryingBlobStore(inner, options.retry, logger);
  return {
    store,
    kind: parsed.scheme === 'gs' ? 'gcs' : parsed.scheme,
    ...(uploads ? { uploads } : {}),
    commit: async () => undefined,
    abort: async () => undefined,
    close: async () => store.close(),
  };
}

/**
 * Each SDK is loaded only when its scheme is used: together they cost seconds of CLI start-up.
 * `endpoint` is where requests go, for the insecure warning.
 */
async function openStore(url: CloudUrl, options: StorageOptions, retryLog: RetryLog): Promise<{ store: BlobStore; endpoint: string; uploads?: IncompleteUploads }> {
  const retry = retryPolicy(options.retry);
  const common = {
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(options.pageSize ? { pageSize: options.pageSize } : {}),
  };
  switch (url.scheme) {
    case 's3': {
      const { S3BlobStore } = await import('../s3/s3-blob-store.js');
      const endpoint = options.s3.endpoint ?? `https://s3.${options.s3.region ?? '<region>'}.amazonaws.com`;
      const store = new S3BlobStore({
        ...options.s3,
        ...common,
        bucket: url.bucket,
        prefix: url.prefix,
        ...(options.partSize ? { partSize: options.partSize } : {}),
        partRetry: retry,
        retryLog,
        ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
        insecure: options.insecure ?? false,
      });
      return { store, endpoint, uploads: { sweep: (prefix, before, o) => store.sweepIncomplete(prefix, before, o) } };
    }
    case 'gs': {
      const { GcsBlobStore } = await import('../gcs/gcs-blob-store.js');
      const store = new GcsBlobStore({
        ...options.gcs,
        ...(options.pageSize ? { pageSize: options.pageSize } : {}),
        bucket: url.bucket,
        prefix: url.prefix,
        ...(options.partSize ? { chunkSize: options.partSize } : {}),
        ...(options.readIdleMs ? { readIdleMs: options.readIdleMs } : {}),
        ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
        chunkRetry: retry,
        retryLog,
        insecure: options.insecure ?? false,
      });
      return { store, endpoint: options.gcs.endpoint ?? 'https://storage.googleapis.com' };
    }
    case 'azure': {
      const { AzureBlobStore, parseConnectionString } = await import('../azure/azure-blob-store.js');
      const csAccount = options.azure.connectionString ? parseConnectionString(options.azure.connectionString).AccountName : undefined;
      if (csAccount && csAccount !== url.account) {
        throw new DbBackupError(
          'E_CONFIG',
          `AZURE_STORAGE_CONNECTION_STRING is for account "${csAccount}" but the URL names "${url.account}"; use the matching account.`,
        );
      }
      const store = await AzureBlobStore.open({
        ...options.azure,
        ...common,
        account: url.account!,
        container: url.bucket,
        prefix: url.prefix,
        ...(options.partSize ? { blockSize: options.partSize } : {}),
        blockRetry: retry,
        retryLog,
        ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
        insecure: options.insecure ?? false,
      });
      return { store, endpoint: store.endpoint };
    }
  }
}
