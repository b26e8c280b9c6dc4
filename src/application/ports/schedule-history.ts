export type RunOutcome = 'running' | 'success' | 'partial' | 'failure' | 'interrupted' | 'skipped' | 'missed';

export interface ScheduleRun {
  id: number;
  schedule: string;
  task: string;
  source: string;
  /** The cron slot this run is for (undefined for a manual run). */
  slot?: Date;
  trigger: string;
  /** The daemon that ran (or skipped) it. */
  owner: string;
  startedAt: Date;
  finishedAt?: Date;
  outcome: RunOutcome;
  attempts: number;
  backupId?: string;
  errorCode?: string;
  errorMessage?: string;
  durationMs?: number;
  storedSize?: number;
  note?: string;
}

export type NewRun = Omit<ScheduleRun, 'id'>;

export interface RunResult {
  finishedAt: Date;
  outcome: Exclude<RunOutcome, 'running' | 'skipped' | 'missed'>;
  attempts: number;
  backupId?: string;
  errorCode?: string;
  errorMessage?: string;
  durationMs: number;
  storedSize?: number;
  /** What the run found, in a few words (a verify-restore's tables and rows). */
  note?: string;
}

/** Every scheduled run, skip and miss, as `schedule history|status` show them. */
export interface ScheduleHistory {
  /** Records a run as started (outcome 'running'); returns its id. */
  startRun(run: NewRun): Promise<number>;
  /** Finishes run `id` and updates its schedule's state (last outcome, consecutive failures). */
  finishRun(id: number, result: RunResult): Promise<void>;
  /** Records a finished entry (skipped or missed) that ran nothing; returns its id. */
  recordRun(run: NewRun): Promise<number>;
  /**
   * Marks `owner`'s unfinished runs of `name` (all schedules when omitted) as interrupted, atomically
   * (of two callers at once, each run goes to one); returns them as marked. A later finishRun of
   * such a run still records its real outcome (see services/abandoned-runs.ts).
   */
  abandonRuns(owner: string, now: Date, name?: string): Promise<ScheduleRun[]>;
  /** Runs newest first, of one schedule or all, at most `limit`. */
  history(filter: { schedule?: string; limit: number }): Promise<ScheduleRun[]>;
  /** Counts of finished runs per schedule and outcome. */
  outcomeCounts(): Promise<{ schedule: string; outcome: RunOutcome; count: number }[]>;
}
