import type { PluginOption } from '../../application/ports/connector-plugin.js';
import { DbBackupError } from '../../domain/errors.js';

/** How long a database connection may pass no byte while an answer is due, unless told otherwise. */
export const DEFAULT_IO_TIMEOUT_MS = 60_000;

/** TCP keepalive's first probe after this much silence (the OS then probes until it gives up). */
export const KEEPALIVE_IDLE_MS = 30_000;

/** `--io-timeout` (source key `io-timeout`), shared by the server engines. */
export const IO_TIMEOUT_OPTION = {
  name: 'io-timeout',
  type: 'string',
  description:
    'How long a database connection may pass no byte while an answer is due (a silent network partition) before the run fails with E_NETWORK_TIMEOUT naming host:port, e.g. 30s or 5m; 0 turns it off (default 60s, or DBBACKUP_IO_TIMEOUT). Before the first byte of an answer, 10 times as long is allowed; index builds and lock waits, where the server works silently, are left to TCP keepalive.',
} as const satisfies PluginOption;

/**
 * Reads `--io-timeout` (then DBBACKUP_IO_TIMEOUT): `30s`, `500ms`, `5m`, `1h`, `0` (off) into
 * milliseconds; unset gives the default. Anything else is E_USAGE.
 */
export function ioTimeoutMs(value: unknown, env: NodeJS.ProcessEnv = process.env): number {
  const given = value === undefined || value === null || value === '' ? env.DBBACKUP_IO_TIMEOUT : value;
  if (given === undefined || given === '') return DEFAULT_IO_TIMEOUT_MS;
  const m = /^\s*(\d+)\s*(ms|s|min|m|h)?\s*$/.exec(String(given));
  if (!m || (m[2] === undefined && m[1] !== '0')) {
    throw new DbBackupError('E_USAGE', `--io-timeout (or DBBACKUP_IO_TIMEOUT) takes a duration such as 30s, 500ms or 5m (0 turns it off), not "${String(given)}".`);
  }
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 }[m[2] ?? 'ms']!;
}

function duration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/**
 * E_NETWORK_TIMEOUT: the connection to `engine` at `where` (host:port) passed no byte for
 * `timeoutMs` while `what` waited for an answer, and was not closed either.
 */
export function networkTimeout(engine: string, where: string, what: string, timeoutMs: number): DbBackupError {
  return new DbBackupError(
    'E_NETWORK_TIMEOUT',
    `The connection to the ${engine} server at ${where} passed no byte for ${duration(timeoutMs)} (--io-timeout) while ${what}, and was not closed either: ` +
      'the network between here and the server stopped passing data (a partition, a dropped firewall or NAT entry) or the server froze. Check the network and the server, then run again ' +
      '(if the server was only working on a long statement, raise --io-timeout, or 0 to turn it off).',
    { details: { where, timeoutMs } },
  );
}
