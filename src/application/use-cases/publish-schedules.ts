import type { Clock } from '../ports/clock.js';
import type { JobQueue } from '../ports/job-queue.js';
import type { Logger } from '../ports/logger.js';
import type { ScheduleDaemon, SchedulerSummary } from '../ports/schedule-daemon.js';
import type { ScheduleStore } from '../ports/schedule-store.js';
import { loadSchedules, type ScheduleSources } from './schedule-definitions.js';
import { sleepUnlessAborted } from './schedule-slots.js';

export interface PublishSchedulesDeps extends Omit<ScheduleSources, 'store'> {
  store: ScheduleStore;
  queue: JobQueue;
  clock: Clock;
  logger: Logger;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface PublishOptions {
  owner: string;
  host: string;
  pid: number;
  /** How often the schedules are looked at again (`schedule add|remove` on any machine). */
  pollMs: number;
}

/**
 * `schedule run --queue`: the fleet's scheduler. It runs nothing itself: it makes the queue fire
 * the schedules (config and `schedule add`), creating each one's state first so that a worker
 * counts slots from the moment it was published, and keeps them in step until stopped. Any number
 * may run (each slot is one queue job however many publish); workers run the jobs.
 */
export class PublishSchedules implements ScheduleDaemon {
  constructor(
    private readonly deps: PublishSchedulesDeps,
    private readonly options: PublishOptions,
  ) {}

  async execute(input: { once?: boolean }, signal: AbortSignal): Promise<SchedulerSummary> {
    const { store, clock, logger, queue } = this.deps;
    const o = this.options;
    const startedAt = clock.now();
    await store.registerDaemon({ owner: o.owner, host: o.host, pid: o.pid, startedAt, heartbeatAt: startedAt });
    logger.info('fleet scheduler started', { owner: o.owner, once: input.once === true });
    try {
      let published = '';
      do {
        try {
          const { schedules, problems } = await loadSchedules({ ...this.deps, store });
          const now = clock.now();
          for (const s of schedules) await store.ensureState(s.name, now);
          await queue.publish(schedules);
          const names = schedules.map((s) => s.name).join(',');
          if (names !== published) logger.info('schedules published to the queue', { schedules: schedules.map((s) => s.name), problems });
          published = names;
          await store.heartbeat(o.owner, clock.now());
        } catch (err) {
          if (input.once) throw err;
          logger.error('publishing the schedules failed; retrying', { error: (err as Error).message });
        }
      } while (!input.once && (await sleepUnlessAborted(this.deps.sleep, o.pollMs, signal)));
    } finally {
      await store.unregisterDaemon(o.owner).catch(() => undefined);
      await queue.close();
    }
    logger.info('fleet scheduler stopped', {});
    return { runs: 0, failures: 0, skipped: 0 };
  }
}
