import { Worker } from 'node:worker_threads';
import type { Logger } from '../../application/ports/logger.js';
import type { JobOutcome, RunningJob, ScheduledJob, ScheduleJobRunner } from '../../application/ports/schedule-job-runner.js';
import { keepAfterThreadStart } from '../../infrastructure/heap-tuning.js';
import { isWorkerResult, type PoolMessage, type WorkerContext, type WorkerInput } from './worker-protocol.js';

export interface ThreadPoolJobRunnerOptions {
  /** The compiled worker script (an absolute path to a .js file), started without a task. */
  workerPath: string;
  context: WorkerContext;
  logger: Logger;
  /** Warm threads kept (a fleet worker's --concurrency); more attempts at once get a thread each, ended after. */
  size: number;
  /** A thread is replaced after this many attempts (default 25), so that nothing builds up in it. */
  jobsPerThread?: number;
  /** After cancel: how long a thread may take to stop before it is terminated. */
  cancelGraceMs?: number;
}

interface Attempt {
  id: string;
  settle(outcome: JobOutcome): void;
  cancelled: boolean;
}

interface Thread {
  worker: Worker;
  jobs: number;
  attempt?: Attempt;
  /** Ended or being ended: never given another attempt. */
  retired: boolean;
}

/**
 * Runs each attempt in a warm worker thread: `size` threads are started at once and load the CLI
 * while idle, so an attempt does not pay for that (70–250 ms each with a thread per attempt). A
 * thread runs one attempt at a time and builds everything an attempt uses afresh (configuration,
 * container, connections); it is replaced after jobsPerThread attempts, and after any attempt that
 * did not succeed, crashed or was cancelled, so that one job's failure cannot reach another's state.
 * A thread that dies without a result makes its attempt a failure (E_INTERNAL); one that ignores a
 * cancel is terminated after cancelGraceMs.
 */
export class ThreadPoolJobRunner implements ScheduleJobRunner {
  private readonly threads = new Set<Thread>();
  private closing = false;

  constructor(private readonly options: ThreadPoolJobRunnerOptions) {
    for (let i = 0; i < options.size; i++) this.spawn();
  }

  start(job: ScheduledJob): RunningJob {
    let settle!: (o: JobOutcome) => void;
    const done = new Promise<JobOutcome>((resolve) => (settle = resolve));
    const attempt: Attempt = { id: job.id, settle, cancelled: false };
    if (this.closing) {
      settle({ outcome: 'interrupted', error: { code: 'E_INTERRUPTED', message: 'The job runner is closing.' } });
      return { done, cancel: () => undefined };
    }
    const thread = [...this.threads].find((t) => !t.attempt && !t.retired) ?? this.spawn();
    thread.attempt = attempt;
    thread.jobs++;
    thread.worker.ref();
    const task = { task: job.task, source: job.source, kind: job.kind, schedule: job.schedule, slot: job.slot.toISOString(), run: job.run };
    thread.worker.postMessage({ type: 'run', job: job.id, task } satisfies PoolMessage);
    return { done, cancel: () => this.cancel(thread, attempt) };
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const t of this.threads) if (t.attempt) this.cancel(t, t.attempt);
    while ([...this.threads].some((t) => t.attempt)) await new Promise((r) => setTimeout(r, 20));
    await Promise.all([...this.threads].map((t) => this.retire(t)));
  }

  private spawn(): Thread {
    const worker = new Worker(this.options.workerPath, { workerData: { context: this.options.context } satisfies WorkerInput });
    keepAfterThreadStart(worker);
    // An idle thread keeps no process alive (one whose setup failed after building the runner).
    worker.unref();
    const thread: Thread = { worker, jobs: 0, retired: false };
    this.threads.add(thread);
    const log = this.options.logger.child({ module: 'job-threads' });
    worker.on('message', (message: unknown) => {
      const a = thread.attempt;
      if (!a || !isWorkerResult(message) || message.job !== a.id) return;
      thread.attempt = undefined;
      worker.unref();
      a.settle(message.outcome);
      const ok = message.outcome.outcome === 'success' || message.outcome.outcome === 'partial';
      if (!ok || a.cancelled || thread.jobs >= (this.options.jobsPerThread ?? 25) || this.threads.size > this.options.size) void this.retire(thread);
    });
    worker.on('error', (err) => log.warn('job thread crashed', { error: err.message, job: thread.attempt?.id }));
    worker.on('exit', (code) => {
      this.threads.delete(thread);
      const a = thread.attempt;
      thread.attempt = undefined;
      if (a) {
        a.settle(
          a.cancelled
            ? { outcome: 'interrupted', error: { code: 'E_INTERRUPTED', message: 'The job was cancelled before it reported a result.' } }
            : { outcome: 'failure', error: { code: 'E_INTERNAL', message: `The job thread exited (code ${code}) without reporting a result; see the log.` } },
        );
      }
      if (!thread.retired) log.warn('job thread ended unexpectedly', { code });
      this.refill();
    });
    return thread;
  }

  /** Ends an idle thread (a fresh one takes its place, see refill). */
  private async retire(thread: Thread): Promise<void> {
    thread.retired = true;
    await thread.worker.terminate();
  }

  /** Keeps `size` warm threads while open. */
  private refill(): void {
    if (this.closing) return;
    while ([...this.threads].filter((t) => !t.retired).length < this.options.size) this.spawn();
  }

  private cancel(thread: Thread, attempt: Attempt): void {
    if (thread.attempt !== attempt || attempt.cancelled) return;
    attempt.cancelled = true;
    thread.worker.postMessage({ type: 'cancel', job: attempt.id } satisfies PoolMessage);
    setTimeout(() => {
      if (thread.attempt === attempt) void this.retire(thread);
    }, this.options.cancelGraceMs ?? 30_000).unref();
  }
}
