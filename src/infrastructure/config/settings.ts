import { availableParallelism } from 'node:os';
import type { ConnectionTarget } from '../../application/ports/connection-target.js';
import { optionKey } from '../../application/ports/connector-plugin.js';
import { DbBackupError } from '../../domain/errors.js';
import { registerSecret } from '../redact.js';
import type { LoadedConfig } from './load-config.js';
import type { BackupPolicy, EncryptionConfig, NotificationConfig, RetentionConfig, SigningConfig, SourceConfig, TargetConfig } from './schema.js';
import type { QueueConfig } from './schema.js';
import { decryptSecret, isEncrypted, isUnbound, requireMasterKey } from './secrets.js';

export type Origin = `flag ${string}` | `env ${string}` | string | 'default';

export interface Setting<T> {
  value: T;
  origin: Origin;
}

/** Keys whose values are secrets in sources, targets and notifications. */
export const SECRET_FIELDS = new Set(['password', 'passphrase', 'secret', 'secret-access-key', 'session-token', 'account-key', 'sas-token', 'connection-string']);

export interface ResolvedSource {
  name: string;
  target: ConnectionTarget;
  policy: BackupPolicy;
  /** Repository URLs of the policy's targets, in order. */
  repositories: { name: string; url: string; options: TargetConfig }[];
  retention: RetentionConfig | undefined;
  /** The server `verify --deep` (and a scheduled verify-restore) makes its scratch database on (`scratch:`); its password registered as a secret. */
  scratch?: string;
}

/**
 * Answers "what is the value of X, and where did it come from" with the precedence
 * flag > DBBACKUP_* environment > config file > built-in default.
 */
export class Settings {
  private readonly warned = new Set<string>();

  constructor(
    readonly config: LoadedConfig,
    private readonly env: NodeJS.ProcessEnv,
    /** Where warnings about the config go (unbound enc: values); stderr, so --quiet and --json keep them. */
    private readonly warn: (text: string) => void = (text) => void process.stderr.write(text),
  ) {}

  pick<T>(flag: { name: string; value: T | undefined }, envName: string | undefined, filePath: string | undefined, fallback: T, parse: (s: string) => T): Setting<T> {
    if (flag.value !== undefined) return { value: flag.value, origin: `flag ${flag.name}` };
    if (envName && this.env[envName] !== undefined && this.env[envName] !== '') return { value: parse(this.env[envName]!), origin: `env ${envName}` };
    if (filePath) {
      const v = this.fileValue(filePath);
      if (v !== undefined) return { value: v as T, origin: this.config.origins.get(filePath) ?? this.config.path ?? 'config' };
    }
    return { value: fallback, origin: 'default' };
  }

