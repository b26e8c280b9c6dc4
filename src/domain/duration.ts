import { DbBackupError } from './errors.js';

/** A retention duration `<n><unit>`, unit s|m|h|d|w|y (m = minutes, y = calendar years): `30d`, `36h`. */
export interface Duration {
  n: number;
  unit: 's' | 'm' | 'h' | 'd' | 'w' | 'y';
}

const UNIT_MS: Record<Exclude<Duration['unit'], 'y'>, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** Parses `30d`; throws E_USAGE naming `option` (e.g. `keep-within`) for anything else. */
export function parseDuration(text: string, option: string): Duration {
  const m = /^(\d+)\s*(s|m|h|d|w|y)$/.exec(text.trim());
  if (!m) {
    throw new DbBackupError('E_USAGE', `${option} must be a duration like 30d, 12h, 2w or 1y (m means minutes); got "${text}".`);
  }
  return { n: Number(m[1]), unit: m[2] as Duration['unit'] };
}

/** `reference` − duration in ms since the epoch; years are calendar years in UTC (Feb 29 − 1y = Mar 1), like Go's AddDate. */
export function subtractDuration(reference: number, d: Duration): number {
  if (d.unit !== 'y') return reference - d.n * UNIT_MS[d.unit];
  const date = new Date(reference);
  date.setUTCFullYear(date.getUTCFullYear() - d.n);
  return date.getTime();
}
