import { describe, expect, it } from 'vitest';
import type { Notifier, OutcomeEvent } from '../../../src/application/ports/notifier.js';
import type { JobOutcome, RunningJob, ScheduledJob, ScheduleJobRunner } from '../../../src/application/ports/schedule-job-runner.js';
import { DEFAULT_SCHEDULER_OPTIONS, RunScheduler } from '../../../src/application/use-cases/run-scheduler.js';
import type { ScheduleDefinition } from '../../../src/domain/schedule.js';
import { silentLogger } from '../../helpers/fakes.js';
import { MemoryScheduleStore } from './schedule-memory-store.js';

const t = (hhmmss: string) => new Date(`2026-11-25T${hhmmss}Z`);

class FakeClock {
  constructor(public ms: number) {}
  now = () => new Date(this.ms);
  set(hhmmss: string) {
    this.ms = t(hhmmss).getTime();
  }
  advance(ms: number) {
    this.ms += ms;
  }
}

/** Jobs settle when the test says so (or at once with `auto`); tracks how many run at once per schedule. */
class FakeRunner implements ScheduleJobRunner {
  started: ScheduledJob[] = [];
  pending: { job: ScheduledJob; settle(o: JobOutcome): void }[] = [];
  running = new Map<string, number>();
  maxRunning = 0;
  constructor(public auto?: (job: ScheduledJob, n: number) => JobOutcome) {}
  start(job: ScheduledJob): RunningJob {
    this.started.push(job);
    const n = (this.running.get(job.schedule) ?? 0) + 1;
    this.running.set(job.schedule, n);
    this.maxRunning = Math.max(this.maxRunning, n);
    let settle!: (o: JobOutcome) => void;
    const done = new Promise<JobOutcome>((resolve) => (settle = resolve)).finally(() => this.running.set(job.schedule, (this.running.get(job.schedule) ?? 1) - 1));
    if (this.auto) settle(this.auto(job, this.started.length));
    else this.pending.push({ job, settle });
    return { done, cancel: () => settle({ outcome: 'interrupted', error: { code: 'E_INTERRUPTED', message: 'cancelled' } }) };
  }
  finishAll(o: JobOutcome = { outcome: 'success', backupId: 'B' }) {
    for (const p of this.pending.splice(0)) p.settle(o);
  }
  async close() {}
}

/** A store whose `method` waits, at its first call, until the test opens it (`reached` says it was called). */
class GatedStore extends MemoryScheduleStore {
  reached: Promise<void>;
  open!: () => void;
  constructor(method: 'claim' | 'states' | 'startRun') {
    super();
    let arrive!: () => void;
    this.reached = new Promise((r) => (arrive = r));
    const gate = new Promise<void>((r) => (this.open = r));
    const original = this[method].bind(this) as (...args: unknown[]) => Promise<unknown>;
    let first = true;
    Object.assign(this, {
      [method]: async (...args: unknown[]) => {
        if (first) {
          first = false;
          arrive();
          await gate;
        }
        return original(...args);
      },
    });
  }
}

class RecordingNotifier implements Notifier {
  readonly name = 'rec';
  readonly throttleMs = 0;
  events: OutcomeEvent[] = [];
  wants() {
    return true;
  }
  async send(e: OutcomeEvent) {
    this.events.push(e);
  }
}

const everyMinute = (extra: Partial<ScheduleDefinition> = {}): ScheduleDefinition => ({
  name: 'nightly',
  cron: '* * * * *',
  task: 'backup',
  source: 'app',
  timezone: 'UTC',
  origin: 'config',
  ...extra,
});

function setup(opts: { defs?: ScheduleDefinition[]; store?: MemoryScheduleStore; clock?: FakeClock; runner?: FakeRunner; owner?: string; options?: object } = {}) {
  const store = opts.store ?? new MemoryScheduleStore();
  const clock = opts.clock ?? new FakeClock(t('10:00:00.500').getTime());
  const runner = opts.runner ?? new FakeRunner(() => ({ outcome: 'success', backupId: 'B1', storedSize: 10 }));
  const notifier = new RecordingNotifier();
  const scheduler = new RunScheduler(
    {
      store,
      configured: () => opts.defs ?? [everyMinute()],
      defaultZone: 'UTC',
      clock,
      runner,
      logger: silentLogger,
      notifiers: [notifier],
      sleep: async (ms) => {
        await new Promise((r) => setTimeout(r, 1));
        clock.advance(ms);
      },
    },
    { ...DEFAULT_SCHEDULER_OPTIONS, owner: opts.owner ?? 'A', host: 'test', pid: 1, retryDelayMs: 1, heartbeatMs: 3_600_000, ...opts.options },
  );
  return { store, clock, runner, notifier, scheduler };
}

