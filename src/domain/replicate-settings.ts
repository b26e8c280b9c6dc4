import { DbBackupError } from './errors.js';

/** `500ms`, `1s`, `2m`: how often `replicate` cuts a segment (E_USAGE naming `option` otherwise; 10 ms to 1 h). */
export function parseInterval(text: string, option: string): number {
  const ms = durationMs(text);
  if (!(ms >= 10 && ms <= 3_600_000)) throw new DbBackupError('E_USAGE', `${option} must be a duration from 10ms to 60m such as 500ms, 1s or 5m; got "${text}".`);
  return ms;
}

/** `64KiB`, `4MiB`, `16MB`: the size at which `replicate` cuts a segment early (64 KiB to 1 GiB). */
export function parseSegmentSize(text: string, option: string): number {
  const m = /^(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$/i.exec(text.trim());
  const mult: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };
  const bytes = m ? Number(m[1]) * mult[(m[2] ?? 'B').toLowerCase()]! : Number.NaN;
  if (!(bytes >= 64 * 1024 && bytes <= 1024 ** 3)) throw new DbBackupError('E_USAGE', `${option} must be a size from 64KiB to 1GiB such as 4MiB; got "${text}".`);
  return bytes;
}

/**
 * `30s,5m,1h` (the widths of the compaction levels after the first, each larger than the one
 * before) or `none`; returns every level's width, the segment interval first.
 */
export function parseCompaction(text: string, intervalMs: number, option: string): number[] {
  if (text.trim() === 'none') return [intervalMs];
  const levels = [intervalMs];
  for (const part of text.split(',')) {
    const ms = durationMs(part);
    if (!(ms >= 1000 && ms <= 86_400_000)) throw new DbBackupError('E_USAGE', `${option} takes durations from 1s to 24h such as 30s,5m,1h (or none); got "${text}".`);
    if (ms <= levels.at(-1)!) throw new DbBackupError('E_USAGE', `${option} levels must each be longer than the one before (and than --interval); got "${text}".`);
    levels.push(ms);
  }
  return levels;
}

function durationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/.exec(text.trim());
  return m ? Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h']) : Number.NaN;
}
