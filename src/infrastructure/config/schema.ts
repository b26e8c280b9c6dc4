import { z } from 'zod';
import { engines } from '../../domain/backup-kind.js';

/**
 * The config file's shape (DESIGN.md §6). Multi-word keys are kebab-case. Top-level sections are
 * shared by every profile; a profile's sections override them key by key.
 */

/** A whole number, also when it arrived as a string from `${VAR}` interpolation ("5432"). */
const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess((v) => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v), z.number().int().min(min).max(max));
const bool = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());
const duration = z.string().regex(/^\d+\s*(s|m|h|d|w|y)$/, 'expected a duration like 30d, 12h, 90m');

export const CompressionSchema = z.enum(['zstd', 'gzip', 'none']);

export const DefaultsSchema = z
  .object({ compression: CompressionSchema, level: int(1, 19), parallel: int(1, 256) })
  .partial()
  .strict();

export const SourceSchema = z
  .object({
    engine: z.enum(engines),
    url: z.string(),
    host: z.string(),
    port: int(1, 65535),
    user: z.string(),
    password: z.string(),
    database: z.string(),
    socket: z.string(),
    sslmode: z.string(),
    options: z.record(z.string(), z.unknown()),
  })
  .partial()
  .required({ engine: true })
  .strict();

export const TargetSchema = z
  .object({
    url: z.string(),
    region: z.string(),
    endpoint: z.string(),
    'path-style': bool,
    'checksum-mode': z.enum(['WHEN_SUPPORTED', 'WHEN_REQUIRED']),
    'storage-class': z.string(),
    sse: z.string(),
    'kms-key-id': z.string(),
    'access-key-id': z.string(),
    'secret-access-key': z.string(),
    'session-token': z.string(),
    'key-file': z.string(),
    'connection-string': z.string(),
    'account-key': z.string(),
    'sas-token': z.string(),
    insecure: bool,
  })
  .partial()
  .required({ url: true })
  .strict();

export const RetentionSchema = z
  .object({
    'keep-last': int(0),
    'keep-hourly': int(0),
    'keep-daily': int(0),
    'keep-weekly': int(0),
    'keep-monthly': int(0),
    'keep-yearly': int(0),
    'keep-within': duration,
  })
  .partial()
  .strict();

export const BackupPolicySchema = z
  .object({
    targets: z.array(z.string()).min(1),
    type: z.enum(['full', 'incremental', 'differential']),
    encrypt: bool,
    compression: CompressionSchema,
    level: int(1, 19),
    parallel: int(1, 256),
    tables: z.array(z.string()),
    'exclude-tables': z.array(z.string()),
    fanout: z.enum(['concurrent', 'sequential']),
    retention: RetentionSchema,
  })
  .partial()
  .strict();

export const ScheduleSchema = z
  .object({
    name: z.string().min(1),
    cron: z.string().min(1),
    task: z.enum(['backup', 'prune', 'verify']),
    source: z.string().min(1),
    type: z.enum(['full', 'incremental', 'differential']).optional(),
    timezone: z.string().optional(),
    'catch-up': z.enum(['once', 'all', 'none']).optional(),
    enabled: bool.optional(),
  })
  .strict();

export const NotificationSchema = z
  .object({
    type: z.enum(['slack', 'webhook']),
    url: z.string().min(1),
    on: z.array(z.enum(['success', 'failure', 'partial'])).min(1).optional(),
    secret: z.string().optional(),
    headers: z.record(z.string(), z.string()).optional(),
    sources: z.array(z.string()).optional(),
    timeout: duration.optional(),
    retries: int(0, 10).optional(),
    throttle: duration.optional(),
  })
  .strict();

export const LoggingSchema = z
  .object({
    level: z.enum(['debug', 'info', 'warn', 'error']),
    file: z.union([z.string(), z.literal(false)]),
    'max-size': z.string().regex(/^\d+\s*(B|KB|MB|GB|KiB|MiB|GiB)?$/i, 'expected a size like 10MB'),
    'max-files': int(1, 1000),
    'max-age': duration,
  })
  .partial()
  .strict();

export const EncryptionSchema = z
  .object({
    passphrase: z.string().min(1),
    'key-id': z.string().min(1),
    'key-file': z.string().min(1),
    recipient: z.string().min(1),
    identity: z.string().min(1),
  })
  .partial()
  .strict();

/** Manifest signing (README "Security model"): the private key where backups run, the public one where they are restored. */
export const SigningSchema = z
  .object({
    key: z.string().min(1),
    'verify-key': z.string().min(1),
    require: z.boolean(),
  })
  .partial()
  .strict();

export const SectionSchema = z
  .object({
    defaults: DefaultsSchema,
    encryption: EncryptionSchema,
    signing: SigningSchema,
    sources: z.record(z.string(), SourceSchema),
    targets: z.record(z.string(), TargetSchema),
    backups: z.record(z.string(), BackupPolicySchema),
    retention: RetentionSchema,
    schedules: z.array(ScheduleSchema),
    notifications: z.array(NotificationSchema),
    logging: LoggingSchema,
  })
  .partial()
  .strict();

/** A profile overrides key by key, so its sources and targets may give only what changes. */
export const ProfileSectionSchema = SectionSchema.extend({
  sources: z.record(z.string(), SourceSchema.partial()),
  targets: z.record(z.string(), TargetSchema.partial()),
})
  .partial()
  .strict();

export const ConfigSchema = SectionSchema.extend({
  'data-dir': z.string().optional(),
  'default-profile': z.string().optional(),
  'master-key-file': z.string().optional(),
  profiles: z.record(z.string(), ProfileSectionSchema).optional(),
}).strict();

export type ConfigFile = z.infer<typeof ConfigSchema>;
export type ConfigSection = z.infer<typeof SectionSchema>;
export type SourceConfig = z.infer<typeof SourceSchema>;
export type TargetConfig = z.infer<typeof TargetSchema>;
export type BackupPolicy = z.infer<typeof BackupPolicySchema>;
export type NotificationConfig = z.infer<typeof NotificationSchema>;
export type ScheduleConfig = z.infer<typeof ScheduleSchema>;
export type RetentionConfig = z.infer<typeof RetentionSchema>;
export type EncryptionConfig = z.infer<typeof EncryptionSchema>;
export type SigningConfig = z.infer<typeof SigningSchema>;
