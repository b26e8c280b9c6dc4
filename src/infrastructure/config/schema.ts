import { z } from 'zod';
import type { PluginOptionType } from '../../application/ports/connector-plugin.js';
import { isEngine } from '../../domain/backup-kind.js';
import { scheduleTasks } from '../../domain/schedule.js';
import { suggest } from './errors-format.js';

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

/** A size in bytes: a whole number, or text like 512MiB, 1GiB, 2GB. */
const size = z.union([int(0), z.string().regex(/^\s*\d+\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$/i, 'expected a size like 1GiB or 500MB')]);
/** The CPU priority backup and replicate run at (`--nice`): a nice value 0–19, or auto (10 for a database on this host, else 0). */
const nice = z.union([z.literal('auto'), int(0, 19)]);

export const DefaultsSchema = z
  .object({
    compression: CompressionSchema,
    level: int(1, 19),
    parallel: int(1, 256),
    /** Past this much WAL (or log) a capture slot holds, a warning is logged and notified (default 1GiB). */
    'slot-warn-bytes': size,
    nice,
    /** Read the database at most this fast, in raw bytes per second (`backup --max-rate`). */
    'max-rate': size,
  })
  .partial()
  .strict();

/** The source keys an engine adds to the common ones (its plugin's option names), with their types. */
export type EngineKeys = ReadonlyMap<string, ReadonlyMap<string, PluginOptionType>>;

const SOURCE_COMMON = {
  engine: z.string().refine(isEngine, 'expected an engine name (lower-case letters, digits, -)'),
  url: z.string(),
  host: z.string(),
  port: int(1, 65535),
  user: z.string(),
  password: z.string(),
  database: z.string(),
  options: z.record(z.string(), z.unknown()),
  /** The server a scheduled `verify-restore` creates its scratch database on (`verify --deep --scratch URL`). */
  scratch: z.string(),
};
const num = z.preprocess((v) => (typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v), z.number());
const OPTION_VALUE: Record<PluginOptionType, z.ZodType> = { string: z.string(), number: num, boolean: bool, list: z.array(z.string()) };

/**
 * A source: the common keys, and those of its engine's plugin. With no engines given (a config
 * read on its own) any engine passes, with only the common keys.
 */
function sourceSchema(engines: EngineKeys, partial: boolean) {
  const base = z.object(SOURCE_COMMON).partial().catchall(z.unknown());
  return (partial ? base : base.required({ engine: true })).superRefine((src, ctx) => {
    // Runs even when the value is not an object at all (`when` below): that is reported already.
    if (typeof src !== 'object' || src === null || typeof src.engine !== 'string') return;
    if (engines.size && !engines.has(src.engine)) {
      const known = [...engines.keys()].map((e) => JSON.stringify(e)).join(', ');
      ctx.addIssue({ code: 'custom', path: ['engine'], message: `expected one of ${known}, got ${JSON.stringify(src.engine)} (other engines are plugins: npm install dbbackup-connector-${src.engine}, or list it under plugins:)` });
    }
    const own = engines.get(src.engine) ?? new Map<string, PluginOptionType>();
    const allowed = [...Object.keys(SOURCE_COMMON), ...own.keys()];
    for (const [key, value] of Object.entries(src)) {
      if (key in SOURCE_COMMON) continue;
      const type = own.get(key);
      if (!type) {
        const hint = suggest(key, allowed);
        const elsewhere = [...engines].filter(([, keys]) => keys.has(key)).map(([engine]) => engine);
        const why = elsewhere.length ? ` for ${src.engine} (${elsewhere.join(', ')} ${elsewhere.length > 1 ? 'have' : 'has'} it)` : '';
        ctx.addIssue({ code: 'custom', path: [key], message: `unknown key${why}${hint ? ` (did you mean "${hint}"?)` : ` (allowed: ${allowed.join(', ')})`}` });
      } else if (!OPTION_VALUE[type].safeParse(value).success) {
        ctx.addIssue({ code: 'custom', path: [key], message: `expected ${type === 'list' ? 'a list of strings' : `a ${type}`}` });
      }
    }
    // Also when other keys of the source are wrong: every problem is reported at once.
  }, { when: () => true }).transform((src) => {
    // The engine's keys in their declared types ("true" from ${VAR} interpolation → true).
    const own = typeof src.engine === 'string' ? engines.get(src.engine) : undefined;
    const out: Record<string, unknown> = { ...src };
    for (const [key, type] of own ?? []) if (out[key] !== undefined) out[key] = OPTION_VALUE[type].parse(out[key]);
    return out as typeof src;
  });
}

export const SourceSchema = sourceSchema(new Map(), false);

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
    /** Keep what a restore to any point of the last D needs (`prune --keep-pitr`). */
    'keep-pitr': duration,
  })
  .partial()
  .strict();