/** Lets started chains reach the runner (claims and run records are awaited before a job starts). */
const flush = () => new Promise((r) => setTimeout(r, 5));

const outcomes = (store: MemoryScheduleStore) => store.runs.map((r) => `${r.slot?.toISOString().slice(11, 19)} ${r.trigger} ${r.outcome}`);

describe('RunScheduler: due runs', () => {
  it('runs a slot when it falls due, once, and records the outcome', async () => {
    const { scheduler, clock, store, runner, notifier } = setup();
    await scheduler.tick();
    expect(runner.started).toHaveLength(0);
    clock.set('10:01:00.200');
    await scheduler.tick();
    await scheduler.tick();
    await scheduler.idle();
    expect(outcomes(store)).toEqual(['10:01:00 schedule success']);
    expect(store.runs[0]).toMatchObject({ backupId: 'B1', storedSize: 10, attempts: 1, owner: 'A' });
    expect(store.state.get('nightly')).toMatchObject({ lastOutcome: 'success', consecutiveFailures: 0 });
    expect(notifier.events.map((e) => `${e.task} ${e.source} ${e.outcome}`)).toEqual(['backup app success']);
    expect(store.lockRows.size).toBe(0);
  });

  it('a late tick runs the newest due slot and records the ones it folded in (a per-second schedule)', async () => {
    const { scheduler, clock, store, runner } = setup({ defs: [everyMinute({ cron: '* * * * * *' })] });
    await scheduler.tick();
    clock.set('10:00:04.200');
    await scheduler.tick();
    await scheduler.idle();
    expect(runner.started.map((j) => j.slot.toISOString().slice(11, 19))).toEqual(['10:00:04']);
    // One record per folded slot, each with its own slot.
    expect(outcomes(store)).toEqual(['10:00:01 schedule skipped', '10:00:02 schedule skipped', '10:00:03 schedule skipped', '10:00:04 schedule success']);
    for (const r of store.runs.slice(0, 3)) expect(r.note).toMatch(/^folded into the run for .*10:00:04.*more than one period late/);
    expect(store.runs[2]!.note).toMatch(/3 slot\(s\) from .*10:00:01.* to .*10:00:03/);
    expect(store.state.get('nightly')!.lastSlot).toEqual(t('10:00:04'));
  });

  it('skips a disabled schedule without recording anything', async () => {
    const { scheduler, clock, store, runner } = setup({ defs: [everyMinute({ enabled: false })] });
    await scheduler.tick();
    clock.set('10:05:00.200');
    await scheduler.tick();
    expect(runner.started).toHaveLength(0);
    expect(store.runs).toHaveLength(0);
    expect(store.state.get('nightly')!.lastSlot).toEqual(t('10:05:00'));
  });
});

describe('RunScheduler: missed runs at start', () => {
  const downFor10Minutes = async (catchUp?: 'once' | 'all' | 'none') => {
    const store = new MemoryScheduleStore();
    await store.ensureState('nightly', t('10:00:00'));
    const s = setup({ store, defs: [everyMinute({ catchUp })] });
    s.clock.set('10:10:30');
    await s.scheduler.tick(s.clock.now());
    await s.scheduler.idle();
    return s;
  };

  it('once (default): exactly one catch-up run, and one record of what was missed', async () => {
    const { store, runner } = await downFor10Minutes();
    expect(runner.started).toHaveLength(1);
    const missed = ['01', '02', '03', '04', '05', '06', '07', '08', '09'].map((m) => `10:${m}:00 catch-up missed`);
    expect(outcomes(store)).toEqual([...missed, '10:10:00 catch-up success']);
    for (const r of store.runs.slice(0, 9)) expect(r.note).toMatch(/^missed while no daemon was running \(catch-up: once\)/);
    expect(store.runs[8]!.note).toMatch(/9 slot\(s\) from 2026-11-25T10:01:00.000Z to 2026-11-25T10:09:00.000Z/);
  });

  it('none: no run; all: every missed slot, one after another', async () => {
    expect((await downFor10Minutes('none')).runner.started).toHaveLength(0);
    const all = await downFor10Minutes('all');
    expect(all.runner.started.map((j) => j.slot.toISOString().slice(14, 16))).toEqual(['01', '02', '03', '04', '05', '06', '07', '08', '09', '10']);
    expect(all.runner.maxRunning).toBe(1);
  });

  it('two daemons starting together catch up once between them', async () => {
    const store = new MemoryScheduleStore();
    await store.ensureState('nightly', t('10:00:00'));
    const clock = new FakeClock(t('10:10:30').getTime());
    const runner = new FakeRunner(() => ({ outcome: 'success' }));
    const a = setup({ store, clock, runner, owner: 'A' });
    const b = setup({ store, clock, runner, owner: 'B' });
    await Promise.all([a.scheduler.tick(clock.now()), b.scheduler.tick(clock.now())]);
    await Promise.all([a.scheduler.idle(), b.scheduler.idle()]);
    expect(runner.started).toHaveLength(1);
    expect(store.runs.filter((r) => r.outcome === 'missed')).toHaveLength(9);
  });
});

