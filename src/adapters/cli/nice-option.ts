import { hostname, networkInterfaces } from 'node:os';
import { Option } from 'clipanion';
import type { ConnectionTarget } from '../../application/ports/connection-target.js';
import { DbBackupError } from '../../domain/errors.js';
import type { Setting, Settings } from '../../infrastructure/config/settings.js';
import { LOWEST_PRIORITY, lowerPriority } from '../../infrastructure/process-priority.js';

/** The nice value `auto` picks for a database on this host. */
export const LOCAL_NICE = 10;

/** `--nice N|auto` of `backup` and `replicate`. */
export function niceOption() {
  return Option.String('--nice', {
    description:
      `Run this process at a lower CPU priority, nice 0-${LOWEST_PRIORITY} (0: unchanged). Default auto: ${LOCAL_NICE} when the database ` +
      'is on this host (a file, a socket, localhost or one of its addresses), so the backup yields the CPU to it; 0 otherwise. ' +
      'It lowers dbbackup only, never the database server (whose reads and log decoding for the backup run at its own priority)',
  });
}

/**
 * The nice value a backup or replicate of `target` runs at: `--nice`, else DBBACKUP_NICE, else the
 * config's `nice` (the source's `backups.<name>.nice`, then `defaults.nice`), else `auto`.
 */
export function resolveNice(settings: Settings, flag: string | undefined, target: ConnectionTarget, source?: string): Setting<number> {
  const path = source && settings.fileValue(`backups.${source}.nice`) !== undefined ? `backups.${source}.nice` : 'defaults.nice';
  const setting = settings.pick<string | number>({ name: '--nice', value: flag }, 'DBBACKUP_NICE', path, 'auto', (s) => s);
  const text = String(setting.value).trim();
  if (text === 'auto') return { value: isLocalTarget(target) ? LOCAL_NICE : 0, origin: setting.origin };
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > LOWEST_PRIORITY) {
    throw new DbBackupError(setting.origin.startsWith('flag') ? 'E_USAGE' : 'E_CONFIG', `nice (${setting.origin}) must be auto or a whole number from 0 to ${LOWEST_PRIORITY}; got "${text}".`);
  }
  return { value: n, origin: setting.origin };
}

/** Lowers this process to the resolved nice value (a no-op at 0); returns the value now in effect. */
export function applyNice(settings: Settings, flag: string | undefined, target: ConnectionTarget, source?: string): number {
  const { value } = resolveNice(settings, flag, target, source);
  return value > 0 ? lowerPriority(value) : value;
}

/**
 * True when the database runs on this machine: a file engine (no host or URL), a Unix socket, a
 * loopback address, `localhost`, this host's name or one of its interfaces' addresses. A URL that
 * names no host reaches the driver's default, which is local too.
 */
export function isLocalTarget(target: ConnectionTarget): boolean {
  const hosts: string[] = [];
  if (target.host !== undefined) hosts.push(target.host);
  if (target.url !== undefined) {
    try {
      const u = new URL(target.url);
      hosts.push(decodeURIComponent(u.hostname));
      const socket = u.searchParams.get('host') ?? u.searchParams.get('socket');
      if (socket) hosts.push(socket);
    } catch {
      return false;
    }
  }
  const socket = target.options?.['socket'];
  if (typeof socket === 'string' && socket !== '') return true;
  return hosts.every(isLocalHost);
}

function isLocalHost(raw: string): boolean {
  const host = raw.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === '' || host.startsWith('/') || host === 'localhost' || host.endsWith('.localhost') || host === '::1') return true;
  if (/^127\.\d+\.\d+\.\d+$/.test(host)) return true;
  if (host === hostname().toLowerCase()) return true;
  return Object.values(networkInterfaces()).some((list) => list?.some((a) => a.address.toLowerCase() === host));
}