  /** A value from the merged config section (or the file's top level for data-dir etc.). */
  fileValue(path: string): unknown {
    const top = ['data-dir', 'default-profile', 'master-key-file'];
    let v: unknown = top.includes(path) ? this.config.file : this.config.section;
    for (const k of path.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
    return v;
  }

  compression(flag: string | undefined, source?: string): Setting<'zstd' | 'gzip' | 'none'> {
    const path = source && this.fileValue(`backups.${source}.compression`) !== undefined ? `backups.${source}.compression` : 'defaults.compression';
    return this.pick({ name: '--compress', value: flag as 'zstd' | undefined }, 'DBBACKUP_COMPRESSION', path, 'zstd', (s) => {
      if (!['zstd', 'gzip', 'none'].includes(s)) throw new DbBackupError('E_CONFIG', `DBBACKUP_COMPRESSION must be zstd, gzip or none; got "${s}".`);
      return s as 'zstd';
    });
  }

  level(flag: number | undefined, source?: string): Setting<number | undefined> {
    const path = source && this.fileValue(`backups.${source}.level`) !== undefined ? `backups.${source}.level` : 'defaults.level';
    return this.pick<number | undefined>({ name: '--level', value: flag }, 'DBBACKUP_LEVEL', path, undefined, (s) => intFromEnv('DBBACKUP_LEVEL', s));
  }

  parallel(flag: number | undefined, source?: string): Setting<number> {
    const path = source && this.fileValue(`backups.${source}.parallel`) !== undefined ? `backups.${source}.parallel` : 'defaults.parallel';
    return this.pick({ name: '--parallel', value: flag }, 'DBBACKUP_PARALLEL', path, availableParallelism(), (s) => intFromEnv('DBBACKUP_PARALLEL', s));
  }

  /**
   * How much log a capture slot may hold before a warning (log, notification, metric): the
   * source's `slot-warn-bytes`, else `defaults.slot-warn-bytes`, DBBACKUP_SLOT_WARN_BYTES, 1 GiB.
   */
  slotWarnBytes(source?: string): Setting<number> {
    const path = source && this.fileValue(`backups.${source}.slot-warn-bytes`) !== undefined ? `backups.${source}.slot-warn-bytes` : 'defaults.slot-warn-bytes';
    const setting = this.pick<number | string>({ name: 'slot-warn-bytes', value: undefined }, 'DBBACKUP_SLOT_WARN_BYTES', path, 1024 ** 3, (s) => s);
    return { ...setting, value: sizeValue(setting.value, setting.origin) };
  }

  /**
   * How fast a backup may read the database, in raw bytes per second (`--max-rate 50MB`, the source's
   * `max-rate`, `defaults.max-rate`, DBBACKUP_MAX_RATE); undefined (the default) or 0: unlimited.
   */
  maxRate(flag: string | undefined, source?: string): Setting<number | undefined> {
    const path = source && this.fileValue(`backups.${source}.max-rate`) !== undefined ? `backups.${source}.max-rate` : 'defaults.max-rate';
    const setting = this.pick<number | string | undefined>({ name: '--max-rate', value: flag }, 'DBBACKUP_MAX_RATE', path, undefined, (s) => s);
    const value = setting.value === undefined ? undefined : sizeValue(setting.value, setting.origin, 'max-rate');
    return { value: value ? value : undefined, origin: setting.origin };
  }

  /** Everything the config says about source `name`, secrets decrypted (and registered for redaction). */
  source(name: string): ResolvedSource {
    const sources = this.config.section.sources ?? {};
    const src = sources[name];
    if (!src) {
      const names = Object.keys(sources);
      throw new DbBackupError(
        'E_CONFIG',
        `No source "${name}" in ${this.config.path ?? 'the configuration (no config file found; pass --config)'}` +
          `${this.config.profile ? ` (profile ${this.config.profile})` : ''}${names.length ? `; sources: ${names.join(', ')}` : ''}.`,
      );
    }
    const policy = this.config.section.backups?.[name] ?? {};
    const targets = this.config.section.targets ?? {};
    // With no backups.<name>.targets, a config holding exactly one target means that one.
    const only = Object.keys(targets).length === 1 ? Object.keys(targets) : [];
    const repositories = (policy.targets ?? only).map((t) => {
      const target = targets[t];
      if (!target) throw new DbBackupError('E_CONFIG', `backups.${name}.targets names "${t}", which is not under targets.`);
      return { name: t, url: target.url, options: this.decryptFields(target, `targets.${t}`) as TargetConfig };
    });
    const s = this.decryptFields(src, `sources.${name}`) as SourceConfig;
    return {
      name,
      target: sourceTarget(s),
      policy,
      repositories,
      retention: policy.retention ?? this.config.section.retention,
      ...(s.scratch ? { scratch: withSecretPassword(s.scratch) } : {}),
    };
  }

  /** Every configured target, secrets decrypted (only those with an enc: value need the master key). */
  targets(): TargetConfig[] {
    return Object.entries(this.config.section.targets ?? {}).map(([name, t]) => this.decryptFields(t, `targets.${name}`) as TargetConfig);
  }

  /** The config's `encryption:` section, secrets decrypted. */
  encryption(): EncryptionConfig {
    return this.decryptFields(this.config.section.encryption ?? {}, 'encryption') as EncryptionConfig;
  }

  /**
   * Fleet mode's queue: `--queue` > DBBACKUP_QUEUE > `queue.url`, the password from
   * DBBACKUP_QUEUE_PASSWORD or `queue.password` (`enc:`/`${VAR}`), else the URL's; undefined when
   * none is set. Every secret is registered for redaction, the URL's password included.
   */
  queue(flag?: string): (QueueConfig & { url: string; origin: string }) | undefined {
    const file = this.decryptFields(this.config.section.queue ?? {}, 'queue') as QueueConfig;
    const url = this.pick<string | undefined>({ name: '--queue', value: flag }, 'DBBACKUP_QUEUE', 'queue.url', undefined, String);
    if (!url.value) return undefined;
    if (!/^rediss?:\/\//.test(url.value)) throw new DbBackupError('E_USAGE', `The queue URL (${url.origin}) must start with redis:// or rediss://.`);
    try {
      const inUrl = decodeURIComponent(new URL(url.value).password);
      if (inUrl) registerSecret(inUrl);
    } catch {
      throw new DbBackupError('E_USAGE', `The queue URL (${url.origin}) is not a valid URL.`);
    }
    registerSecret(url.value);
    const password = this.env.DBBACKUP_QUEUE_PASSWORD || file.password;
    if (password) registerSecret(password);
    return { ...file, url: url.value, origin: url.origin, ...(password ? { password } : {}) };
  }

  /** The config's `signing:` section (file paths only; the keys are read where they are used). */
  signing(): SigningConfig {
    return this.config.section.signing ?? {};
  }

  /** Notification channels, secrets decrypted; the URL, the signing secret and every header value are registered for redaction. */
  notifications(): NotificationConfig[] {
    return (this.config.section.notifications ?? []).map((n, i) => {
      const out = this.decryptFields(n, `notifications.${i}`) as NotificationConfig;
      if (!n.headers) return out;
      const headers = this.decryptFields(n.headers, `notifications.${i}.headers`, true);
      return { ...out, headers };
    });
  }

  /**
   * Decrypts the enc: values among `obj`'s strings, each bound to `where.<key>`, and registers for
   * redaction every secret field, notification URL and decrypted value (`allSecret`: every value).
   */
  private decryptFields<T extends object>(obj: T, where: string, allSecret = false): T {
    const out = { ...obj } as Record<string, unknown>;
    for (const [k, v] of Object.entries(out)) {
      if (typeof v !== 'string') continue;
      const path = `${where}.${k}`;
      if (isEncrypted(v)) {
        const key = requireMasterKey(this.env, this.fileValue('master-key-file') as string | undefined, path);
        out[k] = decryptSecret(v, key, path);
        registerSecret(out[k] as string);
        if (isUnbound(v)) this.warnUnbound(path);
      }
      if (allSecret || SECRET_FIELDS.has(k) || (k === 'url' && where.startsWith('notifications'))) registerSecret(out[k] as string);
    }
    return out as T;
  }

  private warnUnbound(path: string): void {
    if (this.warned.has(path)) return;
    this.warned.add(path);
    this.warn(
      `warning: ${path} holds an enc:v1: value, which is not bound to its field (it would open anywhere in the config). ` +
        `Re-encrypt it: dbbackup secret encrypt --field ${path}\n`,
    );
  }
}

/** A configured source as a connection target: its engine's own keys go into `options` (`ssl-mode` → `sslMode`). */
/** A server URL whose password (if any) is registered for redaction. */
function withSecretPassword(url: string): string {
  try {
    const password = decodeURIComponent(new URL(url).password);
    if (password) registerSecret(password);
  } catch {
    // Not a URL: the connector says so when it is used.
  }
  return url;
}

function sourceTarget(s: SourceConfig): ConnectionTarget {
  const { engine, url, host, port, user, password, database, options, scratch: _scratch, ...own } = s;
  const merged = { ...Object.fromEntries(Object.entries(own).map(([k, v]) => [optionKey(k), v])), ...options };
  const target: ConnectionTarget = { engine: engine!, url, host, port, user, password, database };
  return Object.keys(merged).length || options ? { ...target, options: merged } : { ...target, options };
}

function intFromEnv(name: string, s: string): number {
  if (!/^\d+$/.test(s.trim())) throw new DbBackupError('E_CONFIG', `${name} must be a whole number; got "${s}".`);
  return Number(s);
}

/** A size setting (a number of bytes, or text like 1GiB / 500MB) in bytes. */
function sizeValue(value: number | string, origin: string, name = 'slot-warn-bytes'): number {
  if (typeof value === 'number') return value;
  const m = /^\s*(\d+)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$/i.exec(value);
  if (!m) throw new DbBackupError(origin.startsWith('flag') ? 'E_USAGE' : 'E_CONFIG', `${name} (${origin}) must be a size like 1GiB or 500MB; got "${value}".`);
  const mult: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };
  return Number(m[1]) * mult[(m[2] ?? 'b').toLowerCase()]!;
}