describe('RunScheduler: a late tick (the daemon was running, the machine busy or suspended)', () => {
  it('records every slot it will not run, each with its own slot and the reason', async () => {
    const { scheduler, clock, store, runner } = setup();
    await scheduler.tick();
    clock.set('10:01:00.200');
    await scheduler.tick();
    await scheduler.idle();
    // Suspended for over 4 minutes: 10:02 to 10:05 are past the late tolerance (60 s), 10:06 is due.
    clock.set('10:06:00.500');
    await scheduler.tick();
    await scheduler.idle();
    expect(runner.started.map((j) => j.slot.toISOString().slice(11, 19))).toEqual(['10:01:00', '10:06:00']);
    expect(outcomes(store)).toEqual([
      '10:01:00 schedule success',
      '10:02:00 catch-up missed',
      '10:03:00 catch-up missed',
      '10:04:00 catch-up missed',
      '10:05:00 catch-up missed',
      '10:06:00 schedule success',
    ]);
    for (const r of store.runs.slice(1, 5)) expect(r.note).toMatch(/^missed: the scheduler looked at it more than 60000 ms late/);
    // Every slot from 10:01 to 10:06 has exactly one record.
    expect(new Set(store.runs.map((r) => r.slot!.toISOString())).size).toBe(store.runs.length);
  });
});

describe('RunScheduler: no overlap', () => {
  it('skips and records a slot that falls due while the previous run is still going', async () => {
    const runner = new FakeRunner();
    const { scheduler, clock, store } = setup({ runner });
    await scheduler.tick();
    clock.set('10:01:00.100');
    await scheduler.tick();
    await flush();
    clock.set('10:02:00.100');
    await scheduler.tick();
    expect(runner.started).toHaveLength(1);
    runner.finishAll();
    await scheduler.idle();
    expect(outcomes(store)).toEqual(['10:01:00 schedule success', '10:02:00 schedule skipped']);
    expect(store.runs[1]!.note).toMatch(/overlap: the previous run \(for 2026-11-25T10:01:00.000Z\) by A is still in progress/);
    clock.set('10:03:00.100');
    await scheduler.tick();
    await flush();
    runner.finishAll();
    await scheduler.idle();
    expect(runner.started).toHaveLength(2);
  });

  it('two daemons on one store never run a schedule twice at once', async () => {
    const store = new MemoryScheduleStore();
    const clock = new FakeClock(t('10:00:00.500').getTime());
    const runner = new FakeRunner();
    // No heartbeats under the fake clock: keep the locks live for the whole test.
    const options = { lockStaleMs: 3_600_000 };
    const a = setup({ store, clock, runner, owner: 'A', options });
    const b = setup({ store, clock, runner, owner: 'B', options });
    await a.scheduler.tick();
    for (const s of ['10:01:00.1', '10:02:00.1', '10:03:00.1']) {
      clock.set(s);
      await b.scheduler.tick();
      await a.scheduler.tick();
      await flush();
    }
    expect(runner.maxRunning).toBe(1);
    runner.finishAll();
    await Promise.all([a.scheduler.idle(), b.scheduler.idle()]);
    expect(outcomes(store)).toEqual(['10:01:00 schedule success', '10:02:00 schedule skipped', '10:03:00 schedule skipped']);
  });

  it('takes over a stale lock of a dead owner and marks its run interrupted; a live lock is respected', async () => {
    const store = new MemoryScheduleStore();
    await store.ensureState('nightly', t('10:00:00'));
    store.lockRows.set('nightly', { name: 'nightly', owner: 'dead', slot: t('09:59:00'), acquiredAt: t('09:59:00'), heartbeatAt: t('09:59:50') });
    await store.startRun({ schedule: 'nightly', task: 'backup', source: 'app', trigger: 'schedule', owner: 'dead', startedAt: t('09:59:00'), outcome: 'running', attempts: 1 });
    const { scheduler, clock } = setup({ store, options: { lockStaleMs: 90_000 } });
    clock.set('10:01:00.100');
    await scheduler.tick();
    await scheduler.idle();
    expect(store.runs.map((r) => `${r.owner} ${r.outcome}`)).toEqual(['dead running', 'A skipped']);
    clock.set('10:02:00.100');
    await scheduler.tick();
    await scheduler.idle();
    expect(store.runs.map((r) => `${r.owner} ${r.outcome}`)).toEqual(['dead interrupted', 'A skipped', 'A success']);
  });
});

