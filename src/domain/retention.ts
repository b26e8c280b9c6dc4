import type { BackupKind } from './backup-kind.js';
import { parseDuration, subtractDuration } from './duration.js';
import { DbBackupError } from './errors.js';
import { type PitrCandidate, planPitrKeep } from './retention-pitr.js';

/**
 * Retention (GFS) selection with restic's `forget` semantics (internal/restic/snapshot_policy.go):
 *
 * - Backups are walked newest first. `keep-last N` keeps the N newest. `keep-hourly/daily/weekly/
 *   monthly/yearly N` each keep the newest backup of each of the N most recent periods that HAVE a
 *   backup (empty periods are not counted). Weeks are ISO 8601 weeks (Monday first, `2026-W47`).
 * - Rules are independent and their union is kept. As in restic ≥ 0.17, when a rule still has
 *   budget left after the newest backup of every period, the oldest backup is kept too ("oldest"),
 *   which maximises the history a young repository keeps.
 * - `keep-within D` keeps every backup started strictly after (newest − D), where "newest" is the
 *   newest backup that is not in the future of the clock — relative to the newest BACKUP, not to
 *   the clock, so a source that stopped backing up does not lose its last backups to time passing.
 * - Periods are calendar periods in UTC unless the policy names an IANA time zone.
 *
 * Chain awareness (dbbackup's addition): a kept or pinned incremental/differential keeps every
 * backup its restore needs (`base of <id>`); pinned backups are never deleted.
 *
 * `keep-pitr D` (dbbackup's addition, see retention-pitr.ts) keeps what a restore to any instant
 * of the last D — counted back from the clock — needs (`pitr D`). Continuous log segments count as
 * backups for the other rules, and a kept one keeps its whole chain: use keep-pitr for them.
 */
export interface RetentionPolicy {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  /** A duration `<n><unit>`, unit s|m|h|d|w|y (m = minutes, y = calendar years), e.g. `30d`. */
  keepWithin?: string;
  /** A duration like keepWithin: every point of the last D stays restorable. */
  keepPitr?: string;
  /** IANA time zone for the calendar periods (`Europe/Berlin`); UTC when omitted. */
  timeZone?: string;
}

export interface RetentionCandidate extends PitrCandidate {
  id: string;
  kind: BackupKind;
  /** Incremental: the previous backup; differential: its full; full: null. */
  parent: string | null;
  /** When the backup started (ISO 8601); the time restic's rules look at. */
  startedAt: string;
  pinned?: boolean;
}

export interface RetentionDecision extends RetentionCandidate {
  action: 'keep' | 'delete';
  /**
   * Why it is kept: `last`, `hourly 2026-11-20T14`, `daily 2026-11-20`, `weekly 2026-W47`,
   * `monthly 2026-11`, `yearly 2026` (suffixed ` (oldest)` for restic's oldest rule),
   * `within 30d`, `pitr 7d`, `pinned`, `base of <id>`. Empty when deleted.
   */
  reasons: string[];
}

export interface RetentionPlan {
  /** One decision per candidate, oldest first. */
  decisions: RetentionDecision[];
  /** The newest backup time not in the future: what keep-within counts back from. */
  reference?: string;
  /** Chain problems found while protecting bases (a kept backup whose parent is missing, …). */
  warnings: string[];
}

type PeriodRule = 'last' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';
const COUNT_FIELDS: [PeriodRule, keyof RetentionPolicy][] = [
  ['last', 'keepLast'],
  ['hourly', 'keepHourly'],
  ['daily', 'keepDaily'],
  ['weekly', 'keepWeekly'],
  ['monthly', 'keepMonthly'],
  ['yearly', 'keepYearly'],
];

/** True when the policy would keep everything (restic refuses to act on an empty policy too). */
export function isEmptyPolicy(policy: RetentionPolicy): boolean {
  return COUNT_FIELDS.every(([, f]) => !policy[f]) && !policy.keepWithin && !policy.keepPitr;
}

