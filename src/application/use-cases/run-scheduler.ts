import { isRetryableFailure, isLockStale, nextRunOf, planDue, retryDelay, type RunTrigger, type Schedule, type SlotSpan } from '../../domain/schedule.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { Notifier, NotificationThrottle, OutcomeEvent } from '../ports/notifier.js';
import type { JobOutcome, RunningJob, ScheduleJobRunner } from '../ports/schedule-job-runner.js';
import type { ClaimResult } from '../ports/schedule-locks.js';
import type { DaemonInfo } from '../ports/scheduler-daemons.js';
import type { ScheduleStore } from '../ports/schedule-store.js';
import { notifyAll } from '../services/notify.js';
import { loadSchedules, type ScheduleSources } from './schedule-definitions.js';

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

export interface RunSchedulerDeps extends ScheduleSources {
  /** Every scheduler port: states and locks decide a slot, history records it, daemons are reaped. */
  store: ScheduleStore;
  clock: Clock;
  runner: ScheduleJobRunner;
  logger: Logger;
  notifiers: Notifier[];
  throttle?: NotificationThrottle;
  /** True/false when it can tell whether a daemon process is alive (same host), else undefined. */
  isAlive?: (daemon: DaemonInfo) => boolean | undefined;
  /** Called after every finished run (writes the metrics file). */
  onRunFinished?: () => Promise<void>;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface SchedulerSummary {
  runs: number;
  failures: number;
  skipped: number;
}

/**
 * `schedule run`: the daemon loop. Each tick plans every schedule's due and missed slots
 * (planDue), claims each slot through the store (so two daemons never run one slot, and a
 * schedule never overlaps itself), runs it through the job runner with retries, records the
 * outcome and notifies. On stop (the signal) it starts nothing new from that moment (a slot
 * claimed but not yet started is recorded as skipped), lets running jobs finish for stopTimeoutMs,
 * then cancels them, and leaves no run of its own 'running'; `once` runs what is due now and returns.
 */
export class RunScheduler {
  private readonly active = new Map<string, Promise<void>>();
  private readonly jobs = new Map<string, RunningJob>();
  private readonly stopping = new AbortController();
  private readonly summary: SchedulerSummary = { runs: 0, failures: 0, skipped: 0 };
  private nextDue: number | undefined;

