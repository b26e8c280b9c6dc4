import { isLockStale, nextRunOf, type RunTrigger, type Schedule } from '../../domain/schedule.js';
import type { DaemonInfo } from '../ports/scheduler-daemons.js';
import type { ScheduleDaemon, SchedulerSummary } from '../ports/schedule-daemon.js';
import { loadSchedules, type ScheduleSources } from './schedule-definitions.js';
import { settleAbandonedRuns } from '../services/abandoned-runs.js';
import { ScheduleSlots, sleepUnlessAborted, type SlotRunDeps } from './schedule-slots.js';

export type { SchedulerSummary } from '../ports/schedule-daemon.js';

export interface SchedulerOptions {
  /** This daemon's unique id (host:pid:random): lock owner and history column. */
  owner: string;
  host: string;
  pid: number;
  /** Missed runs older than this are not caught up. */
  graceMs: number;
  /** A slot this late at a regular tick counts as missed (the process was suspended), not due. */
  lateToleranceMs: number;
  /** A lock (or daemon record) not renewed for this long belongs to a dead owner. */
  lockStaleMs: number;
  heartbeatMs: number;
  /** Retries of a failed run (retryable errors only), waiting retryDelayMs, doubling. */
  retries: number;
  retryDelayMs: number;
  /** On stop: how long running jobs may take to finish before they are cancelled. */
  stopTimeoutMs: number;
  /** Longest sleep between two looks at the schedules (picks up `schedule add` etc.). */
  pollMs: number;
}

export const DEFAULT_SCHEDULER_OPTIONS = {
  graceMs: 24 * 3_600_000,
  lateToleranceMs: 60_000,
  lockStaleMs: 60_000,
  heartbeatMs: 10_000,
  retries: 2,
  retryDelayMs: 30_000,
  stopTimeoutMs: 10 * 60_000,
  pollMs: 5_000,
};

export interface RunSchedulerDeps extends Omit<ScheduleSources, 'store'>, SlotRunDeps {
  /** True/false when it can tell whether a daemon process is alive (same host), else undefined. */
  isAlive?: (daemon: DaemonInfo) => boolean | undefined;
}

/**
 * `schedule run`: the daemon loop. Each tick plans every schedule's due and missed slots
 * (planDue), claims each slot through the store (so two daemons never run one slot, and a
 * schedule never overlaps itself), runs it through the job runner with retries, records the
 * outcome and notifies. On stop (the signal) it starts nothing new from that moment (a slot
 * claimed but not yet started is recorded as skipped), lets running jobs finish for stopTimeoutMs,
 * then cancels them, and leaves no run of its own 'running'; `once` runs what is due now and returns.
 */
export class RunScheduler implements ScheduleDaemon {
  private readonly active = new Map<string, Promise<void>>();
  private readonly stopping = new AbortController();
  private readonly slots: ScheduleSlots;
  private nextDue: number | undefined;

  constructor(
    private readonly deps: RunSchedulerDeps,
    private readonly options: SchedulerOptions,
  ) {
    this.slots = new ScheduleSlots(deps, options, this.stopping.signal);
  }

  private get jobs() {
    return this.slots.jobs;
  }

  private get summary(): SchedulerSummary {
    return this.slots.summary;
  }

