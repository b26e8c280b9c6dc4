import { describe, expect, it } from 'vitest';
import { compileSchedule, isLockStale, isRetryableFailure, planDue, retryDelay, type CatchUpPolicy } from '../../../src/domain/schedule.js';

const d = (hhmmss: string) => new Date(`2026-11-25T${hhmmss}Z`);
const everyMinute = (catchUp?: CatchUpPolicy) =>
  compileSchedule({ name: 'm', cron: '* * * * *', task: 'backup', source: 'app', origin: 'cli', catchUp, timezone: 'UTC' }, 'UTC');
const HOUR = 3_600_000;
const show = (p: ReturnType<typeof planDue>) => ({
  run: p.run.map((r) => `${r.slot.toISOString().slice(11, 16)} ${r.trigger}`),
  missed: p.missed && `${p.missed.count} ${p.missed.first.toISOString().slice(11, 16)}-${p.missed.last.toISOString().slice(11, 16)}`,
  upTo: p.handledUpTo?.toISOString().slice(11, 16),
});

describe('planDue: regular ticks', () => {
  it('runs nothing before the next slot and the slot once it is due', () => {
    const s = everyMinute();
    const base = { lastSlot: d('10:00:00'), graceMs: 24 * HOUR };
    expect(show(planDue(s, { ...base, now: d('10:00:30'), missedBefore: d('09:59:30') }))).toEqual({ run: [], missed: undefined, upTo: undefined });
    expect(show(planDue(s, { ...base, now: d('10:01:00.5'), missedBefore: d('10:00:00.5') }))).toEqual({ run: ['10:01 schedule'], missed: undefined, upTo: '10:01' });
  });

  it('coalesces slots that fell due during one slow tick into one run of the newest', () => {
    const p = planDue(everyMinute(), { lastSlot: d('10:00:00'), now: d('10:02:10'), missedBefore: d('10:01:10'), graceMs: HOUR });
    expect(show(p)).toEqual({ run: ['10:02 schedule'], missed: '1 10:01-10:01', upTo: '10:02' });
  });

  it('accounts for due slots a late tick folds into the newest (period shorter than the late tolerance)', () => {
    const everySecond = compileSchedule({ name: 's', cron: '* * * * * *', task: 'backup', source: 'app', origin: 'cli', timezone: 'UTC' }, 'UTC');
    const p = planDue(everySecond, { lastSlot: d('10:00:00'), now: d('10:00:04.2'), missedBefore: d('09:59:34.2'), graceMs: HOUR });
    expect(p.run.map((r) => r.slot.toISOString().slice(11, 19))).toEqual(['10:00:04']);
    expect(p.missed).toBeUndefined();
    expect(p.coalesced).toEqual({ count: 3, more: false, first: d('10:00:01'), last: d('10:00:03'), slots: [d('10:00:01'), d('10:00:02'), d('10:00:03')] });
    // An on-time tick folds nothing.
    expect(planDue(everySecond, { lastSlot: d('10:00:03'), now: d('10:00:04.2'), missedBefore: d('09:59:34.2'), graceMs: HOUR }).coalesced).toBeUndefined();
  });
});

