import type { Logger } from '../ports/logger.js';
import type { JobOutcome, RunningJob, ScheduledJob, ScheduleJobRunner } from '../ports/schedule-job-runner.js';
import type { PermitRequest, TargetPermits } from '../ports/target-permits.js';

export interface PermitJobRunnerOptions {
  /** The limits that apply to a job's source (its targets that have one); empty = no limit. */
  limitsFor: (source: string) => PermitRequest[];
  /** The permit holder: unique per attempt. */
  holder: (job: ScheduledJob) => string;
  /** A permit not renewed for this long is lost (its holder died). */
  ttlMs: number;
  /** How often a waiting job asks again. */
  pollMs: number;
  logger: Logger;
}

/**
 * A ScheduleJobRunner wrapper that starts a job only once it holds a permit of every target its
 * source writes to (say at most 4 uploads at once to one bucket, across the fleet), renews the
 * permits while the job runs and returns them when it ends. A job cancelled while it waits ends
 * 'interrupted' without starting.
 */
export class PermitJobRunner implements ScheduleJobRunner {
  constructor(
    private readonly inner: ScheduleJobRunner,
    private readonly permits: TargetPermits,
    private readonly options: PermitJobRunnerOptions,
  ) {}

  start(job: ScheduledJob): RunningJob {
    const requests = this.options.limitsFor(job.source);
    if (requests.length === 0) return this.inner.start(job);
    const holder = this.options.holder(job);
    const keys = requests.map((r) => r.key);
    let cancelled = false;
    let running: RunningJob | undefined;
    const done = (async (): Promise<JobOutcome> => {
      let logged = false;
      while (!(await this.permits.tryAcquire(requests, holder, this.options.ttlMs))) {
        if (cancelled) return { outcome: 'interrupted', error: { code: 'E_INTERRUPTED', message: 'Cancelled while waiting for a target permit.' } };
        if (!logged) this.options.logger.info('waiting for a target permit (per-target concurrency limit)', { source: job.source, targets: keys });
        logged = true;
        await new Promise((r) => setTimeout(r, this.options.pollMs));
      }
      const renew = setInterval(() => void this.permits.renew(keys, holder, this.options.ttlMs).catch(() => undefined), Math.max(100, Math.floor(this.options.ttlMs / 3)));
      try {
        running = this.inner.start(job);
        if (cancelled) running.cancel();
        return await running.done;
      } finally {
        clearInterval(renew);
        await this.permits.release(keys, holder).catch(() => undefined);
      }
    })().catch((err: unknown): JobOutcome => ({ outcome: 'failure', error: { code: 'E_INTERNAL', message: `Target permits: ${(err as Error).message}` } }));
    return {
      done,
      cancel: () => {
        cancelled = true;
        running?.cancel();
      },
    };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