export const BackupPolicySchema = z
  .object({
    targets: z.array(z.string()).min(1),
    type: z.enum(['full', 'incremental', 'differential']),
    /** An incremental/differential with no usable parent takes a full instead (`backup --auto-full`). */
    'auto-full': bool,
    encrypt: bool,
    compression: CompressionSchema,
    level: int(1, 19),
    parallel: int(1, 256),
    tables: z.array(z.string()),
    'exclude-tables': z.array(z.string()),
    fanout: z.enum(['concurrent', 'sequential']),
    retention: RetentionSchema,
    'slot-warn-bytes': size,
    nice,
    'max-rate': size,
  })
  .partial()
  .strict();

export const ScheduleSchema = z
  .object({
    name: z.string().min(1),
    cron: z.string().min(1),
    task: z.enum(scheduleTasks),
    source: z.string().min(1),
    type: z.enum(['full', 'incremental', 'differential']).optional(),
    timezone: z.string().optional(),
    'catch-up': z.enum(['once', 'all', 'none']).optional(),
    enabled: bool.optional(),
  })
  .strict();

/** A source `schedule run` replicates continuously (`dbbackup replicate`), with its targets and keys from `backups:`. */
export const ReplicateSchema = z
  .object({
    source: z.string().min(1),
    /** A segment at least this often while changes wait: `1s` (default), `500ms`, `10s`. */
    interval: z.string().optional(),
    /** ...or once this much waits: `16MiB` (default). */
    'segment-size': z.string().optional(),
    /** Compaction levels after the first: `30s,5m,1h` (default) or `none`. */
    compaction: z.string().optional(),
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

/** Fleet mode (README "Fleet mode"): the Redis that holds the queue and the shared run history. */
export const QueueSchema = z
  .object({
    /** `redis://[user:password@]host:port/db` or `rediss://…` (TLS, verified). */
    url: z.string().regex(/^rediss?:\/\//, 'expected redis://host:port or rediss://host:port'),
    username: z.string().min(1),
    /** Prefer `${VAR}` or an `enc:` value; never put it in the URL of a shared file. */
    password: z.string().min(1),
    /** Key prefix, so one Redis can hold several fleets (default `dbbackup`). */
    prefix: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected letters, digits, ".", "_" or "-"'),
    /** A PEM file of the CA that signed the server's certificate (rediss://). */
    'ca-file': z.string().min(1),
    /** A worker silent for this long is dead: its job goes to another worker (default 60s). */
    'lock-timeout': z.string().regex(/^\d+\s*(ms|s|m|h)$/, 'expected a duration like 60s or 2m'),
    /** At most this many runs at once writing to a target, across the fleet: `{ s3: 4 }`. */
    'target-limits': z.record(z.string(), int(1, 100_000)),
  })
  .partial()
  .strict();

/** The config file's schemas, with the source keys of `engines` (their plugins' options). */
export function configSchemas(engines: EngineKeys = new Map()) {
  const SectionSchema = z
    .object({
      defaults: DefaultsSchema,
      encryption: EncryptionSchema,
      signing: SigningSchema,
      sources: z.record(z.string(), sourceSchema(engines, false)),
      targets: z.record(z.string(), TargetSchema),
      backups: z.record(z.string(), BackupPolicySchema),
      retention: RetentionSchema,
      schedules: z.array(ScheduleSchema),
      replicate: z.array(ReplicateSchema),
      notifications: z.array(NotificationSchema),
      logging: LoggingSchema,
      queue: QueueSchema,
    })
    .partial()
    .strict();

  /** A profile overrides key by key, so its sources and targets may give only what changes. */
  const ProfileSectionSchema = SectionSchema.extend({
    sources: z.record(z.string(), sourceSchema(engines, true)),
    targets: z.record(z.string(), TargetSchema.partial()),
  })
    .partial()
    .strict();

  const ConfigSchema = SectionSchema.extend({
    'data-dir': z.string().optional(),
    'default-profile': z.string().optional(),
    'master-key-file': z.string().optional(),
    /** Connector plugins to load: package names or paths (relative to the config file). */
    plugins: z.array(z.string().min(1)).optional(),
    profiles: z.record(z.string(), ProfileSectionSchema).optional(),
  }).strict();
  return { SectionSchema, ConfigSchema };
}

export const { SectionSchema, ConfigSchema } = configSchemas();

export type ConfigFile = z.infer<typeof ConfigSchema>;
export type ConfigSection = z.infer<typeof SectionSchema>;
export type SourceConfig = z.infer<typeof SourceSchema>;
export type QueueConfig = z.infer<typeof QueueSchema>;
export type TargetConfig = z.infer<typeof TargetSchema>;
export type BackupPolicy = z.infer<typeof BackupPolicySchema>;
export type NotificationConfig = z.infer<typeof NotificationSchema>;
export type ScheduleConfig = z.infer<typeof ScheduleSchema>;
export type ReplicateConfig = z.infer<typeof ReplicateSchema>;
export type RetentionConfig = z.infer<typeof RetentionSchema>;
export type EncryptionConfig = z.infer<typeof EncryptionSchema>;
export type SigningConfig = z.infer<typeof SigningSchema>;
