import { describe, expect, it } from 'vitest';
import type { JobOutcome, RunningJob, ScheduledJob, ScheduleJobRunner } from '../../../src/application/ports/schedule-job-runner.js';
import { RunQueuedSlot } from '../../../src/application/use-cases/run-queued-slot.js';
import type { ScheduleDefinition } from '../../../src/domain/schedule.js';
import { silentLogger } from '../../helpers/fakes.js';
import { MemoryScheduleStore } from './schedule-memory-store.js';

const t = (hhmmss: string) => new Date(`2026-11-25T${hhmmss}Z`);
const def: ScheduleDefinition = { name: 'app-nightly', cron: '* * * * *', task: 'backup', source: 'app', timezone: 'UTC', origin: 'config' };

class Runner implements ScheduleJobRunner {
  started: ScheduledJob[] = [];
  start(job: ScheduledJob): RunningJob {
    this.started.push(job);
    return { done: Promise.resolve<JobOutcome>({ outcome: 'success', backupId: `B${this.started.length}` }), cancel: () => undefined };
  }
  async close() {}
}

function worker(store: MemoryScheduleStore, clock: { ms: number }, owner: string, runner = new Runner()) {
  const use = new RunQueuedSlot(
    { store, clock: { now: () => new Date(clock.ms) }, runner, logger: silentLogger, notifiers: [], configured: () => [def], defaultZone: 'UTC' },
    { owner, host: 'h', graceMs: 3_600_000, lateToleranceMs: 60_000, lockStaleMs: 30_000, retries: 0, retryDelayMs: 1000 },
    new AbortController().signal,
  );
  return { use, runner };
}

describe('RunQueuedSlot (a fleet worker\'s handling of one queue delivery)', () => {
  it('runs a slot once however many workers get it', async () => {
    const store = new MemoryScheduleStore();
    await store.ensureState(def.name, t('10:00:30'));
    const clock = { ms: t('10:01:00').getTime() + 50 };
    const a = worker(store, clock, 'A');
    const b = worker(store, clock, 'B');
    expect(await a.use.execute({ schedule: def.name, slot: t('10:01:00'), id: 'j1' })).toEqual({ kind: 'done' });
    expect(await b.use.execute({ schedule: def.name, slot: t('10:01:00'), id: 'j1' })).toEqual({ kind: 'done' });
    expect(a.runner.started.length + b.runner.started.length).toBe(1);
    expect((await store.history({ limit: 10 })).map((r) => `${r.outcome}@${r.slot?.toISOString()}`)).toEqual(['success@2026-11-25T10:01:00.000Z']);
  });

  it('a late delivery records the slots it passed (none lost) and runs the newest', async () => {
    const store = new MemoryScheduleStore();
    await store.ensureState(def.name, t('10:00:30'));
    const clock = { ms: t('10:05:10').getTime() };
    const a = worker(store, clock, 'A');
    await a.use.execute({ schedule: def.name, slot: t('10:01:00'), id: 'j1' });
    const rows = (await store.history({ limit: 10 })).reverse();
    expect(rows.map((r) => `${r.slot?.toISOString().slice(11, 16)} ${r.outcome}`)).toEqual(['10:01 missed', '10:02 missed', '10:03 missed', '10:04 missed', '10:05 success']);
  });

  it('a redelivery waits while the run\'s holder lives, then takes the slot over from a dead one', async () => {
    const store = new MemoryScheduleStore();
    await store.ensureState(def.name, t('10:00:30'));
    const slot = t('10:01:00');
    // Worker A claimed the slot and started its run, then died (no heartbeat after 10:01:00).
    expect(await store.claim({ name: def.name, slot, owner: 'A', now: slot, staleBefore: t('10:00:00') })).toEqual({ kind: 'claimed' });
    await store.startRun({ schedule: def.name, task: 'backup', source: 'app', slot, trigger: 'schedule', owner: 'A', startedAt: slot, outcome: 'running', attempts: 0 });
    const clock = { ms: t('10:01:20').getTime() };
    const b = worker(store, clock, 'B');
    const first = await b.use.execute({ schedule: def.name, slot, id: 'j1' });
    expect(first).toEqual({ kind: 'retry', afterMs: 10_100 });
    expect(b.runner.started).toHaveLength(0);
    clock.ms = t('10:01:40').getTime();
    expect(await b.use.execute({ schedule: def.name, slot, id: 'j1' })).toEqual({ kind: 'done' });
    expect(b.runner.started).toHaveLength(1);
    const rows = (await store.history({ limit: 10 })).reverse();
    expect(rows.map((r) => `${r.owner} ${r.outcome}`)).toEqual(['A interrupted', 'B success']);
    expect(await store.locks()).toEqual([]);
  });
});
