import type { RunTrigger } from '../../domain/schedule.js';
import type { QueuedSlot, SlotDisposition } from '../ports/job-queue.js';
import type { SchedulerSummary } from '../ports/schedule-daemon.js';
import { loadSchedules, ScheduleCache, type ScheduleSources } from './schedule-definitions.js';
import { ScheduleSlots, type SlotRunDeps, type SlotRunOptions } from './schedule-slots.js';

export interface RunQueuedSlotDeps extends Omit<ScheduleSources, 'store'>, SlotRunDeps {}

/**
 * A fleet worker's handling of one queue delivery: the delivery is a tick for its schedule. The
 * schedule's slots up to now are planned as the daemon plans them (missed and coalesced slots
 * recorded, catch-up policy), each due slot is claimed in the shared store (one run per slot, never
 * two of a schedule at once: a busy slot is recorded as skipped) and run through the same job
 * runner and use-cases as the daemon's. A delivery for a slot that was claimed already is a
 * redelivery (its worker stopped answering): a stale lock on that very slot is taken over and the
 * slot runs again; a live one means "later".
 */
export class RunQueuedSlot {
  private readonly slots: ScheduleSlots;
  private readonly compiled = new ScheduleCache();

  constructor(
    private readonly deps: RunQueuedSlotDeps,
    private readonly options: SlotRunOptions,
    stopping: AbortSignal,
  ) {
    this.slots = new ScheduleSlots(deps, options, stopping);
  }

  get summary(): SchedulerSummary {
    return this.slots.summary;
  }

  async execute(delivery: QueuedSlot): Promise<SlotDisposition> {
    const { store, clock, logger } = this.deps;
    const { schedules } = await loadSchedules({ ...this.deps, store }, this.compiled);
    const s = schedules.find((x) => x.name === delivery.schedule);
    if (!s) {
      logger.warn('the queue fired a schedule the config no longer has; ignored', { schedule: delivery.schedule });
      return { kind: 'done' };
    }
    const now = clock.now();
    // A schedule the workers have not seen yet starts just before this slot (the publisher creates states first).
    const state = (await store.states()).find((x) => x.name === s.name) ?? (await store.ensureState(s.name, new Date(delivery.slot.getTime() - 1)));
    const enabled = state.enabled ?? s.enabled ?? true;
    const due: { slot: Date; trigger: RunTrigger }[] = await this.slots.plan(s, state, { enabled, now });
    for (const { slot, trigger } of due) await this.slots.handleClaim(s, slot, trigger, await this.slots.claim(s, slot));
    if (!enabled || due.some((d) => d.slot.getTime() === delivery.slot.getTime())) return { kind: 'done' };
    const reclaim = await store.reclaim({
      name: s.name,
      slot: delivery.slot,
      owner: this.options.owner,
      now: clock.now(),
      staleBefore: new Date(clock.now().getTime() - this.options.lockStaleMs),
    });
    if (reclaim.kind === 'busy') {
      // Ask again just after the holder's lock would go stale (it renews it while it lives).
      const staleIn = reclaim.holder.heartbeatAt.getTime() + this.options.lockStaleMs - clock.now().getTime();
      return { kind: 'retry', afterMs: Math.min(this.options.lockStaleMs, Math.max(250, staleIn + 100)) };
    }
    if (reclaim.kind === 'claimed') {
      logger.warn('a delivery came again after its worker stopped answering; running its slot again', { schedule: s.name, slot: delivery.slot.toISOString() });
      await this.slots.handleClaim(s, delivery.slot, 'schedule', reclaim);
    }
    return { kind: 'done' };
  }

  /** The schedules running here now. */
  running(): string[] {
    return [...this.slots.jobs.keys()];
  }

  /** Cancels the attempts running here (a stop that ran out of time); each still records its outcome. */
  cancel(): void {
    for (const job of this.slots.jobs.values()) job.cancel();
  }
}
