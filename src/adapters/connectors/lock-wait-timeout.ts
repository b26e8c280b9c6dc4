import type { PluginOption } from '../../application/ports/connector-plugin.js';
import { DbBackupError } from '../../domain/errors.js';

/** How long a backup waits for its table locks unless told otherwise (either engine). */
export const DEFAULT_LOCK_WAIT_MS = 60_000;

/** `--lock-wait-timeout` (source key `lock-wait-timeout`), shared by the server engines' backups. */
export const LOCK_WAIT_OPTION = {
  name: 'lock-wait-timeout',
  type: 'string',
  commands: ['backup'],
  description:
    'How long a backup waits for a table that another session holds locked (PostgreSQL: ACCESS EXCLUSIVE, a migration or VACUUM FULL; MySQL/MariaDB: a metadata lock, LOCK TABLES … WRITE or an ALTER TABLE), e.g. 30s or 5m, before it fails with E_LOCK_TIMEOUT naming it; 0 waits as long as it takes (default 60s)',
} as const satisfies PluginOption;

/**
 * Reads `--lock-wait-timeout` (`30s`, `500ms`, `5m`, `1h`; `0` waits as long as it takes) into
 * milliseconds; undefined gives the default. Anything else is E_USAGE.
 */
export function lockWaitMs(value: unknown): number {
  if (value === undefined || value === null || value === '') return DEFAULT_LOCK_WAIT_MS;
  const m = /^\s*(\d+)\s*(ms|s|min|m|h)?\s*$/.exec(String(value));
  if (!m || (m[2] === undefined && m[1] !== '0')) {
    throw new DbBackupError('E_USAGE', `--lock-wait-timeout takes a duration such as 30s, 500ms, 5m or 1h (0 waits as long as it takes), not "${String(value)}".`);
  }
  const unit = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 }[m[2] ?? 'ms']!;
  return Number(m[1]) * unit;
}

/** `1s (--lock-wait-timeout)` / `300ms (--lock-wait-timeout)`: how long was waited, for messages. */
export function waitedText(waitMs: number): string {
  return `${waitMs >= 1000 && waitMs % 1000 === 0 ? `${waitMs / 1000}s` : `${waitMs}ms`} (--lock-wait-timeout)`;
}