describe('RunScheduler: failures', () => {
  it('retries a transient failure, then succeeds: one run, one notification', async () => {
    const runner = new FakeRunner((_j, n) => (n < 3 ? { outcome: 'failure', error: { code: 'E_CONN_REFUSED', message: 'refused' } } : { outcome: 'success' }));
    const { scheduler, clock, store, notifier } = setup({ runner });
    await scheduler.tick();
    clock.set('10:01:00.1');
    await scheduler.tick();
    await scheduler.idle();
    expect(store.runs).toHaveLength(1);
    expect(store.runs[0]).toMatchObject({ outcome: 'success', attempts: 3 });
    expect(notifier.events.map((e) => e.outcome)).toEqual(['success']);
  });

  it('after the last retry: a failure in history, consecutive failures counted, one failure notification', async () => {
    const runner = new FakeRunner(() => ({ outcome: 'failure', error: { code: 'E_CONN_REFUSED', message: 'refused' } }));
    const { scheduler, clock, store, notifier } = setup({ runner, options: { retries: 1 } });
    await scheduler.tick();
    for (const s of ['10:01:00.1', '10:02:00.1']) {
      clock.set(s);
      await scheduler.tick();
      await scheduler.idle();
    }
    expect(runner.started).toHaveLength(4);
    expect(store.runs.map((r) => `${r.outcome} ${r.attempts} ${r.errorCode}`)).toEqual(['failure 2 E_CONN_REFUSED', 'failure 2 E_CONN_REFUSED']);
    expect(store.state.get('nightly')!.consecutiveFailures).toBe(2);
    expect(notifier.events.map((e) => `${e.outcome} ${e.error?.code}`)).toEqual(['failure E_CONN_REFUSED', 'failure E_CONN_REFUSED']);
  });

  it('does not retry a final error (config, unsupported)', async () => {
    const runner = new FakeRunner(() => ({ outcome: 'failure', error: { code: 'E_UNSUPPORTED', message: 'prune is not available' } }));
    const { scheduler, clock, store } = setup({ runner, defs: [everyMinute({ task: 'prune' })] });
    await scheduler.tick();
    clock.set('10:01:00.1');
    await scheduler.tick();
    await scheduler.idle();
    expect(store.runs[0]).toMatchObject({ outcome: 'failure', attempts: 1, errorCode: 'E_UNSUPPORTED' });
  });
});