/** Maps the config's kebab-case retention section (`keep-daily: 7`) to a policy. */
export function policyFromConfig(raw: Record<string, unknown> | undefined, timeZone?: string): RetentionPolicy {
  const r = raw ?? {};
  const num = (k: string) => (r[k] === undefined ? undefined : Number(r[k]));
  const policy: RetentionPolicy = {
    keepLast: num('keep-last'),
    keepHourly: num('keep-hourly'),
    keepDaily: num('keep-daily'),
    keepWeekly: num('keep-weekly'),
    keepMonthly: num('keep-monthly'),
    keepYearly: num('keep-yearly'),
    keepWithin: r['keep-within'] === undefined ? undefined : String(r['keep-within']),
    keepPitr: r['keep-pitr'] === undefined ? undefined : String(r['keep-pitr']),
    timeZone: timeZone ?? (r['time-zone'] === undefined ? undefined : String(r['time-zone'])),
  };
  return Object.fromEntries(Object.entries(policy).filter(([, v]) => v !== undefined)) as RetentionPolicy;
}

/** `keep-last 3, keep-daily 7, keep-within 30d (periods in UTC)`: the policy in the flags' words. */
export function describePolicy(policy: RetentionPolicy): string {
  const rules = COUNT_FIELDS.filter(([, f]) => policy[f]).map(([rule, f]) => `keep-${rule} ${String(policy[f])}`);
  if (policy.keepWithin) rules.push(`keep-within ${policy.keepWithin}`);
  if (policy.keepPitr) rules.push(`keep-pitr ${policy.keepPitr}`);
  return `${rules.join(', ') || 'keep everything'} (periods in ${policy.timeZone ?? 'UTC'})`;
}

/** Checks counts, the duration and the time zone; throws E_USAGE naming the bad value. */
export function validatePolicy(policy: RetentionPolicy): void {
  for (const [rule, f] of COUNT_FIELDS) {
    const v = policy[f];
    if (v !== undefined && (typeof v !== 'number' || !(Number.isInteger(v) || v === Infinity) || v < 0)) {
      throw new DbBackupError('E_USAGE', `keep-${rule} must be a whole number of 0 or more; got "${String(v)}".`);
    }
  }
  if (policy.keepWithin !== undefined) parseDuration(policy.keepWithin, 'keep-within');
  if (policy.keepPitr !== undefined) parseDuration(policy.keepPitr, 'keep-pitr');
  if (policy.timeZone !== undefined) calendarOf(policy.timeZone);
}

