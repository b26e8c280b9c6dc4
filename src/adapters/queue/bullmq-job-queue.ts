import { DelayedError, Queue, Worker, type Job, type RepeatOptions } from 'bullmq';
import type { JobQueue, QueuedSlot, QueueStats, SlotDisposition } from '../../application/ports/job-queue.js';
import type { Logger } from '../../application/ports/logger.js';
import { parseCron } from '../../domain/schedule-cron.js';
import { nextRun } from '../../domain/schedule-time.js';
import type { Schedule } from '../../domain/schedule.js';
import type { Redis } from 'ioredis';
import { redisConnection, type RedisEndpoint } from './redis-commands.js';

export interface BullmqJobQueueOptions {
  endpoint: RedisEndpoint;
  /** BullMQ key prefix (the store's, so one Redis can hold several fleets). */
  prefix: string;
  /** A worker that has not renewed a job's lock for this long is dead: the job goes to another worker. */
  stallMs: number;
  logger: Logger;
}

const QUEUE = 'dbbackup-schedules';
/** Completed and failed jobs kept for inspection (the run history lives in the schedule store). */
const KEEP = { count: 1000 };

/**
 * The schedules' slots as BullMQ job schedulers: one scheduler per schedule (its name), whose
 * next job id is `repeat:<name>:<slot ms>`, so however many publishers upsert it, each slot is one
 * job. Slots are computed with our own cron rules and zone (repeatStrategy), exactly as the local
 * daemon computes them. A job's lock is renewed by its worker; one not renewed for half of stallMs
 * is handed to another worker (up to 1000 times: a stall is a dead worker, not a bad job), which
 * waits for the run's own lock (stallMs) to go stale before it runs the slot again.
 */
export class BullmqJobQueue implements JobQueue {
  private readonly clients: Redis[] = [];
  private queueHandle?: Queue;

  constructor(private readonly options: BullmqJobQueueOptions) {}

  async publish(schedules: Schedule[]): Promise<void> {
    const queue = this.queue();
    const existing = new Map((await queue.getJobSchedulers(0, -1, true)).map((j) => [j.key, j]));
    for (const s of schedules) {
      const e = existing.get(s.name);
      existing.delete(s.name);
      if (e && e.pattern === s.expression.source && e.tz === s.zone) continue;
      await queue.upsertJobScheduler(
        s.name,
        { pattern: s.expression.source, tz: s.zone },
        { name: s.name, data: { schedule: s.name }, opts: { removeOnComplete: KEEP, removeOnFail: KEEP } },
      );
      this.options.logger.info(e ? 'queue schedule updated' : 'queue schedule added', { schedule: s.name, cron: s.expression.source, zone: s.zone });
    }
    for (const gone of existing.keys()) {
      await queue.removeJobScheduler(gone);
      this.options.logger.info('queue schedule removed', { schedule: gone });
    }
  }

  async consume(handle: (slot: QueuedSlot, signal: AbortSignal) => Promise<SlotDisposition>, concurrency: number, signal: AbortSignal): Promise<void> {
    const worker = new Worker(
      QUEUE,
      async (job: Job, token?: string) => {
        const disposition = await handle(delivery(job), signal);
        if (disposition.kind === 'retry') {
          await job.moveToDelayed(Date.now() + disposition.afterMs, token);
          throw new DelayedError();
        }
      },
      {
        connection: this.client() as never,
        prefix: this.options.prefix,
        concurrency,
        // Redelivered well before our own lock of the run goes stale, so that the slot runs again then.
        lockDuration: Math.max(1000, Math.floor(this.options.stallMs / 2)),
        stalledInterval: Math.max(500, Math.floor(this.options.stallMs / 4)),
        maxStalledCount: 1000,
        settings: { repeatStrategy },
        autorun: false,
      },
    );
    worker.on('error', (err) => this.options.logger.warn('queue worker error', { error: err.message }));
    worker.on('failed', (job, err) => this.options.logger.warn('queue delivery failed', { job: job?.id, error: err.message }));
    const running = worker.run();
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    // close() lets the deliveries in hand finish (the caller cancels them past its stop timeout).
    await worker.close();
    await running.catch(() => undefined);
  }

  async stats(now: Date): Promise<QueueStats> {
    const queue = this.queue();
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
    const candidates = [...(await queue.getJobs(['wait'], 0, 0, true)), ...(await queue.getJobs(['delayed'], 0, 0, true))] as Job[];
    const due = candidates
      .map((j) => ({ schedule: String((j.data as { schedule?: unknown })?.schedule ?? j.name), dueAt: new Date(slotOf(j)) }))
      .filter((d) => d.dueAt.getTime() <= now.getTime())
      .sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime());
    const schedulers = (await queue.getJobSchedulers(0, -1, true)).map((j) => ({ name: j.key, next: j.next ? new Date(j.next) : undefined }));
    return {
      waiting: counts.waiting ?? 0,
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      failed: counts.failed ?? 0,
      completed: counts.completed ?? 0,
      oldestDue: due[0],
      schedulers,
    };
  }

  async close(): Promise<void> {
    await this.queueHandle?.close();
    for (const c of this.clients.splice(0)) await c.quit().catch(() => undefined);
  }

  private queue(): Queue {
    this.queueHandle ??= new Queue(QUEUE, { connection: this.client() as never, prefix: this.options.prefix, settings: { repeatStrategy } });
    return this.queueHandle;
  }

  private client(): Redis {
    const { redis } = redisConnection(this.options.endpoint, this.options.logger, true);
    this.clients.push(redis);
    return redis;
  }
}

/** Our cron rules (croner, DST handling, `L`/`W`/`#`), not BullMQ's cron-parser: the same slots as the local daemon. */
function repeatStrategy(millis: number, opts: RepeatOptions): number | undefined {
  if (!opts.pattern) return undefined;
  return nextRun(parseCron(opts.pattern), opts.tz ?? 'UTC', millis);
}

/** The slot a scheduler's job fires for (its id holds it too: repeat:<name>:<ms>). */
function slotOf(job: Job): number {
  const prev = (job.opts as { prevMillis?: unknown }).prevMillis;
  return typeof prev === 'number' ? prev : job.timestamp + (job.opts.delay ?? 0);
}

function delivery(job: Job): QueuedSlot {
  const schedule = (job.data as { schedule?: unknown })?.schedule;
  return { schedule: typeof schedule === 'string' ? schedule : job.name, slot: new Date(slotOf(job)), id: String(job.id) };
}