describe('RunScheduler: the daemon loop', () => {
  it('--once runs what is due and returns a summary', async () => {
    const store = new MemoryScheduleStore();
    await store.ensureState('nightly', t('09:58:00'));
    const { scheduler } = setup({ store });
    const summary = await scheduler.execute({ once: true }, new AbortController().signal);
    expect(summary).toEqual({ runs: 1, failures: 0, skipped: 0 });
    expect(store.daemonRows.size).toBe(0);
  });

  it('on stop, lets the running job finish and exits cleanly', async () => {
    const runner = new FakeRunner();
    const store = new MemoryScheduleStore();
    await store.ensureState('nightly', t('09:59:00'));
    const { scheduler } = setup({ runner, store });
    const stop = new AbortController();
    const done = scheduler.execute({}, stop.signal);
    while (runner.started.length === 0) await new Promise((r) => setTimeout(r, 1));
    stop.abort();
    await new Promise((r) => setTimeout(r, 20));
    runner.finishAll();
    expect(await done).toMatchObject({ runs: 1, failures: 0 });
    expect(store.runs.map((r) => r.outcome)).toEqual(['success']);
    expect(store.lockRows.size).toBe(0);
  });

  it('on stop, cancels a job that outlasts the stop timeout (recorded as interrupted)', async () => {
    const runner = new FakeRunner();
    const store = new MemoryScheduleStore();
    await store.ensureState('nightly', t('09:59:00'));
    const { scheduler, notifier } = setup({ runner, store, options: { stopTimeoutMs: 30 } });
    const stop = new AbortController();
    const done = scheduler.execute({}, stop.signal);
    while (runner.started.length === 0) await new Promise((r) => setTimeout(r, 1));
    stop.abort();
    await done;
    expect(store.runs.map((r) => `${r.outcome} ${r.errorCode}`)).toEqual(['interrupted E_INTERRUPTED']);
    expect(notifier.events).toEqual([]);
  });

  it('a stop that arrives while a slot is being claimed starts no run: the slot is recorded as skipped, the lock released', async () => {
    const store = new GatedStore('claim');
    await store.ensureState('nightly', t('09:59:00'));
    const { scheduler, runner } = setup({ store });
    const stop = new AbortController();
    const done = scheduler.execute({}, stop.signal);
    await store.reached;
    stop.abort();
    store.open();
    expect(await done).toMatchObject({ runs: 0, skipped: 1 });
    expect(runner.started).toEqual([]);
    expect(outcomes(store)).toEqual(['10:00:00 catch-up skipped']);
    expect(store.runs[0]!.note).toMatch(/not started: the scheduler was stopping/);
    expect(store.lockRows.size).toBe(0);
  });

  it('a stop that arrives during a tick claims nothing more: the slot stays unhandled for the next start', async () => {
    const store = new GatedStore('states');
    await store.ensureState('nightly', t('09:59:00'));
    const { scheduler, runner } = setup({ store });
    const stop = new AbortController();
    const done = scheduler.execute({}, stop.signal);
    await store.reached;
    stop.abort();
    store.open();
    expect(await done).toEqual({ runs: 0, failures: 0, skipped: 0 });
    expect(runner.started).toEqual([]);
    expect(store.runs).toEqual([]);
    expect(store.state.get('nightly')!.lastSlot).toEqual(t('09:59:00'));
  });

  it('a run started before the stop is let finish and recorded, even when the stop arrives while it is being recorded as started', async () => {
    const store = new GatedStore('startRun');
    await store.ensureState('nightly', t('09:59:00'));
    const runner = new FakeRunner();
    const { scheduler } = setup({ store, runner });
    const stop = new AbortController();
    const done = scheduler.execute({}, stop.signal);
    await store.reached;
    stop.abort();
    store.open();
    while (runner.started.length === 0) await new Promise((r) => setTimeout(r, 1));
    runner.finishAll();
    expect(await done).toMatchObject({ runs: 1, failures: 0 });
    expect(outcomes(store)).toEqual(['10:00:00 catch-up success']);
  });

  it('a run whose outcome the store failed to record is marked interrupted at stop, never left running', async () => {
    const store = new MemoryScheduleStore();
    await store.ensureState('nightly', t('09:59:00'));
    store.finishRun = async () => {
      throw new Error('database is locked');
    };
    const { scheduler } = setup({ store });
    await scheduler.execute({ once: true }, new AbortController().signal);
    expect(store.runs.map((r) => `${r.outcome} ${r.errorCode} ${r.owner}`)).toEqual(['interrupted E_INTERRUPTED A']);
    expect(store.runs[0]!.finishedAt).toBeDefined();
  });

  it('forgets a dead daemon on this host: releases its locks, marks its runs interrupted', async () => {
    const store = new MemoryScheduleStore();
    await store.registerDaemon({ owner: 'old', host: 'test', pid: 99, startedAt: t('09:00:00'), heartbeatAt: t('10:00:00') });
    store.lockRows.set('nightly', { name: 'nightly', owner: 'old', acquiredAt: t('09:59:00'), heartbeatAt: t('10:00:00') });
    await store.startRun({ schedule: 'nightly', task: 'backup', source: 'app', trigger: 'schedule', owner: 'old', startedAt: t('09:59:00'), outcome: 'running', attempts: 1 });
    const s = setup({ store });
    const scheduler = new RunScheduler(
      { ...(s.scheduler as unknown as { deps: object }).deps, isAlive: (d: { pid: number }) => d.pid !== 99 } as never,
      { ...DEFAULT_SCHEDULER_OPTIONS, owner: 'A', host: 'test', pid: 1 },
    );
    await scheduler.execute({ once: true }, new AbortController().signal);
    expect(store.lockRows.size).toBe(0);
    expect(store.runs[0]!.outcome).toBe('interrupted');
    expect([...store.daemonRows.keys()]).toEqual([]);
  });
});
