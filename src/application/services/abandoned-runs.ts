import type { Clock } from '../ports/clock.js';
import type { CompletedBackups } from '../ports/completed-backups.js';
import type { Logger } from '../ports/logger.js';
import type { ScheduleRun } from '../ports/schedule-history.js';
import type { ScheduleStore } from '../ports/schedule-store.js';

export interface AbandonedRunsDeps {
  store: ScheduleStore;
  clock: Clock;
  logger: Logger;
  /** Where a dead process's complete backups are found; without it every abandoned run stays interrupted. */
  backups?: CompletedBackups;
}

/**
 * Settles the unfinished runs of `owner` (a dead or stopped daemon or worker), of schedule `name`
 * or all: each is marked interrupted, then a backup run whose backup turns out complete in its
 * repositories (its process died after writing the manifest, before recording the outcome) is
 * recorded as what it was, success (partial when some of its repositories lack it), with that
 * backup's id. In that order: marking them is atomic in the store, so of several processes settling
 * the same dead owner at once only one gets each run, and a crash in between leaves 'interrupted',
 * never 'running'. Returns the runs marked interrupted and, of those, the ones recorded as complete.
 */
export async function settleAbandonedRuns(deps: AbandonedRunsDeps, owner: string, name?: string): Promise<{ abandoned: ScheduleRun[]; completed: ScheduleRun[] }> {
  const { store, clock, logger, backups } = deps;
  const abandoned = await store.abandonRuns(owner, clock.now(), name);
  const completed: ScheduleRun[] = [];
  if (!backups) return { abandoned, completed };
  for (const run of abandoned) {
    const { found, missing } = await backups.ofRun(run);
    const first = found[0];
    if (!first) continue;
    const outcome = missing === 0 ? 'success' : 'partial';
    const finishedAt = new Date(Math.max(...found.map((b) => b.finishedAt.getTime()), run.startedAt.getTime()));
    const note =
      outcome === 'success'
        ? `its process stopped after the backup was complete, before it recorded the outcome: recorded from the repository`
        : `its process stopped after the backup was complete in ${found.length} of ${found.length + missing} repositories: recorded from them`;
    await store.finishRun(run.id, {
      finishedAt,
      outcome,
      attempts: Math.max(1, run.attempts),
      backupId: first.backupId,
      durationMs: finishedAt.getTime() - run.startedAt.getTime(),
      storedSize: first.storedSize,
      note,
      ...(outcome === 'partial' ? { errorCode: 'E_PARTIAL', errorMessage: `The backup is missing from ${missing} of its repositories (its process stopped before it finished there).` } : {}),
    });
    completed.push({ ...run, outcome, backupId: first.backupId, finishedAt });
    logger.warn(`a killed worker's backup was complete: recorded as ${outcome}`, { run: run.id, schedule: run.schedule, slot: run.slot?.toISOString(), owner, backupId: first.backupId, repository: first.location });
  }
  return { abandoned, completed };
}