  constructor(
    private readonly deps: RunSchedulerDeps,
    private readonly options: SchedulerOptions,
  ) {}

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
        const plan = planDue(s, {
          lastSlot: state.lastSlot,
          now,
          missedBefore: missedBefore ?? new Date(now.getTime() - this.options.lateToleranceMs),
          graceMs: this.options.graceMs,
        });
        if (!plan.handledUpTo) continue;
        if (!enabled) {
          await store.markHandled(s.name, plan.handledUpTo);
          continue;
        }
        if (plan.missed && (await store.markHandled(s.name, plan.missed.last))) await this.recordMissed(s, plan.missed, now, missedBefore !== undefined);
        if (plan.coalesced && (await store.markHandled(s.name, plan.coalesced.last))) await this.recordCoalesced(s, plan.coalesced, plan.handledUpTo, now);
        if (plan.run.length > 0) await this.launch(s, plan.run);
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
          await this.handleClaim(s, slot, trigger, await this.claim(s, slot));
        }
      });
      return;
    }
    // Running here: a new slot is claimed now; busy (the usual case) records the skip at once.
    for (const { slot, trigger } of slots) {
      if (this.stopping.signal.aborted) break;
      const claim = await this.claim(s, slot);
      if (claim.kind === 'claimed') this.enqueue(s, () => this.handleClaim(s, slot, trigger, claim));
      else await this.handleClaim(s, slot, trigger, claim);
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

  private claim(s: Schedule, slot: Date): Promise<ClaimResult> {
    const now = this.deps.clock.now();
    return this.deps.store.claim({
      name: s.name,
      slot,
      owner: this.options.owner,
      now,
      staleBefore: new Date(now.getTime() - this.options.lockStaleMs),
    });
  }

  private async handleClaim(s: Schedule, slot: Date, trigger: RunTrigger, claim: ClaimResult): Promise<void> {
    const { store, logger, clock } = this.deps;
    if (claim.kind === 'taken') {
      logger.debug('slot already handled by another daemon', { schedule: s.name, slot: slot.toISOString() });
      return;
    }
    if (claim.kind === 'busy') {
      const holder = claim.holder;
      const note = `overlap: the previous run${holder.slot ? ` (for ${holder.slot.toISOString()})` : ''} by ${holder.owner} is still in progress`;
      await store.recordRun({ ...this.runBase(s, slot, trigger), startedAt: clock.now(), finishedAt: clock.now(), outcome: 'skipped', attempts: 0, note });
      this.summary.skipped++;
      logger.warn('run skipped: the previous one is still running', { schedule: s.name, slot: slot.toISOString(), holder: holder.owner });
      return;
    }
    if (claim.tookOverFrom) {
      const abandoned = await store.abandonRuns(claim.tookOverFrom, clock.now(), s.name);
      logger.warn('took over a stale lock (its owner stopped renewing it)', { schedule: s.name, previousOwner: claim.tookOverFrom, abandoned });
    }
    try {
      // Stop began while the slot was being claimed: it is ours and handled, so say why it did not run.
      // No await between this check and startRun: a run either starts before the stop, or not at all.
      if (this.stopping.signal.aborted) await this.recordNotStarted(s, slot, trigger);
      else await this.runClaimed(s, slot, trigger);
    } finally {
      await store.release(s.name, this.options.owner);
    }
  }

  private async runClaimed(s: Schedule, slot: Date, trigger: RunTrigger): Promise<void> {
    const { store, logger, clock, runner } = this.deps;
    const startedAt = clock.now();
    const runId = await store.startRun({ ...this.runBase(s, slot, trigger), startedAt, outcome: 'running', attempts: 0 });
    const log = logger.child({ schedule: s.name, task: s.task, source: s.source, slot: slot.toISOString(), run: runId });
    log.info('run started', { trigger });
    let outcome: JobOutcome;
    let attempts = 0;
    for (;;) {
      attempts++;
      const job = runner.start({ id: `${s.name}@${slot.toISOString()}#${attempts}`, schedule: s.name, task: s.task, source: s.source, kind: s.kind, slot });
      this.jobs.set(s.name, job);
      outcome = await job.done;
      this.jobs.delete(s.name);
      const code = outcome.error?.code ?? 'E_INTERNAL';
      if (outcome.outcome !== 'failure' || attempts > this.options.retries || !isRetryableFailure(code) || this.stopping.signal.aborted) break;
      const delay = retryDelay(attempts, this.options.retryDelayMs);
      log.warn('attempt failed; retrying', { attempt: attempts, code, error: outcome.error?.message, retryInMs: delay });
      if (!(await this.sleep(delay, this.stopping.signal))) break;
    }
    const finishedAt = clock.now();
    const durationMs = finishedAt.getTime() - startedAt.getTime();
    await store.finishRun(runId, {
      finishedAt,
      outcome: outcome.outcome,
      attempts,
      backupId: outcome.backupId,
      errorCode: outcome.error?.code,
      errorMessage: outcome.error?.message,
      durationMs,
      storedSize: outcome.storedSize,
    });
    this.summary.runs++;
    if (outcome.outcome !== 'success') this.summary.failures++;
    const fields = { outcome: outcome.outcome, attempts, durationMs, backupId: outcome.backupId, code: outcome.error?.code, error: outcome.error?.message };
    if (outcome.outcome === 'success') log.info('run finished', fields);
    else log.error('run failed', fields);
    await this.notify(s, outcome, durationMs);
    await this.deps.onRunFinished?.().catch((err: unknown) => log.warn('after-run hook failed', { error: (err as Error).message }));
  }

  private runBase(s: Schedule, slot: Date, trigger: RunTrigger) {
    return { schedule: s.name, task: s.task, source: s.source, slot, trigger, owner: this.options.owner };
  }

  private async recordNotStarted(s: Schedule, slot: Date, trigger: RunTrigger): Promise<void> {
    const now = this.deps.clock.now();
    const note = 'not started: the scheduler was stopping when this slot fell due';
    await this.deps.store.recordRun({ ...this.runBase(s, slot, trigger), startedAt: now, finishedAt: now, outcome: 'skipped', attempts: 0, note });
    this.summary.skipped++;
    this.deps.logger.warn('run not started: the scheduler is stopping', { schedule: s.name, slot: slot.toISOString() });
  }

  /** One skipped record per slot folded into the run for `into` (a tick more than one period late). */
  private async recordCoalesced(s: Schedule, slots: SlotSpan, into: Date, now: Date): Promise<void> {
    const why = `folded into the run for ${into.toISOString()}: the scheduler looked more than one period late (machine busy or suspended)`;
    await this.recordEach(s, slots, 'schedule', 'skipped', now, why);
    this.summary.skipped += slots.count;
    this.deps.logger.warn('late tick: due runs folded into the newest', { schedule: s.name, count: slots.count, first: slots.first.toISOString(), last: slots.last.toISOString() });
  }

  /** One missed record per slot that will not run: no daemon was running then (`atStart`), or a tick came past the late tolerance. */
  private async recordMissed(s: Schedule, missed: SlotSpan, now: Date, atStart: boolean): Promise<void> {
    const why = atStart
      ? `missed while no daemon was running (catch-up: ${s.catchUp})`
      : `missed: the scheduler looked at it more than ${this.options.lateToleranceMs} ms late (machine busy or suspended; catch-up: ${s.catchUp})`;
    await this.recordEach(s, missed, 'catch-up', 'missed', now, why);
    this.deps.logger.warn('runs missed', { schedule: s.name, count: missed.count, first: missed.first.toISOString(), last: missed.last.toISOString(), lateTick: !atStart });
  }

  /** A history row for every slot of `span`, each with its own slot, so that no slot goes unaccounted for. */
  private async recordEach(s: Schedule, span: SlotSpan, trigger: RunTrigger, outcome: 'skipped' | 'missed', now: Date, why: string): Promise<void> {
    for (const [k, slot] of span.slots.entries()) {
      const last = k === span.slots.length - 1;
      const note = `${why}${last ? ` (${span.count}${span.more ? '+' : ''} slot(s) from ${span.first.toISOString()} to ${span.last.toISOString()}${span.more ? ', more after it not listed' : ''})` : ''}`;
      await this.deps.store.recordRun({ ...this.runBase(s, slot, trigger), startedAt: now, finishedAt: now, outcome, attempts: 0, note });
    }
  }

  private async notify(s: Schedule, o: JobOutcome, durationMs: number): Promise<void> {
    if (o.outcome === 'interrupted' || this.deps.notifiers.length === 0) return;
    const now = this.deps.clock.now();
    const event: OutcomeEvent = {
      outcome: o.outcome,
      task: s.task,
      source: s.source,
      kind: o.kind ?? s.kind,
      backupId: o.backupId,
      repository: o.repository,
      storedSize: o.storedSize,
      rawSize: o.rawSize,
      durationMs,
      error: o.error,
      at: now.toISOString(),
      host: this.options.host,
    };
    await notifyAll(this.deps.notifiers, event, { logger: this.deps.logger, throttle: this.deps.throttle, now });
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
      const abandoned = await store.abandonRuns(d.owner, now);
      for (const lock of await store.locks()) if (lock.owner === d.owner) await store.release(lock.name, d.owner);
      await store.unregisterDaemon(d.owner);
      logger.warn('a daemon on this catalog died; released its locks', { daemon: d.owner, abandoned });
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
      const abandoned = await store.abandonRuns(this.options.owner, clock.now());
      if (abandoned > 0) logger.warn('runs whose outcome could not be recorded were marked interrupted', { abandoned });
    } catch (err) {
      logger.error('could not mark unfinished runs interrupted', { error: (err as Error).message });
    }
  }

  /** Sleeps; false when `signal` ended the wait early. */
  private async sleep(ms: number, signal: AbortSignal): Promise<boolean> {
    const sleep = this.deps.sleep ?? defaultSleep;
    try {
      await sleep(ms, signal);
      return !signal.aborted;
    } catch {
      return false;
    }
  }
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
