import type { ScheduleRun } from './schedule-history.js';

/** A complete backup (its manifest written) that a scheduled run took, in one repository. */
export interface TakenBackup {
  /** The repository's printable location (no credentials). */
  location: string;
  backupId: string;
  storedSize: number;
  /** When its manifest says it finished. */
  finishedAt: Date;
}

/**
 * The repositories as the scheduler sees them: which backups a scheduled run took (the manifests
 * that name it, Manifest.scheduledRun), so that a run whose process died after its backup was
 * complete but before it recorded the outcome is recorded as what it was.
 */
export interface CompletedBackups {
  /**
   * Looks in every repository of `run`'s source (its configured targets, first = primary) for the
   * complete backup that `run` took: `found` holds one per repository that has it (in target order),
   * `missing` counts the repositories that have none or could not be read (logged). Both empty when
   * the run takes no backups (a task other than backup) or its source is no longer configured.
   * Never throws.
   */
  ofRun(run: ScheduleRun): Promise<{ found: TakenBackup[]; missing: number }>;
}
