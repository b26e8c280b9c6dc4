import type { BackupKind } from '../../domain/backup-kind.js';
import type { ScheduleTask } from '../../domain/schedule.js';

/** One execution of a scheduled task (one attempt). */
export interface ScheduledJob {
  /** Unique per attempt; for logs. */
  id: string;
  schedule: string;
  task: ScheduleTask;
  source: string;
  kind?: BackupKind;
  slot: Date;
  /** The store's id of the run this attempt belongs to (a backup records it in its manifest). */
  run?: number;
}

/** How an attempt ended. `error` never holds a secret. */
export interface JobOutcome {
  outcome: 'success' | 'partial' | 'failure' | 'interrupted';
  backupId?: string;
  repository?: string;
  storedSize?: number;
  rawSize?: number;
  /** Backup kind actually taken (backup tasks). */
  kind?: string;
  error?: { code: string; message: string };
  /** What the attempt found, for the run's history (a verify-restore's tables and rows). */
  note?: string;
}

export interface RunningJob {
  /** Settles with the attempt's outcome; never rejects (a crash is a 'failure' with E_INTERNAL). */
  readonly done: Promise<JobOutcome>;
  /** Asks the job to stop now; `done` then settles with 'interrupted' (or what it had finished with). */
  cancel(): void;
}

/** Runs scheduled tasks away from the scheduler's loop (worker threads in production). */
export interface ScheduleJobRunner {
  start(job: ScheduledJob): RunningJob;
  /** Stops what is still running and releases the runner. */
  close(): Promise<void>;
}
