import { availableParallelism } from 'node:os';
import type { ConnectionTarget } from '../../application/ports/database-connector.js';
import { DbBackupError } from '../../domain/errors.js';
import { registerSecret } from '../redact.js';
import type { LoadedConfig } from './load-config.js';
import type { BackupPolicy, EncryptionConfig, NotificationConfig, RetentionConfig, SourceConfig, TargetConfig } from './schema.js';
import { decryptSecret, isEncrypted, requireMasterKey } from './secrets.js';

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
}

/**
 * Answers "what is the value of X, and where did it come from" with the precedence
 * flag > DBBACKUP_* environment > config file > built-in default.
 */
export class Settings {
  constructor(
    readonly config: LoadedConfig,
    private readonly env: NodeJS.ProcessEnv,
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
    const repositories = (policy.targets ?? []).map((t) => {
      const target = targets[t];
      if (!target) throw new DbBackupError('E_CONFIG', `backups.${name}.targets names "${t}", which is not under targets.`);
      return { name: t, url: target.url, options: this.decryptFields(target, `targets.${t}`) as TargetConfig };
    });
    const s = this.decryptFields(src, `sources.${name}`) as SourceConfig;
    return {
      name,
      target: { engine: s.engine, url: s.url, host: s.host, port: s.port, user: s.user, password: s.password, database: s.database, options: s.options },
      policy,
      repositories,
      retention: policy.retention ?? this.config.section.retention,
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

  notifications(): NotificationConfig[] {
    return (this.config.section.notifications ?? []).map((n, i) => this.decryptFields(n, `notifications.${i}`) as NotificationConfig);
  }

  private decryptFields<T extends object>(obj: T, where: string): T {
    const out = { ...obj } as Record<string, unknown>;
    for (const [k, v] of Object.entries(out)) {
      if (typeof v !== 'string') continue;
      if (isEncrypted(v)) {
        const key = requireMasterKey(this.env, this.fileValue('master-key-file') as string | undefined, `${where}.${k}`);
        out[k] = decryptSecret(v, key, `${where}.${k}`);
      }
      if (SECRET_FIELDS.has(k) || (k === 'url' && where.startsWith('notifications'))) registerSecret(out[k] as string);
    }
    return out as T;
  }
}

function intFromEnv(name: string, s: string): number {
  if (!/^\d+$/.test(s.trim())) throw new DbBackupError('E_CONFIG', `${name} must be a whole number; got "${s}".`);
  return Number(s);
}
