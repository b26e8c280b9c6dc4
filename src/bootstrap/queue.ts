import { readFileSync } from 'node:fs';
import type { RedisEndpoint } from '../adapters/queue/redis-commands.js';
import { DbBackupError } from '../domain/errors.js';
import type { QueueConfig } from '../infrastructure/config/schema.js';

/** Fleet mode's settings, resolved (secrets decrypted; the password is only ever in `endpoint`). */
export interface QueueRuntime {
  endpoint: RedisEndpoint;
  /** host:port, for messages and logs (never the URL: it may hold a password). */
  where: string;
  prefix: string;
  lockTimeoutMs: number;
  targetLimits: Record<string, number>;
  /** How long a call waits for an unreachable Redis before it fails (E_CONN_REFUSED). */
  outageMs: number;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** The queue settings (Settings.queue()) as the adapters need them. */
export function queueRuntime(q: QueueConfig & { url: string; origin: string }): QueueRuntime {
  const u = new URL(q.url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || 6379);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new DbBackupError('E_USAGE', `The queue URL (${q.origin}) names database "${u.pathname.slice(1)}"; use a number (redis://host:6379/0).`);
  let ca: Buffer | undefined;
  if (q['ca-file']) {
    try {
      ca = readFileSync(q['ca-file']);
    } catch (err) {
      throw new DbBackupError('E_CONFIG', `queue.ca-file: cannot read ${q['ca-file']} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`);
    }
  }
  const m = /^(\d+)\s*(ms|s|m|h)$/.exec(q['lock-timeout'] ?? '60s')!;
  return {
    endpoint: {
      host,
      port,
      username: q.username ?? (u.username ? decodeURIComponent(u.username) : undefined),
      password: q.password ?? (u.password ? decodeURIComponent(u.password) : undefined),
      db,
      tls: u.protocol === 'rediss:' ? { ...(ca ? { ca } : {}), rejectUnauthorized: true } : undefined,
    },
    where: `${host}:${port}`,
    prefix: q.prefix ?? 'dbbackup',
    lockTimeoutMs: Number(m[1]) * UNITS[m[2]!]!,
    targetLimits: q['target-limits'] ?? {},
    outageMs: 20_000,
  };
}
