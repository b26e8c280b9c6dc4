import type { BackupKind } from '../../domain/backup-kind.js';
import type { ScheduleTask } from '../../domain/schedule.js';
import type { JobOutcome } from '../../application/ports/schedule-job-runner.js';

/** What a job worker receives as workerData (structured-clone safe: plain data only). */
export interface WorkerInput {
  task: { task: ScheduleTask; source: string; kind?: BackupKind; schedule: string; slot: string };
  /** How the worker loads the same configuration as the daemon. */
  context: {
    /** The daemon's config, profile, data dir and the flags jobs need too (storage endpoints, --insecure). */
    globals: { config?: string; profile?: string; dataDir?: string; s3Endpoint?: string; gcsEndpoint?: string; azureEndpoint?: string; insecure?: boolean };
    logLevel: 'debug' | 'info' | 'warn' | 'error';
  };
}

/** The one message a worker posts before 'done'. */
export interface WorkerResult {
  type: 'result';
  outcome: JobOutcome;
}

export function isWorkerResult(message: unknown): message is WorkerResult {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'result';
}
