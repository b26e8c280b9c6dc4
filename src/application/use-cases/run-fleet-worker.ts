import type { JobQueue } from '../ports/job-queue.js';
import type { SchedulerSummary } from '../ports/schedule-daemon.js';
import { settleAbandonedRuns } from '../services/abandoned-runs.js';
import { RunQueuedSlot, type RunQueuedSlotDeps } from './run-queued-slot.js';
import type { SlotRunOptions } from './schedule-slots.js';

export interface FleetWorkerOptions extends SlotRunOptions {
  pid: number;
  heartbeatMs: number;
  /** Deliveries worked on at once by this process. */
  concurrency: number;
  /** On stop: how long running jobs may take to finish before they are cancelled. */
  stopTimeoutMs: number;
}

/**
 * `dbbackup worker`: takes the queue's deliveries and runs each through RunQueuedSlot, registered
 * in the shared store as a worker and renewing its locks every heartbeat (a worker that stops
 * renewing them is dead to the others: its slots are taken over). On stop it takes nothing new,
 * lets running jobs finish for stopTimeoutMs, then cancels them, and leaves no run of its own 'running'.
 */
export class RunFleetWorker {
  constructor(
    private readonly deps: RunQueuedSlotDeps & { queue: JobQueue },
    private readonly options: FleetWorkerOptions,
  ) {}

  async execute(signal: AbortSignal): Promise<SchedulerSummary> {
    const { store, clock, logger, queue, runner } = this.deps;
    const o = this.options;
    const stopping = new AbortController();
    const slots = new RunQueuedSlot(this.deps, o, stopping.signal);
    const startedAt = clock.now();
    await store.registerDaemon({ owner: o.owner, host: o.host, pid: o.pid, startedAt, heartbeatAt: startedAt, role: 'worker' });
    logger.info('worker started', { owner: o.owner, concurrency: o.concurrency });
    const heartbeat = setInterval(() => {
      void this.beat().catch((err: unknown) => logger.warn('heartbeat failed', { error: (err as Error).message }));
    }, o.heartbeatMs);
    let cancelTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      stopping.abort();
      logger.info('worker stopping', { running: slots.running(), timeoutMs: o.stopTimeoutMs });
      cancelTimer = setTimeout(() => slots.cancel(), o.stopTimeoutMs);
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    try {
      await queue.consume((delivery) => slots.execute(delivery), o.concurrency, stopping.signal);
    } finally {
      signal.removeEventListener('abort', stop);
      clearTimeout(cancelTimer);
      clearInterval(heartbeat);
      const { abandoned } = await settleAbandonedRuns(this.deps, o.owner).catch(() => ({ abandoned: [] }));
      if (abandoned.length > 0) logger.warn('runs whose outcome could not be recorded were marked interrupted', { abandoned: abandoned.length });
      await store.unregisterDaemon(o.owner).catch(() => undefined);
      await runner.close();
      await queue.close();
    }
    logger.info('worker stopped', { ...slots.summary });
    return { ...slots.summary };
  }

  /**
   * Renews this worker's locks and record; forgets processes silent for ten lock timeouts (at least
   * 10 min: a killed worker never unregisters), settling their unfinished runs (interrupted, or what
   * they were when their backup is complete). The lock of a run recorded complete is released, so a
   * late redelivery of its slot finds it done instead of running it again.
   */
  private async beat(): Promise<void> {
    const { store, clock, logger } = this.deps;
    const now = clock.now();
    await store.heartbeat(this.options.owner, now);
    const forgetAfter = Math.max(10 * this.options.lockStaleMs, 600_000);
    for (const d of await store.daemons()) {
      if (d.owner === this.options.owner || now.getTime() - d.heartbeatAt.getTime() <= forgetAfter) continue;
      const { abandoned, completed } = await settleAbandonedRuns(this.deps, d.owner);
      for (const r of completed) await store.release(r.schedule, d.owner);
      await store.unregisterDaemon(d.owner);
      logger.warn('forgot a fleet process that stopped answering', { process: d.owner, abandoned: abandoned.length, complete: completed.length });
    }
  }
}
