import { Cron } from 'croner';
import { CRON_OPTIONS, type CronExpression } from './schedule-cron.js';

/**
 * When a cron expression fires in an IANA time zone: croner's calculation (Intl's tz data; pure,
 * no I/O). All instants are whole seconds.
 *
 * DST rules (croner's, those of Vixie cron, stated so tests can hold us to them):
 * - a wall time that does not exist (spring forward, e.g. 02:30 in Europe/Berlin on the last
 *   Sunday of March) fires once, at the instant the clocks jump (03:00) — unless the expression
 *   repeats within the hour (a `*` or a step in its hour, minute or second field), in which case
 *   the skipped times are simply skipped;
 * - a wall time that happens twice (fall back) fires once, at its first occurrence — unless the
 *   expression repeats within the hour as above, in which case it fires at both (real time).
 */

const crons = new Map<string, Cron>();

/** croner's calculator for `expr` in `zone` (cached: parsing once per expression and zone). */
function cron(expr: CronExpression, zone: string): Cron {
  const key = `${zone} ${expr.source}`;
  let c = crons.get(key);
  if (!c) {
    c = new Cron(expr.source, { ...CRON_OPTIONS, timezone: zone });
    crons.set(key, c);
  }
  return c;
}

/** True when Intl knows the IANA zone `zone` (e.g. 'Europe/Berlin', 'UTC'). */
export function isValidTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The first firing strictly after `after` (ms), or undefined if it never fires again. */
export function nextRun(expr: CronExpression, zone: string, after: number): number | undefined {
  return cron(expr, zone).nextRun(new Date(after))?.getTime();
}

/** The last firing in (`since`, `until`] (ms), or undefined if there is none. */
export function lastRunBetween(expr: CronExpression, zone: string, since: number, until: number): number | undefined {
  const [last] = cron(expr, zone).previousRuns(1, new Date(Math.floor(until / 1000) * 1000 + 1000));
  return last && last.getTime() > since ? last.getTime() : undefined;
}

/** The newest `limit` firings in (`since`, `until`], oldest first. */
export function lastRunsBetween(expr: CronExpression, zone: string, since: number, until: number, limit: number): number[] {
  if (limit <= 0) return [];
  const runs = cron(expr, zone).previousRuns(limit, new Date(Math.floor(until / 1000) * 1000 + 1000));
  return runs.map((d) => d.getTime()).filter((t) => t > since && t <= until).reverse();
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

/**
 * The longest wait between two firings over the `days` after `from` (ms), or undefined when it fires
 * fewer than twice then: how long a log must keep changes for the next run of a schedule.
 */
export function longestGap(expr: CronExpression, zone: string, from: number, days = 8): number | undefined {
  const { runs } = runsBetween(expr, zone, from, from + days * 86_400_000, 5000);
  let gap: number | undefined;
  for (let i = 1; i < runs.length; i++) gap = Math.max(gap ?? 0, runs[i]! - runs[i - 1]!);
  return gap;
}
