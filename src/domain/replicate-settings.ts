import { DbBackupError } from './errors.js';

/** `500ms`, `1s`, `2m`: how often `replicate` cuts a segment (E_USAGE naming `option` otherwise; 10 ms to 1 h). */
export function parseInterval(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m)$/.exec(text.trim());
  const ms = m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms' | 's' | 'm'] : Number.NaN;
  if (!(ms >= 10 && ms <= 3_600_000)) throw new DbBackupError('E_USAGE', `${option} must be a duration from 10ms to 60m such as 500ms, 1s or 5m; got "${text}".`);
  return Math.round(ms);
}

/** `64KiB`, `4MiB`, `16MB`: the size at which `replicate` cuts a segment early (64 KiB to 1 GiB). */
export function parseSegmentSize(text: string, option: string): number {
  const m = /^(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$/i.exec(text.trim());
  const mult: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };
  const bytes = m ? Number(m[1]) * mult[(m[2] ?? 'B').toLowerCase()]! : Number.NaN;
  if (!(bytes >= 64 * 1024 && bytes <= 1024 ** 3)) throw new DbBackupError('E_USAGE', `${option} must be a size from 64KiB to 1GiB such as 4MiB; got "${text}".`);
  return bytes;
}
