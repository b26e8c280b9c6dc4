import { backupKinds, type BackupKind } from './backup-kind.js';
import { DbBackupError, type ErrorCode } from './errors.js';
import { type CronExpression, parseCron } from './schedule-cron.js';
import { isValidTimeZone, lastRunBetween, lastRunsBetween, nextRun, runsBetween } from './schedule-time.js';

/** `verify-restore`: `verify --deep` of the source's newest backup (restored into a scratch database, every table checked). */
export const scheduleTasks = ['backup', 'prune', 'verify', 'verify-restore'] as const;
export type ScheduleTask = (typeof scheduleTasks)[number];

/** What to do about runs missed while no daemon was running. */
export const catchUpPolicies = ['once', 'all', 'none'] as const;
export type CatchUpPolicy = (typeof catchUpPolicies)[number];

/** Where a schedule was declared: `schedule add` (kept in the catalog) or the config file. */
export type ScheduleOrigin = 'cli' | 'config';

export interface ScheduleDefinition {
  name: string;
  cron: string;
  task: ScheduleTask;
  source: string;
  /** Backup kind for `backup` tasks; undefined = the source's configured type, else full. */
  kind?: BackupKind;
  /** IANA zone; undefined = the daemon's local zone. */
  timezone?: string;
  catchUp?: CatchUpPolicy;
  /** As declared; `schedule enable|disable` overrides it (ScheduleState.enabled). */
  enabled?: boolean;
  origin: ScheduleOrigin;
}

