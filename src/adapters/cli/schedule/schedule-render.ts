import { DbBackupError } from '../../../domain/errors.js';
import type { ScheduleView } from '../../../application/use-cases/manage-schedules.js';
import type { ScheduleRun } from '../../../application/ports/schedule-history.js';
import { parseDuration } from '../../../infrastructure/rotating-file.js';
import { formatDuration, table } from '../render.js';

/** `--flag 30s|10m|24h` as milliseconds, or undefined when not given. */
export function durationFlag(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseDuration(text);
  } catch {
    throw new DbBackupError('E_USAGE', `${flag} must be a duration like 30s, 10m, 24h or 7d; got "${text}".`);
  }
}

/** A time for a table: ISO without milliseconds, or '-'. */
export function when(d: Date | undefined): string {
  return d ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : '-';
}

export function outcomeText(v: ScheduleView): string {
  if (v.running) return 'running';
  if (!v.lastOutcome) return '-';
  return v.consecutiveFailures > 0 ? `${v.lastOutcome} (${v.consecutiveFailures} in a row)` : v.lastOutcome;
}

/** A schedule as JSON: dates as ISO strings, undefined left out. */
export function viewJson(v: ScheduleView): Record<string, unknown> {
  return JSON.parse(JSON.stringify(v)) as Record<string, unknown>;
}

export function runJson(r: ScheduleRun): Record<string, unknown> {
  return JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
}

export function describeSchedule(v: ScheduleView): string {
  return `${v.task} of ${v.source}${v.kind ? ` (${v.kind})` : ''} at "${v.cron}" (${v.timezone})`;
}

/** The run history as a table (`schedule history`, `list --runs`). */
export function historyTable(runs: ScheduleRun[]): string {
  const rows = runs.map((r) => [
    String(r.id),
    r.schedule,
    when(r.slot),
    r.trigger,
    when(r.startedAt),
    r.durationMs === undefined ? '-' : formatDuration(r.durationMs),
    r.outcome,
    r.attempts ? String(r.attempts) : '-',
    r.backupId ? `${r.backupId}${r.note ? ` (${r.note})` : ''}` : r.errorCode ? `${r.errorCode}: ${r.errorMessage ?? ''}` : (r.note ?? ''),
    r.owner,
  ]);
  return table(['id', 'schedule', 'slot', 'trigger', 'started', 'took', 'outcome', 'tries', 'backup / error', 'by'], rows);
}
