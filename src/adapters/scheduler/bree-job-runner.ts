import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type BreeType from 'bree';
import type { Logger } from '../../application/ports/logger.js';
import type { JobOutcome, RunningJob, ScheduledJob, ScheduleJobRunner } from '../../application/ports/schedule-job-runner.js';
import { isWorkerResult, type WorkerInput } from './worker-protocol.js';

// bree is CommonJS; its default export differs between node and vitest, so load it with require
// (and only when a daemon starts: every other command skips its ~100 ms of loading).
const require = createRequire(import.meta.url);

export interface BreeJobRunnerOptions {
  /** The compiled worker script (an absolute path to a .js file). */
  workerPath: string;
  /** Handed to every worker (how to load the configuration: config file, profile, data dir, log level). */
  context: WorkerInput['context'];
  logger: Logger;
  /** After cancel: how long a worker may take to stop before it is terminated. */
  cancelGraceMs?: number;
}

interface Pending {
  settle(outcome: JobOutcome): void;
  result?: JobOutcome;
  cancelled: boolean;
}

/**
 * Runs each attempt in its own worker thread through bree: a job is added under a unique name,
 * run, and removed when its worker is gone. The worker posts `{ type: 'result' }` then 'done'; on
 * 'cancel' it aborts its task and still posts a result. A worker that dies without a result is a
 * failure (E_INTERNAL); one that ignores a cancel is terminated after cancelGraceMs.
 */
export class BreeJobRunner implements ScheduleJobRunner {
  private readonly bree: BreeType;
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly options: BreeJobRunnerOptions) {
    const log = options.logger.child({ module: 'bree' });
    const Bree = require('bree') as typeof BreeType;
    this.bree = new Bree({
      root: dirname(options.workerPath),
      doRootCheck: false,
      jobs: [],
      logger: {
        info: (msg: unknown) => log.debug(String(msg)),
        warn: (msg: unknown) => log.warn(String(msg)),
        error: (msg: unknown) => log.debug(String(msg)),
      } as unknown as BreeType.BreeLogger,
      errorHandler: (error: unknown, data: { name: string }) => log.debug('worker error', { job: data.name, error: String(error) }),
      workerMessageHandler: (data: { name: string; message: unknown }) => {
        const p = this.pending.get(data.name);
        if (p && isWorkerResult(data.message)) p.result = data.message.outcome;
      },
    });
    this.bree.on('worker deleted', (name: string) => this.finished(name));
  }

  start(job: ScheduledJob): RunningJob {
    const name = `${job.id}`;
    let settle!: (o: JobOutcome) => void;
    const done = new Promise<JobOutcome>((resolve) => (settle = resolve));
    const entry: Pending = { settle, cancelled: false };
    this.pending.set(name, entry);
    const workerData: WorkerInput = {
      task: { task: job.task, source: job.source, kind: job.kind, schedule: job.schedule, slot: job.slot.toISOString(), run: job.run },
      context: this.options.context,
    };
    void (async () => {
      try {
        await this.bree.add({ name, path: this.options.workerPath, worker: { workerData } });
        await this.bree.run(name);
      } catch (err) {
        this.pending.delete(name);
        settle({ outcome: 'failure', error: { code: 'E_INTERNAL', message: `Could not start the job worker: ${(err as Error).message}` } });
      }
    })();
    return { done, cancel: () => this.cancel(name) };
  }

  async close(): Promise<void> {
    for (const name of [...this.pending.keys()]) this.cancel(name);
    while (this.pending.size > 0) await new Promise((r) => setTimeout(r, 20));
  }

  private cancel(name: string): void {
    const entry = this.pending.get(name);
    const worker = this.bree.workers.get(name);
    if (!entry || entry.cancelled || !worker) return;
    entry.cancelled = true;
    worker.postMessage('cancel');
    setTimeout(() => void this.bree.workers.get(name)?.terminate(), this.options.cancelGraceMs ?? 30_000).unref();
  }

  private finished(name: string): void {
    const entry = this.pending.get(name);
    if (!entry) return;
    this.pending.delete(name);
    // Forget the job definition (its worker is gone already, so this stops nothing).
    this.bree.config.jobs = this.bree.config.jobs.filter((j) => j.name !== name);
    entry.settle(
      entry.result ??
        (entry.cancelled
          ? { outcome: 'interrupted', error: { code: 'E_INTERRUPTED', message: 'The job was cancelled before it reported a result.' } }
          : { outcome: 'failure', error: { code: 'E_INTERNAL', message: 'The job worker exited without reporting a result; see the log.' } }),
    );
  }
}
