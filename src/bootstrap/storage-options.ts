import { type StorageOptions, storageOptionsFromEnv } from '../adapters/storage/cloud/storage-options.js';
import type { TargetConfig } from '../infrastructure/config/schema.js';

/**
 * Cloud settings for one repository URL: the environment's, overridden by the config target whose
 * `url` it is (region, endpoint, path style, checksum mode, SSE, credentials). `insecure` follows
 * the documented precedence instead (flag > env > file): `--insecure`/`--no-insecure` travel as
 * DBBACKUP_STORAGE_INSECURE, and when that is set it wins over a target's `insecure`.
 */
export function storageOptionsFor(url: string, env: NodeJS.ProcessEnv, targets: TargetConfig[] = []): StorageOptions {
  const base = storageOptionsFromEnv(env);
  const t = targets.find((x) => x.url === url || url.startsWith(`${x.url.replace(/\/$/, '')}/`));
  if (!t) return base;
  const insecure = base.insecure ?? t.insecure;
  const s3: StorageOptions['s3'] = { ...base.s3 };
  if (t.region) s3.region = t.region;
  if (t.endpoint) {
    s3.endpoint = t.endpoint;
    s3.forcePathStyle = t['path-style'] ?? true;
  }
  if (t['path-style'] !== undefined) s3.forcePathStyle = t['path-style'];
  if (t['checksum-mode']) s3.checksumMode = t['checksum-mode'];
  if (t['storage-class']) s3.storageClass = t['storage-class'];
  if (t.sse) s3.sse = t.sse as 'AES256' | 'aws:kms';
  if (t['kms-key-id']) s3.kmsKeyId = t['kms-key-id'];
  if (t['access-key-id'] && t['secret-access-key']) {
    s3.credentials = { accessKeyId: t['access-key-id'], secretAccessKey: t['secret-access-key'], ...(t['session-token'] ? { sessionToken: t['session-token'] } : {}) };
  }
  return {
    ...base,
    s3,
    gcs: { ...base.gcs, ...(t.endpoint && url.startsWith('gs://') ? { endpoint: t.endpoint } : {}), ...(t['key-file'] ? { keyFile: t['key-file'] } : {}) },
    azure: {
      ...base.azure,
      ...(t.endpoint && url.startsWith('azure://') ? { endpoint: t.endpoint } : {}),
      ...(t['connection-string'] ? { connectionString: t['connection-string'] } : {}),
      ...(t['account-key'] ? { accountKey: t['account-key'] } : {}),
      ...(t['sas-token'] ? { sasToken: t['sas-token'] } : {}),
    },
    ...(insecure !== undefined ? { insecure } : {}),
  };
}