/** Decides, for every backup of ONE source, whether the policy keeps it and why. Pure. */
export function planRetention(candidates: readonly RetentionCandidate[], policy: RetentionPolicy, now: Date): RetentionPlan {
  validatePolicy(policy);
  const times = new Map(candidates.map((c) => [c.id, timeOf(c)]));
  const newestFirst = [...candidates].sort((a, b) => times.get(b.id)! - times.get(a.id)! || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const decisions = newestFirst.map(
    (c): RetentionDecision => ({ id: c.id, kind: c.kind, parent: c.parent, startedAt: c.startedAt, pinned: c.pinned === true, action: 'delete', reasons: [] }),
  );
  const warnings: string[] = [];

  const past = newestFirst.filter((c) => times.get(c.id)! < now.getTime());
  const reference = past.length ? times.get(past[0]!.id)! : undefined;
  if (policy.keepWithin && reference === undefined && candidates.length) {
    warnings.push('Every backup is dated in the future of this clock; keep-within keeps them all. Check the system clock.');
  }
  const cutoff = policy.keepWithin && reference !== undefined ? subtractDuration(reference, parseDuration(policy.keepWithin, 'keep-within')) : -Infinity;

  // Chain facts are needed only for keep-pitr and for segments linked by position.
  const pitr = policy.keepPitr || candidates.some((c) => c.continuous)
    ? planPitrKeep(candidates, policy.keepPitr ?? '0s', now)
    : { keep: new Set<string>(), previous: new Map<string, string>() };
  const calendar = calendarOf(policy.timeZone ?? 'UTC');
  const rules = COUNT_FIELDS.map(([rule, f]) => ({ rule, left: (policy[f] as number | undefined) ?? 0, last: undefined as string | undefined }));
  decisions.forEach((d, nr) => {
    if (d.pinned) d.reasons.push('pinned');
    if (policy.keepWithin && times.get(d.id)! > cutoff) d.reasons.push(`within ${policy.keepWithin}`);
    if (policy.keepPitr && pitr.keep.has(d.id)) d.reasons.push(`pitr ${policy.keepPitr}`);
    const cal = calendar(times.get(d.id)!);
    for (const r of rules) {
      if (r.left <= 0) continue;
      const value = r.rule === 'last' ? String(nr) : periodLabel(r.rule, cal);
      const oldest = nr === decisions.length - 1;
      if (value === r.last && !oldest) continue;
      const label = r.rule === 'last' ? 'last' : `${r.rule} ${value}`;
      d.reasons.push(value === r.last ? `${label} (oldest)` : label);
      r.last = value;
      r.left--;
    }
    if (d.reasons.length) d.action = 'keep';
  });

  protectChains(decisions, warnings, pitr.previous);
  return { decisions: decisions.reverse(), reference: reference === undefined ? undefined : new Date(reference).toISOString(), warnings };
}

/**
 * Keeps every backup a kept one needs to be restored: walks parent links from each kept backup
 * ("anchor") and marks each base `base of <anchor>`, stopping at the next anchor (its own walk
 * covers the rest). A broken chain is reported, never fatal: deleting the dependant would not help.
 * `previous` links a log segment whose parent was compacted away to the segment it follows by position.
 */
function protectChains(decisions: RetentionDecision[], warnings: string[], previous: ReadonlyMap<string, string>): void {
  const byId = new Map(decisions.map((d) => [d.id, d]));
  const anchors = new Set(decisions.filter((d) => d.action === 'keep').map((d) => d.id));
  for (const anchorId of anchors) {
    const anchor = byId.get(anchorId)!;
    const seen = new Set([anchorId]);
    let current = anchor;
    while (current.kind !== 'full') {
      if (current.parent === null) {
        warnings.push(`${current.id} is ${current.kind} but names no parent; it cannot be restored.`);
        break;
      }
      const base = byId.get(current.parent) ?? byId.get(previous.get(current.id) ?? '');
      if (!base) {
        warnings.push(`${anchor.id} needs ${current.parent}, which is not in the repository; ${anchor.id} cannot be restored.`);
        break;
      }
      if (seen.has(base.id)) {
        warnings.push(`The chain of ${anchor.id} loops at ${base.id}.`);
        break;
      }
      seen.add(base.id);
      base.reasons.push(`base of ${anchor.id}`);
      base.action = 'keep';
      if (anchors.has(base.id)) break;
      current = base;
    }
  }
}

function timeOf(c: RetentionCandidate): number {
  const t = Date.parse(c.startedAt);
  if (Number.isNaN(t)) throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${c.id} has no valid start time ("${c.startedAt}").`);
  return t;
}

interface CalendarTime {
  year: number;
  month: number;
  day: number;
  hour: number;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function periodLabel(rule: Exclude<PeriodRule, 'last'>, c: CalendarTime): string {
  switch (rule) {
    case 'hourly':
      return `${c.year}-${pad(c.month)}-${pad(c.day)}T${pad(c.hour)}`;
    case 'daily':
      return `${c.year}-${pad(c.month)}-${pad(c.day)}`;
    case 'weekly': {
      const w = isoWeek(c.year, c.month, c.day);
      return `${w.year}-W${pad(w.week)}`;
    }
    case 'monthly':
      return `${c.year}-${pad(c.month)}`;
    case 'yearly':
      return String(c.year);
  }
}

/** ISO 8601 week of a calendar date: the week belongs to the year of its Thursday. */
export function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const date = Date.UTC(year, month - 1, day);
  const dow = (new Date(date).getUTCDay() + 6) % 7; // Monday = 0
  const thursday = new Date(date + (3 - dow) * 86400e3);
  const isoYear = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(isoYear, 0, 1)) / (7 * 86400e3)) + 1;
  return { year: isoYear, week };
}

/** A function giving the wall-clock fields of an instant in `timeZone`; E_USAGE for an unknown zone. */
function calendarOf(timeZone: string): (t: number) => CalendarTime {
  if (timeZone === 'UTC') {
    return (t) => {
      const d = new Date(t);
      return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours() };
    };
  }
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric' });
  } catch {
    throw new DbBackupError('E_USAGE', `Unknown time zone "${timeZone}"; use an IANA name such as UTC or Europe/Berlin.`);
  }
  return (t) => {
    const parts: Record<string, number> = {};
    for (const p of format.formatToParts(new Date(t))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
    return { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour! };
  };
}
