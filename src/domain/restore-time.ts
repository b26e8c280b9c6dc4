import { DbBackupError } from './errors.js';

const STAMP = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|z|[+-]\d{2}:\d{2})?$/;

/**
 * Parses `restore --at TIME`: `latest`; RFC 3339 with an offset (`2026-11-25T14:30:00Z`,
 * `…+01:00`; a space may replace the T, seconds may be left out), which names an instant and wins
 * over `timeZone`; or a local date-time without offset, read in the IANA `timeZone`
 * (`--time-zone Europe/Berlin`). Fractions below a millisecond are dropped (a restore reaches the
 * newest point at or before TIME, so rounding down is the safe way). A local time that does not
 * exist (skipped by a DST jump) or happens twice (repeated when clocks go back) is refused with
 * E_USAGE asking for an offset, rather than guessed. Everything else is E_USAGE naming the forms.
 */
export function parseRestoreTime(text: string, timeZone?: string): Date | 'latest' {
  const trimmed = text.trim();
  if (trimmed.toLowerCase() === 'latest') return 'latest';
  const m = STAMP.exec(trimmed);
  if (!m) throw usage(text);
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  const wall = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  const back = new Date(wall);
  if (y < 1 || back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || back.getUTCHours() !== h || back.getUTCMinutes() !== mi || back.getUTCSeconds() !== s) {
    throw new DbBackupError('E_USAGE', `"${text}" is not a real date and time (check the month, day, hours and seconds).`);
  }
  const offset = m[8];
  if (offset) {
    if (offset === 'Z' || offset === 'z') return new Date(wall);
    const sign = offset.startsWith('-') ? -1 : 1;
    const [oh, om] = [Number(offset.slice(1, 3)), Number(offset.slice(4, 6))];
    if (oh > 23 || om > 59) throw usage(text);
    return new Date(wall - sign * (oh * 60 + om) * 60e3);
  }
  if (timeZone === undefined) {
    throw new DbBackupError('E_USAGE', `"${text}" has no UTC offset; add one (\`Z\`, \`+01:00\`) or name the zone with --time-zone (e.g. Europe/Berlin).`);
  }
  return fromLocal(wall, text, timeZone);
}

function usage(text: string): DbBackupError {
  return new DbBackupError(
    'E_USAGE',
    `Cannot read the time "${text}"; use \`latest\`, RFC 3339 such as 2026-11-25T14:30:00Z or 2026-11-25T15:30:00+01:00, or a local time such as "2026-11-25 15:30" with --time-zone.`,
  );
}

/** The instant whose wall clock in `timeZone` reads `wall` (the local fields encoded as if UTC). */
function fromLocal(wall: number, text: string, timeZone: string): Date {
  const offsetAt = offsetFunction(timeZone);
  const candidates = new Set<number>();
  for (const offset of new Set([wall - 86400e3, wall, wall + 86400e3].map(offsetAt))) {
    if (offsetAt(wall - offset) === offset) candidates.add(wall - offset);
  }
  if (candidates.size === 1) return new Date([...candidates][0]!);
  if (candidates.size === 0) {
    throw new DbBackupError('E_USAGE', `"${text}" does not exist in ${timeZone} (the clocks skipped it); give the time with a UTC offset.`);
  }
  const offsets = [...candidates].sort((a, b) => a - b).map((t) => formatOffset(wall - t));
  throw new DbBackupError('E_USAGE', `"${text}" happens twice in ${timeZone} (at ${offsets.join(' and ')}); give the time with that offset.`);
}

/** A function giving the offset of `timeZone` from UTC, in ms, at an instant; E_USAGE for an unknown zone. */
function offsetFunction(timeZone: string): (t: number) => number {
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    throw new DbBackupError('E_USAGE', `Unknown time zone "${timeZone}"; use an IANA name such as UTC or Europe/Berlin.`);
  }
  return (t) => {
    const p: Record<string, number> = {};
    for (const part of format.formatToParts(new Date(t))) if (part.type !== 'literal') p[part.type] = Number(part.value);
    const whole = Math.floor(t / 1000) * 1000;
    return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) - whole;
  };
}

function formatOffset(ms: number): string {
  const minutes = Math.round(ms / 60e3);
  const sign = minutes < 0 ? '-' : '+';
  const a = Math.abs(minutes);
  return `${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}
