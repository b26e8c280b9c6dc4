import type { BackupKind } from '../../domain/backup-kind.js';
import type { ScheduleTask } from '../../domain/schedule.js';
import type { JobOutcome } from '../../application/ports/schedule-job-runner.js';

/** One attempt's task (structured-clone safe: plain data only). */
export interface WorkerTask {
  task: ScheduleTask;
  source: string;
  kind?: BackupKind;
  schedule: string;
  slot: string;
  /** ScheduledJob.run. */
  run?: number;
}

/** How a worker loads the same configuration as the daemon. */
export interface WorkerContext {
  /** The daemon's config, profile, data dir and the flags jobs need too (storage endpoints, --insecure). */
  globals: { config?: string; profile?: string; dataDir?: string; s3Endpoint?: string; gcsEndpoint?: string; azureEndpoint?: string; insecure?: boolean };
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/**
 * What a job worker receives as workerData: one attempt (`task`: the thread runs it, reports and
 * ends) or none (a warm pool thread: it waits for `run` messages, one attempt at a time).
 */
export interface WorkerInput {
  task?: WorkerTask;
  context: WorkerContext;
}

/** The one message a worker posts per attempt (a one-attempt worker then posts 'done'). */
export interface WorkerResult {
  type: 'result';
  /** The attempt it answers (pool threads). */
  job?: string;
  outcome: JobOutcome;
}

/** To a pool thread: run one attempt, or cancel the one it runs. */
export type PoolMessage = { type: 'run'; job: string; task: WorkerTask } | { type: 'cancel'; job: string };

export function isWorkerResult(message: unknown): message is WorkerResult {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'result';
}