describe('planDue: runs missed while the daemon was down', () => {
  const down = (catchUp: CatchUpPolicy | undefined, graceMs = 24 * HOUR) =>
    show(planDue(everyMinute(catchUp), { lastSlot: d('10:00:00'), now: d('10:10:30'), missedBefore: d('10:10:30'), graceMs }));

  it('once (the default): one catch-up run of the newest missed slot, the rest recorded as missed', () => {
    expect(down(undefined)).toEqual({ run: ['10:10 catch-up'], missed: '9 10:01-10:09', upTo: '10:10' });
    expect(down('once')).toEqual(down(undefined));
  });

  it('none: no catch-up run; every missed slot recorded', () => {
    expect(down('none')).toEqual({ run: [], missed: '10 10:01-10:10', upTo: '10:10' });
  });

  it('all: every missed slot within the grace window, oldest first', () => {
    expect(down('all').run).toHaveLength(10);
    expect(down('all', 5 * 60_000)).toEqual({
      run: ['10:06 catch-up', '10:07 catch-up', '10:08 catch-up', '10:09 catch-up', '10:10 catch-up'],
      missed: '5 10:01-10:05',
      upTo: '10:10',
    });
  });

  it('all, more missed slots than the catch-up limit: the newest 50 run, every older one is recorded as missed', () => {
    // Down from 10:00 to 12:00: 120 missed slots (10:01 … 12:00).
    const p = planDue(everyMinute('all'), { lastSlot: d('10:00:00'), now: d('12:00:30'), missedBefore: d('12:00:30'), graceMs: 24 * HOUR });
    expect(p.run).toHaveLength(50);
    expect(p.run[0]!.slot).toEqual(d('11:11:00'));
    expect(p.run.at(-1)!.slot).toEqual(d('12:00:00'));
    expect(p.run.every((r) => r.trigger === 'catch-up')).toBe(true);
    expect(show(p).missed).toBe('70 10:01-11:10');
    expect(p.missed!.more).toBe(false);
    expect(p.handledUpTo).toEqual(d('12:00:00'));
    // Each slot either runs or is recorded, once.
    const all = [...p.missed!.slots, ...p.run.map((r) => r.slot)].map((t) => t.getTime());
    expect(new Set(all).size).toBe(120);
    // A smaller limit moves the line; the grace window still bounds what runs.
    expect(show(planDue(everyMinute('all'), { lastSlot: d('10:00:00'), now: d('12:00:30'), missedBefore: d('12:00:30'), graceMs: 24 * HOUR, maxCatchUp: 3 }))).toEqual({
      run: ['11:58 catch-up', '11:59 catch-up', '12:00 catch-up'],
      missed: '117 10:01-11:57',
      upTo: '12:00',
    });
  });

  it('all, beyond the 1000 listed missed slots: the span ends at the newest slot that does not run', () => {
    // Down a whole day: 1440 slots; 50 run, 1390 do not (1000 listed, the span says more).
    const p = planDue(everyMinute('all'), { lastSlot: new Date('2026-11-24T10:00:00Z'), now: d('10:00:30'), missedBefore: d('10:00:30'), graceMs: 48 * HOUR });
    expect(p.run.map((r) => r.slot.toISOString().slice(11, 16))).toEqual(Array.from({ length: 50 }, (_, k) => new Date(d('09:11:00').getTime() + k * 60_000).toISOString().slice(11, 16)));
    expect(p.missed).toMatchObject({ count: 1000, more: true, first: new Date('2026-11-24T10:01:00Z'), last: d('09:10:00') });
  });

  it('once: a missed slot older than the grace window is not caught up', () => {
    expect(down('once', 10_000)).toEqual({ run: [], missed: '10 10:01-10:10', upTo: '10:10' });
  });

  it('once: no extra catch-up run when a due slot runs anyway', () => {
    const p = planDue(everyMinute('once'), { lastSlot: d('10:00:00'), now: d('10:10:05'), missedBefore: d('10:09:05'), graceMs: HOUR });
    expect(show(p)).toEqual({ run: ['10:10 schedule'], missed: '9 10:01-10:09', upTo: '10:10' });
  });
});

describe('locks and retries', () => {
  it('a lock is stale only when its heartbeat is older than the timeout', () => {
    expect(isLockStale(d('10:00:00'), d('10:00:59'), 60_000)).toBe(false);
    expect(isLockStale(d('10:00:00'), d('10:01:00'), 60_000)).toBe(false);
    expect(isLockStale(d('10:00:00'), d('10:01:00.001'), 60_000)).toBe(true);
  });

  it('retries transient failures only, with a doubling delay', () => {
    expect(isRetryableFailure('E_CONN_REFUSED')).toBe(true);
    expect(isRetryableFailure('E_STORAGE')).toBe(true);
    expect(isRetryableFailure('E_CONFIG')).toBe(false);
    expect(isRetryableFailure('E_UNSUPPORTED')).toBe(false);
    expect([1, 2, 3].map((n) => retryDelay(n, 1000))).toEqual([1000, 2000, 4000]);
  });

  it('rejects a bad definition naming where it is', () => {
    expect(() => compileSchedule({ name: 'x', cron: '0 2 * *', task: 'backup', source: 'a', origin: 'config' }, 'UTC', 'E_CONFIG', 'schedules.0 ("x")')).toThrow(
      /schedules\.0 \("x"\): Invalid cron expression "0 2 \* \*": it has 4 fields/,
    );
    expect(() => compileSchedule({ name: 'x', cron: '@daily', task: 'backup', source: 'a', origin: 'cli', timezone: 'Mars/Olympus' }, 'UTC')).toThrow(/unknown time zone "Mars\/Olympus"/);
  });
});