/** A definition checked and ready to compute with. */
export interface Schedule extends ScheduleDefinition {
  expression: CronExpression;
  zone: string;
  catchUp: CatchUpPolicy;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function isValidScheduleName(name: string): boolean {
  return NAME.test(name);
}

/**
 * Checks a definition and compiles its cron expression. Throws `code` (E_USAGE for flags,
 * E_CONFIG for the config file) with a message that names what is wrong and where (`where`).
 */
export function compileSchedule(def: ScheduleDefinition, defaultZone: string, code: ErrorCode = 'E_USAGE', where = `schedule "${def.name}"`): Schedule {
  const fail = (msg: string, cause?: unknown) => new DbBackupError(code, `${where}: ${msg}`, { cause });
  if (!isValidScheduleName(def.name)) throw fail(`the name "${def.name}" is not valid: use letters, digits, '.', '_' and '-' (at most 100)`);
  if (!(scheduleTasks as readonly string[]).includes(def.task)) throw fail(`the task must be ${scheduleTasks.join(', ')}; got "${def.task}"`);
  if (def.kind !== undefined && !(backupKinds as readonly string[]).includes(def.kind)) {
    throw fail(`the type must be ${backupKinds.join(', ')}; got "${def.kind}"`);
  }
  if (def.catchUp !== undefined && !(catchUpPolicies as readonly string[]).includes(def.catchUp)) {
    throw fail(`catch-up must be ${catchUpPolicies.join(', ')}; got "${def.catchUp}"`);
  }
  const zone = def.timezone ?? defaultZone;
  if (!isValidTimeZone(zone)) throw fail(`unknown time zone "${zone}"; use an IANA name such as Europe/Berlin or UTC`);
  let expression: CronExpression;
  try {
    expression = parseCron(def.cron);
  } catch (err) {
    throw fail((err as Error).message, err);
  }
  return { ...def, expression, zone, catchUp: def.catchUp ?? 'once' };
}

/** The schedule's next firing strictly after `after`, or undefined if it never fires again. */
export function nextRunOf(schedule: Schedule, after: Date): Date | undefined {
  const t = nextRun(schedule.expression, schedule.zone, after.getTime());
  return t === undefined ? undefined : new Date(t);
}

export type RunTrigger = 'schedule' | 'catch-up';

export interface DuePlan {
  /** Slots to run now, oldest first. */
  run: { slot: Date; trigger: RunTrigger }[];
  /** Slots that will not run (missed beyond the grace window or by policy), for the history. */
  missed?: SlotSpan;
  /**
   * Due slots (not missed) that a newer due slot supersedes: a tick came late by more than one
   * period, and only the newest runs. For the history, so that no slot goes unaccounted for.
   */
  coalesced?: SlotSpan;
  /** The newest slot considered: the caller marks everything up to it handled. */
  handledUpTo?: Date;
}

/** Slots that will not run: each one (`more`: some past the first 1000 are not listed) and the span. */
export interface SlotSpan {
  count: number;
  more: boolean;
  first: Date;
  last: Date;
  slots: Date[];
}

export interface DueOptions {
  /** The last slot already handled (run, skipped or missed). */
  lastSlot: Date;
  now: Date;
  /** Slots before this are missed (the daemon was not running), not merely due. */
  missedBefore: Date;
  /** Missed slots older than this are never caught up. */
  graceMs: number;
  /** `catch-up: all` runs at most this many missed slots. */
  maxCatchUp?: number;
}

/**
 * What to do with the slots in (lastSlot, now]. A slot at or after `missedBefore` is due and
 * runs (several due at once — a slow tick — run once, as the newest; the others are `coalesced`). Older slots were missed:
 * `none` runs none of them; `once` (the default) runs the newest one within the grace window
 * once, and not at all when a due slot runs anyway; `all` runs each one within the grace window,
 * at most the newest `maxCatchUp` (50), and records the older ones as missed.
 */
export function planDue(schedule: Schedule, o: DueOptions): DuePlan {
  const { expression: e, zone } = schedule;
  const now = o.now.getTime();
  const latest = lastRunBetween(e, zone, o.lastSlot.getTime(), now);
  if (latest === undefined) return { run: [] };
  const plan: DuePlan = { run: [], handledUpTo: new Date(latest) };
  const missedBefore = o.missedBefore.getTime();
  const lastMissed = latest < missedBefore ? latest : lastRunBetween(e, zone, o.lastSlot.getTime(), missedBefore - 1);
  if (lastMissed !== undefined) {
    const graceStart = now - o.graceMs;
    const limit = o.maxCatchUp ?? 50;
    // `all` runs the newest `limit` slots within the grace window: a long outage catches up on its
    // most recent state, and the older slots are recorded as missed.
    const catchUp: number[] =
      schedule.catchUp === 'all'
        ? lastRunsBetween(e, zone, Math.max(o.lastSlot.getTime(), graceStart - 1), lastMissed, limit)
        : schedule.catchUp === 'once' && latest === lastMissed && lastMissed >= graceStart
          ? [lastMissed]
          : [];
    plan.run.push(...catchUp.map((t) => ({ slot: new Date(t), trigger: 'catch-up' as const })));
    // What does not run is every missed slot before the first catch-up run (the catch-up runs are the newest).
    const notRunUntil = catchUp.length ? catchUp[0]! - 1 : lastMissed;
    const skipped = runsBetween(e, zone, o.lastSlot.getTime(), notRunUntil, 1000);
    if (skipped.runs.length > 0) {
      plan.missed = span(skipped.runs, skipped.more);
      // Past the listed ones, the span still ends at the newest slot that does not run.
      if (skipped.more) plan.missed.last = new Date(lastRunBetween(e, zone, o.lastSlot.getTime(), notRunUntil)!);
    }
  }
  if (latest >= missedBefore) {
    const superseded = runsBetween(e, zone, Math.max(o.lastSlot.getTime(), missedBefore - 1), latest - 1, 1000);
    if (superseded.runs.length > 0) {
      plan.coalesced = span(superseded.runs, superseded.more);
    }
    plan.run.push({ slot: new Date(latest), trigger: 'schedule' });
  }
  return plan;
}

function span(runs: number[], more: boolean): SlotSpan {
  return { count: runs.length, more, first: new Date(runs[0]!), last: new Date(runs.at(-1)!), slots: runs.map((t) => new Date(t)) };
}

/** A lock whose owner has not renewed it for `staleAfterMs` belongs to a dead owner and may be taken over. */
export function isLockStale(heartbeatAt: Date, now: Date, staleAfterMs: number): boolean {
  return now.getTime() - heartbeatAt.getTime() > staleAfterMs;
}

/** Errors another attempt may cure; usage, config, integrity findings and interruptions are final. */
export function isRetryableFailure(code: string): boolean {
  return !['E_USAGE', 'E_CONFIG', 'E_UNSUPPORTED', 'E_CHECKSUM', 'E_TRUNCATED', 'E_FOREIGN_ARCHIVE', 'E_TOO_LARGE', 'E_FORMAT_VERSION', 'E_INTERRUPTED', 'E_SOURCE_INVALID', 'E_BACKUP_NOT_FOUND', 'E_DIFFERENT'].includes(code);
}

/** The wait before retry `n` (1-based): `baseMs`, doubling, at most one hour. */
export function retryDelay(n: number, baseMs: number): number {
  return Math.min(3_600_000, baseMs * 2 ** Math.max(0, n - 1));
}