  async execute(input: { once?: boolean }, signal: AbortSignal): Promise<SchedulerSummary> {
    const { store, logger, clock } = this.deps;
    const o = this.options;
    const startedAt = clock.now();
    const { schedules, problems } = await loadSchedules(this.deps);
    for (const p of problems) logger.warn('schedule skipped', { schedule: p.name, problem: p.problem });
    await store.registerDaemon({ owner: o.owner, host: o.host, pid: o.pid, startedAt, heartbeatAt: startedAt });
    logger.info('scheduler started', { owner: o.owner, schedules: schedules.map((s) => s.name), once: input.once === true });
    const heartbeat = setInterval(() => void this.beat(), o.heartbeatMs);
    // Stop begins with the signal, not after the tick in progress: nothing is claimed or started from then on.
    const stop = () => this.stopping.abort();
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    try {
      await this.reapDeadDaemons();
      await this.tick(startedAt);
      while (!input.once && !signal.aborted) {
        await this.sleep(this.waitMs(), signal);
        if (!signal.aborted) await this.tick();
      }
      if (input.once) await Promise.race([this.idle(), new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))]);
      if (signal.aborted) logger.info('scheduler stopping', { running: [...this.jobs.keys()], timeoutMs: o.stopTimeoutMs });
      await this.drain(o.stopTimeoutMs);
      await this.abandonLeftovers();
    } finally {
      signal.removeEventListener('abort', stop);
      clearInterval(heartbeat);
      await store.unregisterDaemon(o.owner).catch(() => undefined);
      await this.deps.runner.close();
    }
    logger.info('scheduler stopped', { ...this.summary });
    return { ...this.summary };
  }

  /**
   * One look at every schedule: records missed slots, runs due ones. Slots before `missedBefore`
   * count as missed (at start: everything before the daemon started).
   */
  async tick(missedBefore?: Date): Promise<void> {
    const { store, clock, logger } = this.deps;
    try {
      const now = clock.now();
      const { schedules } = await loadSchedules(this.deps);
      const states = new Map((await store.states()).map((s) => [s.name, s]));
      let next = Number.POSITIVE_INFINITY;
      for (const s of schedules) {
        const state = states.get(s.name) ?? (await store.ensureState(s.name, now));
        const enabled = state.enabled ?? s.enabled ?? true;
        if (enabled) next = Math.min(next, nextRunOf(s, now)?.getTime() ?? next);
        const run = await this.slots.plan(s, state, { enabled, now, missedBefore });
        if (run.length > 0) await this.launch(s, run);
      }
      this.nextDue = next;
    } catch (err) {
      logger.error('scheduler tick failed; retrying at the next tick', { error: (err as Error).message });
      this.nextDue = undefined;
    }
  }

  /** Resolves when every run started so far has finished. */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.all([...this.active.values()]);
  }

  private async launch(s: Schedule, slots: { slot: Date; trigger: RunTrigger }[]): Promise<void> {
    // Stopping: claim nothing, so the slots stay unhandled (the next start catches them up by policy).
    if (this.stopping.signal.aborted) return;
    if (!this.active.has(s.name)) {
      this.enqueue(s, async () => {
        for (const { slot, trigger } of slots) {
          if (this.stopping.signal.aborted) break;
          await this.slots.handleClaim(s, slot, trigger, await this.slots.claim(s, slot));
        }
      });
      return;
    }
    // Running here: a new slot is claimed now; busy (the usual case) records the skip at once.
    for (const { slot, trigger } of slots) {
      if (this.stopping.signal.aborted) break;
      const claim = await this.slots.claim(s, slot);
      if (claim.kind === 'claimed') this.enqueue(s, () => this.slots.handleClaim(s, slot, trigger, claim));
      else await this.slots.handleClaim(s, slot, trigger, claim);
    }
  }

  /** Runs `work` after the schedule's current work here, never blocking the tick. */
  private enqueue(s: Schedule, work: () => Promise<void>): void {
    const chain: Promise<void> = (this.active.get(s.name) ?? Promise.resolve())
      .then(work)
      .catch((err: unknown) => this.deps.logger.error('schedule run failed', { schedule: s.name, error: (err as Error).message }))
      .finally(() => {
        if (this.active.get(s.name) === chain) this.active.delete(s.name);
      });
    this.active.set(s.name, chain);
  }

  /** Renews our locks and daemon record; a lock we hold for a running job but failed to renew was taken from us. */
  private async beat(): Promise<void> {
    const { store, clock, logger } = this.deps;
    try {
      const renewed = new Set(await store.heartbeat(this.options.owner, clock.now()));
      for (const name of this.jobs.keys()) {
        if (!renewed.has(name)) logger.error('lost the lock of a running schedule (heartbeats too late?)', { schedule: name });
      }
      await this.reapDeadDaemons();
    } catch (err) {
      logger.warn('heartbeat failed', { error: (err as Error).message });
    }
  }

  /** Forgets daemons that are dead (process gone on this host, or silent past lockStaleMs), marking their runs interrupted. */
  private async reapDeadDaemons(): Promise<void> {
    const { store, clock, logger } = this.deps;
    const now = clock.now();
    for (const d of await store.daemons()) {
      if (d.owner === this.options.owner) continue;
      const alive = this.deps.isAlive?.(d);
      if (alive === true || (alive === undefined && !isLockStale(d.heartbeatAt, now, this.options.lockStaleMs))) continue;
      const { abandoned } = await settleAbandonedRuns(this.deps, d.owner);
      for (const lock of await store.locks()) if (lock.owner === d.owner) await store.release(lock.name, d.owner);
      await store.unregisterDaemon(d.owner);
      logger.warn('a daemon on this catalog died; released its locks', { daemon: d.owner, abandoned: abandoned.length });
    }
  }

  private waitMs(): number {
    const { pollMs } = this.options;
    if (this.nextDue === undefined || !Number.isFinite(this.nextDue)) return pollMs;
    return Math.min(pollMs, Math.max(10, this.nextDue - this.deps.clock.now().getTime() + 5));
  }

  /** Waits for the running jobs; past `timeoutMs` cancels them and waits for them to stop. */
  private async drain(timeoutMs: number): Promise<void> {
    this.stopping.abort();
    if (this.active.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = Number.isFinite(timeoutMs)
      ? new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)))
      : new Promise<never>(() => undefined);
    const result = await Promise.race([this.idle().then(() => 'idle' as const), timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.deps.logger.warn('running jobs did not finish in time; cancelling them', { jobs: [...this.jobs.keys()] });
      for (const job of this.jobs.values()) job.cancel();
      await this.idle();
    }
  }

  /**
   * After the drain nothing of ours runs: a run of ours still 'running' is one whose outcome could
   * not be recorded (the store failed at its finishRun); it is marked interrupted, never left running.
   */
  private async abandonLeftovers(): Promise<void> {
    const { store, clock, logger } = this.deps;
    try {
      const { abandoned } = await settleAbandonedRuns(this.deps, this.options.owner);
      if (abandoned.length > 0) logger.warn('runs whose outcome could not be recorded were marked interrupted', { abandoned: abandoned.length });
    } catch (err) {
      logger.error('could not mark unfinished runs interrupted', { error: (err as Error).message });
    }
  }

  private sleep(ms: number, signal: AbortSignal): Promise<boolean> {
    return sleepUnlessAborted(this.deps.sleep, ms, signal);
  }
}
