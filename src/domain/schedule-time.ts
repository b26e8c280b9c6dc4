import { type CronExpression, nextWallTime } from './schedule-cron.js';

/**
 * When a cron expression fires in an IANA time zone (Intl's tz data; pure, no I/O).
 *
 * DST rules (those of Vixie cron and systemd, stated so tests can hold us to them):
 * - a wall time that does not exist (spring forward, e.g. 02:30 in Europe/Berlin on the last
 *   Sunday of March) fires once, at the instant the clocks jump (03:00) — unless the hour field
 *   is `*`, in which case the skipped times are simply skipped (the job runs hourly anyway);
 * - a wall time that happens twice (fall back) fires once, at its first occurrence — unless the
 *   hour field is `*`, in which case it fires at both (the job follows real time).
 * All instants are whole seconds.
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** No zone shifts its clock by more than this at one transition. */
const MAX_SHIFT = 3 * HOUR;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** True when Intl knows the IANA zone `zone` (e.g. 'Europe/Berlin', 'UTC'). */
export function isValidTimeZone(zone: string): boolean {
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

/** The wall clock in `zone` at `instant` (ms), as zone-less ms (local fields written as UTC), whole seconds. */
export function wallClock(instant: number, zone: string): number {
  const p: Record<string, number> = {};
  for (const part of formatter(zone).formatToParts(new Date(instant))) {
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  }
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
}

function offsetAt(instant: number, zone: string): number {
  const whole = Math.floor(instant / 1000) * 1000;
  return wallClock(whole, zone) - whole;
}

/**
 * The instants whose wall clock in `zone` reads `wall`, earliest first: one normally, two in a
 * fall-back overlap, none in a spring-forward gap (then `gapEnd` is the instant the gap ends).
 */
export function instantsOf(wall: number, zone: string): { instants: number[]; gapEnd?: number } {
  const before = offsetAt(wall - DAY, zone);
  const after = offsetAt(wall + DAY, zone);
  const instants = [...new Set([wall - before, wall - after])].filter((i) => wallClock(i, zone) === wall).sort((a, b) => a - b);
  if (instants.length > 0) return { instants };
  // A gap: the first instant whose wall clock is at or past `wall`, between the two offsets.
  let lo = wall - Math.max(before, after);
  let hi = wall - Math.min(before, after);
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (wallClock(mid, zone) >= wall) hi = mid;
    else lo = mid;
  }
  return { instants: [], gapEnd: hi };
}

/** The instants at which the wall time `wall` fires, by the DST rules above. */
function firings(expr: CronExpression, wall: number, zone: string): number[] {
  const { instants, gapEnd } = instantsOf(wall, zone);
  if (instants.length === 0) return expr.everyHour || gapEnd === undefined ? [] : [gapEnd];
  return expr.everyHour ? instants : [instants[0]!];
}

/** The first firing strictly after `after` (ms), or undefined if it never fires again. */
export function nextRun(expr: CronExpression, zone: string, after: number): number | undefined {
  const from = Math.floor(after / 1000) * 1000;
  // Wall time only goes backwards at a fall-back; elsewhere the first matching wall time after ours fires first.
  const ahead = firstFiring(expr, zone, wallClock(from, zone) + 1000, (i) => i > from);
  if (offsetAt(from, zone) <= offsetAt(from + MAX_SHIFT, zone)) return ahead;
  // A fall-back comes within MAX_SHIFT: after it, the repeated wall times (earlier than ours) fire again.
  const fallBack = transitionAfter(from, zone);
  const repeated = firstFiring(expr, zone, wallClock(fallBack, zone), (i) => i >= fallBack);
  if (ahead === undefined || repeated === undefined) return ahead ?? repeated;
  return Math.min(ahead, repeated);
}

/** Scanning wall times from `wall` on, the first firing that passes `ok`. */
function firstFiring(expr: CronExpression, zone: string, wall: number, ok: (instant: number) => boolean): number | undefined {
  for (let w = wall; ; ) {
    const next = nextWallTime(expr, w);
    if (next === undefined) return undefined;
    const hit = firings(expr, next, zone).find(ok);
    if (hit !== undefined) return hit;
    w = next + 1000;
  }
}

/** The first instant after `from` (within MAX_SHIFT) whose UTC offset differs from `from`'s. */
function transitionAfter(from: number, zone: string): number {
  const offset = offsetAt(from, zone);
  let lo = from;
  let hi = from + MAX_SHIFT;
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (offsetAt(mid, zone) === offset) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * The last firing in (`since`, `until`] (ms), or undefined if there is none. Looks back in
 * growing windows, so it stays cheap for an every-second schedule and a yearly one alike.
 */
export function lastRunBetween(expr: CronExpression, zone: string, since: number, until: number): number | undefined {
  for (const window of [2_000, 61_000, HOUR + 1000, DAY + HOUR, 32 * DAY, 367 * DAY, 9 * 367 * DAY]) {
    const start = Math.max(since, until - window);
    let last: number | undefined;
    for (let t = nextRun(expr, zone, start); t !== undefined && t <= until; t = nextRun(expr, zone, t)) last = t;
    if (last !== undefined || start === since) return last;
  }
  return undefined;
}

/** The firings in (`since`, `until`], oldest first, at most `limit`; `more` says some were left out. */
export function runsBetween(expr: CronExpression, zone: string, since: number, until: number, limit: number): { runs: number[]; more: boolean } {
  const runs: number[] = [];
  for (let t = nextRun(expr, zone, since); t !== undefined && t <= until; t = nextRun(expr, zone, t)) {
    if (runs.length === limit) return { runs, more: true };
    runs.push(t);
  }
  return { runs, more: false };
}
