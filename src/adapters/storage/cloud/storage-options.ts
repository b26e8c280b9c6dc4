import { DbBackupError } from '../../../domain/errors.js';
import type { RetryPolicy } from '../../../infrastructure/retry.js';
import type { ChecksumMode } from '../s3/s3-blob-store.js';

/**
 * How to reach the cloud stores: endpoints, regions, credentials and transfer limits. Credentials
 * left unset come from each provider's standard chain (AWS env/profile/IMDS, ADC, DefaultAzureCredential).
 */
export interface StorageOptions {
  s3: {
    endpoint?: string;
    region?: string;
    forcePathStyle?: boolean;
    checksumMode?: ChecksumMode;
    storageClass?: string;
    sse?: 'AES256' | 'aws:kms';
    kmsKeyId?: string;
    /** Explicit keys (from config); unset means the standard AWS chain. */
    credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  };
  gcs: { endpoint?: string; keyFile?: string; projectId?: string };
  azure: { endpoint?: string; connectionString?: string; accountKey?: string; sasToken?: string };
  /** Part / block / chunk size in bytes. */
  partSize?: number;
  /** Parts in flight per upload (GCS resumable uploads are always sequential). */
  concurrency?: number;
  /** List page size (tests use a tiny one to exercise pagination). */
  pageSize?: number;
  retry?: Partial<RetryPolicy>;
  /** A download that stalls this long counts as broken and is resumed (GCS; default 60 s). */
  readIdleMs?: number;
  /** S3: a request whose socket is idle this long fails (and is retried); default 120 s. */
  requestTimeoutMs?: number;
  /**
   * Skip TLS certificate verification (S3 and Azure; refused for GCS); only by explicit choice,
   * and loudly logged. Unset means verify.
   */
  insecure?: boolean;
}

const MiB = 1 << 20;

export const CLOUD_SCHEMES = ['s3', 'gs', 'azure'] as const;
export type CloudScheme = (typeof CLOUD_SCHEMES)[number];

/**
 * Reads StorageOptions from the environment: DBBACKUP_S3_* / DBBACKUP_GCS_* / DBBACKUP_AZURE_*
 * and the providers' own variables (AWS_REGION, GOOGLE_APPLICATION_CREDENTIALS,
 * AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN, …).
 */
export function storageOptionsFromEnv(env: NodeJS.ProcessEnv): StorageOptions {
  const s3Endpoint = env.DBBACKUP_S3_ENDPOINT || undefined;
  const checksum = env.DBBACKUP_S3_CHECKSUM?.toUpperCase();
  if (checksum && checksum !== 'WHEN_REQUIRED' && checksum !== 'WHEN_SUPPORTED') {
    throw new DbBackupError('E_CONFIG', `DBBACKUP_S3_CHECKSUM must be WHEN_SUPPORTED or WHEN_REQUIRED, not "${checksum}".`);
  }
  const sse = env.DBBACKUP_S3_SSE;
  if (sse && sse !== 'AES256' && sse !== 'aws:kms') {
    throw new DbBackupError('E_CONFIG', `DBBACKUP_S3_SSE must be AES256 (SSE-S3) or aws:kms (SSE-KMS), not "${sse}".`);
  }
  const partMiB = number(env, 'DBBACKUP_STORAGE_PART_SIZE_MIB');
  const attempts = number(env, 'DBBACKUP_STORAGE_RETRIES');
  const baseDelayMs = number(env, 'DBBACKUP_STORAGE_RETRY_DELAY_MS');
  return {
    s3: {
      ...(s3Endpoint ? { endpoint: s3Endpoint } : {}),
      ...defined('region', env.DBBACKUP_S3_REGION || env.AWS_REGION || env.AWS_DEFAULT_REGION),
      // Custom endpoints (MinIO, Ceph, s3rver) usually want path-style URLs.
      forcePathStyle: flag(env.DBBACKUP_S3_FORCE_PATH_STYLE) ?? s3Endpoint !== undefined,
      ...defined('checksumMode', checksum as ChecksumMode | undefined),
      ...defined('storageClass', env.DBBACKUP_S3_STORAGE_CLASS),
      ...defined('sse', sse as 'AES256' | 'aws:kms' | undefined),
      ...defined('kmsKeyId', env.DBBACKUP_S3_SSE_KMS_KEY_ID),
    },
    gcs: {
      ...defined('endpoint', env.DBBACKUP_GCS_ENDPOINT),
      ...defined('keyFile', env.GOOGLE_APPLICATION_CREDENTIALS),
      ...defined('projectId', env.DBBACKUP_GCS_PROJECT || env.GOOGLE_CLOUD_PROJECT),
    },
    azure: {
      ...defined('endpoint', env.DBBACKUP_AZURE_ENDPOINT),
      ...defined('connectionString', env.AZURE_STORAGE_CONNECTION_STRING),
      ...defined('accountKey', env.AZURE_STORAGE_KEY || env.AZURE_STORAGE_ACCOUNT_KEY),
      ...defined('sasToken', env.AZURE_STORAGE_SAS_TOKEN),
    },
    ...(partMiB ? { partSize: partMiB * MiB } : {}),
    ...defined('concurrency', number(env, 'DBBACKUP_STORAGE_CONCURRENCY')),
    ...defined('requestTimeoutMs', number(env, 'DBBACKUP_STORAGE_TIMEOUT_MS')),
    ...(attempts || baseDelayMs !== undefined
      ? { retry: { ...(attempts ? { attempts } : {}), ...(baseDelayMs !== undefined ? { baseDelayMs } : {}) } }
      : {}),
    // Left unset when the variable is: a config target's own `insecure` then decides.
    ...defined('insecure', flag(env.DBBACKUP_STORAGE_INSECURE)),
  };
}

function defined<K extends string, V>(key: K, value: V | undefined | ''): { [P in K]?: V } {
  return value === undefined || value === '' ? {} : ({ [key]: value } as { [P in K]?: V });
}

function flag(value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  return /^(1|true|yes|on)$/i.test(value);
}

function number(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new DbBackupError('E_CONFIG', `${name} must be a non-negative number, not "${raw}".`);
  return n;
}
