import { isRetryableFailure, planDue, retryDelay, type RunTrigger, type Schedule, type SlotSpan } from '../../domain/schedule.js';
import type { Clock } from '../ports/clock.js';
import type { CompletedBackups } from '../ports/completed-backups.js';
import type { Logger } from '../ports/logger.js';
import type { Notifier, NotificationThrottle, OutcomeEvent } from '../ports/notifier.js';
import type { JobOutcome, RunningJob, ScheduleJobRunner } from '../ports/schedule-job-runner.js';
import type { SchedulerSummary } from '../ports/schedule-daemon.js';
import type { ClaimResult } from '../ports/schedule-locks.js';
import type { ScheduleState } from '../ports/schedule-states.js';
import type { ScheduleStore } from '../ports/schedule-store.js';
import { settleAbandonedRuns } from '../services/abandoned-runs.js';
import { notifyAll } from '../services/notify.js';

/** What running one slot of a schedule needs (the local daemon and a fleet worker alike). */
export interface SlotRunDeps {
  store: ScheduleStore;
  clock: Clock;
  runner: ScheduleJobRunner;
  logger: Logger;
  notifiers: Notifier[];
  throttle?: NotificationThrottle;
  /** Called after every finished run (writes the metrics file). */
  onRunFinished?: () => Promise<void>;
  /** Where a dead owner's complete backups are found (its runs are then recorded as they ended, see settleAbandonedRuns). */
  backups?: CompletedBackups;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface SlotRunOptions {
  /** Lock owner and history column: the daemon or worker process (host:pid:random). */
  owner: string;
  host: string;
  lateToleranceMs: number;
  graceMs: number;
  lockStaleMs: number;
  retries: number;
  retryDelayMs: number;
}

/**
 * The part of scheduling that is the same wherever the decision is taken: plan a schedule's slots
 * (missed, coalesced, due), claim a slot through the store (exactly once, never overlapping),
 * run it with retries, record the outcome and notify. RunScheduler (one machine's daemon) and
 * RunQueuedSlot (a fleet worker) both drive it; `stopping` stops it from starting anything new.
 */
export class ScheduleSlots {
  /** Attempts running now, by schedule name. */
  readonly jobs = new Map<string, RunningJob>();
  readonly summary: SchedulerSummary = { runs: 0, failures: 0, skipped: 0 };

  constructor(
    private readonly deps: SlotRunDeps,
    private readonly options: SlotRunOptions,
    private readonly stopping: AbortSignal,
  ) {}

  /**
   * Records `s`'s missed and coalesced slots up to `now` and returns the slots to run (oldest first).
   * Slots before `missedBefore` (given at start: before the daemon started) count as missed, else
   * those more than lateToleranceMs late; a disabled schedule only moves past its slots.
   */
  async plan(s: Schedule, state: ScheduleState, at: { enabled: boolean; now: Date; missedBefore?: Date }): Promise<{ slot: Date; trigger: RunTrigger }[]> {
    const { store } = this.deps;
    const { enabled, now } = at;
    const atStart = at.missedBefore !== undefined;
    const missedBefore = at.missedBefore ?? new Date(now.getTime() - this.options.lateToleranceMs);
    const plan = planDue(s, { lastSlot: state.lastSlot, now, missedBefore, graceMs: this.options.graceMs });
    if (!plan.handledUpTo) return [];
    if (!enabled) {
      await store.markHandled(s.name, plan.handledUpTo);
      return [];
    }
    if (plan.missed && (await store.markHandled(s.name, plan.missed.last))) await this.recordMissed(s, plan.missed, now, atStart);
    if (plan.coalesced && (await store.markHandled(s.name, plan.coalesced.last))) await this.recordCoalesced(s, plan.coalesced, plan.handledUpTo, now);
    return plan.run;
  }

  claim(s: Schedule, slot: Date): Promise<ClaimResult> {
    const now = this.deps.clock.now();
    return this.deps.store.claim({ name: s.name, slot, owner: this.options.owner, now, staleBefore: new Date(now.getTime() - this.options.lockStaleMs) });
  }

  /** Acts on a claim: nothing (taken), a skip record (busy), or the run (claimed; the lock is released after). */
  async handleClaim(s: Schedule, slot: Date, trigger: RunTrigger, claim: ClaimResult): Promise<void> {
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
    if (this.jobs.has(s.name)) {
      // "claimed" while this process still runs the schedule (a resent claim, or our own lock gone
      // stale): never a second run at once; the slot gets its skip record.
      const note = 'overlap: the previous run in this process is still in progress';
      await store.recordRun({ ...this.runBase(s, slot, trigger), startedAt: clock.now(), finishedAt: clock.now(), outcome: 'skipped', attempts: 0, note });
      this.summary.skipped++;
      return;
    }
    if (claim.tookOverFrom) {
      const { abandoned, completed } = await settleAbandonedRuns(this.deps, claim.tookOverFrom, s.name);
      logger.warn('took over a stale lock (its owner stopped renewing it)', { schedule: s.name, previousOwner: claim.tookOverFrom, abandoned: abandoned.length });
      if (completed.some((r) => r.slot?.getTime() === slot.getTime())) {
        // This very slot (a redelivery) got its backup before its worker died: it is done, never run twice.
        logger.info('the slot was backed up before its worker died; not run again', { schedule: s.name, slot: slot.toISOString() });
        await store.release(s.name, this.options.owner);
        return;
      }
    }
    try {
      // Stop began while the slot was being claimed: it is ours and handled, so say why it did not run.
      // No await between this check and startRun: a run either starts before the stop, or not at all.
      if (this.stopping.aborted) await this.recordNotStarted(s, slot, trigger);
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
      const job = runner.start({ id: `${s.name}@${slot.toISOString()}#${attempts}`, schedule: s.name, task: s.task, source: s.source, kind: s.kind, slot, run: runId });
      this.jobs.set(s.name, job);
      outcome = await job.done;
      this.jobs.delete(s.name);
      const code = outcome.error?.code ?? 'E_INTERNAL';
      if (outcome.outcome !== 'failure' || attempts > this.options.retries || !isRetryableFailure(code) || this.stopping.aborted) break;
      const delay = retryDelay(attempts, this.options.retryDelayMs);
      log.warn('attempt failed; retrying', { attempt: attempts, code, error: outcome.error?.message, retryInMs: delay });
      if (!(await sleepUnlessAborted(this.deps.sleep, delay, this.stopping))) break;
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
      ...(outcome.note !== undefined ? { note: outcome.note } : {}),
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
}

/** Sleeps; false when `signal` ended the wait early. */
export async function sleepUnlessAborted(sleep: SlotRunDeps['sleep'], ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await (sleep ?? defaultSleep)(ms, signal);
    return !signal.aborted;
  } catch {
    return false;
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
