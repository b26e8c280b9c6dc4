// The scheduler daemon under load, in simulated time: `schedules` schedules due every minute for
// `minutes` minutes, on the real catalog store (SQLite, drizzle), with jobs of seeded lengths (some
// longer than a minute, so the next slot finds the previous run still going), seeded failures, and
// a clock that ticks late now and then (a busy or suspended machine). What must hold: no schedule
// ever runs twice at once, every slot of every schedule in the window has exactly one record (ran,
// skipped, missed), and every failed run sends exactly one alert.
import { join } from 'node:path';
import { DrizzleScheduleStore } from '../../src/adapters/catalog/drizzle-schedule-store.js';
import type { Notifier, OutcomeEvent } from '../../src/application/ports/notifier.js';
import type { JobOutcome, RunningJob, ScheduledJob, ScheduleJobRunner } from '../../src/application/ports/schedule-job-runner.js';
import { DEFAULT_SCHEDULER_OPTIONS, RunScheduler } from '../../src/application/use-cases/run-scheduler.js';
import type { ScheduleDefinition } from '../../src/domain/schedule.js';
import { silentLogger } from '../helpers/fakes.js';
import { rng } from './harness.js';

const MINUTE = 60_000;

/** Jobs that end at a simulated time; `settle(now)` ends those due. Counts runs at once per schedule. */
class SimulatedRunner implements ScheduleJobRunner {
  private readonly pending: { endsAt: number; outcome: JobOutcome; settle(o: JobOutcome): void }[] = [];
  private readonly running = new Map<string, number>();
  overlaps: string[] = [];
  started = 0;

  constructor(
    private readonly clock: { ms: number },
    private readonly plan: (job: ScheduledJob) => { ms: number; outcome: JobOutcome },
  ) {}

  start(job: ScheduledJob): RunningJob {
    this.started++;
    const n = (this.running.get(job.schedule) ?? 0) + 1;
    this.running.set(job.schedule, n);
    if (n > 1) this.overlaps.push(`${job.schedule} slot ${job.slot.toISOString()} started while another run of it was going`);
    const { ms, outcome } = this.plan(job);
    let settle!: (o: JobOutcome) => void;
    const done = new Promise<JobOutcome>((resolve) => (settle = resolve)).finally(() => this.running.set(job.schedule, (this.running.get(job.schedule) ?? 1) - 1));
    this.pending.push({ endsAt: this.clock.ms + ms, outcome, settle });
    return { done, cancel: () => settle({ outcome: 'interrupted', error: { code: 'E_INTERRUPTED', message: 'cancelled' } }) };
  }

  /** Ends every job due by now (all with `all`); returns how many. */
  settle(all = false): number {
    const due = this.pending.filter((p) => all || p.endsAt <= this.clock.ms);
    for (const p of due) {
      this.pending.splice(this.pending.indexOf(p), 1);
      p.settle(p.outcome);
    }
    return due.length;
  }

  async close(): Promise<void> {}
}

class CountingNotifier implements Notifier {
  readonly name = 'count';
  readonly throttleMs = 0;
  events: OutcomeEvent[] = [];
  wants(): boolean {
    return true;
  }
  async send(e: OutcomeEvent): Promise<void> {
    this.events.push(e);
  }
}

/** Lets the scheduler's chains (claims, records, starts: real SQLite writes) move on. */
const flush = () => new Promise((r) => setTimeout(r, 2));

export async function daemonLoadTrial(dir: string, seed: number, schedules = 200, minutes = 10): Promise<{ variant: string; what: string; problems: string[] }> {
  const random = rng(seed);
  const start = Date.UTC(2026, 10, 25, 10, 0, 0, 500);
  const clock = { ms: start, now: () => new Date(clock.ms) };
  // Per schedule: a share of long jobs (70–100 s: the next slot finds it running) and of failures (not retryable: one attempt, one alert).
  const long = new Set<string>();
  const failing = new Set<string>();
  const defs: ScheduleDefinition[] = Array.from({ length: schedules }, (_, k) => {
    const name = `s${String(k).padStart(3, '0')}`;
    if (random() < 0.1) long.add(name);
    if (random() < 0.1) failing.add(name);
    return { name, cron: '* * * * *', task: 'backup', source: `src${k}`, timezone: 'UTC', origin: 'config' };
  });
  const runner = new SimulatedRunner(clock, (job) => {
    const ms = long.has(job.schedule) ? 70_000 + Math.floor(random() * 30_000) : 1_000 + Math.floor(random() * 20_000);
    const fails = failing.has(job.schedule) && random() < 0.7;
    return {
      ms,
      outcome: fails ? { outcome: 'failure', error: { code: 'E_CONFIG', message: 'simulated failure' } } : { outcome: 'success', backupId: `b-${job.id}`, storedSize: 1 },
    };
  });
  const notifier = new CountingNotifier();
  const store = new DrizzleScheduleStore(join(dir, `catalog-${seed}.db`));
  const scheduler = new RunScheduler(
    { store, configured: () => defs, defaultZone: 'UTC', clock, runner, logger: silentLogger, notifiers: [notifier], sleep: async () => { await flush(); } },
    // No heartbeats under a simulated clock: locks stay live for the whole run.
    { ...DEFAULT_SCHEDULER_OPTIONS, owner: 'daemon-a', host: 'test', pid: 1, retryDelayMs: 1, heartbeatMs: 3_600_000, lockStaleMs: 24 * 3_600_000 },
  );
  const problems: string[] = [];
  let late = 0;
  try {
    await scheduler.tick();
    const end = start + minutes * MINUTE;
    while (clock.ms < end) {
      // Mostly a tick every few seconds; now and then a late one (up to 2.5 minutes).
      const step = random() < 0.05 ? 61_000 + Math.floor(random() * 90_000) : 2_000 + Math.floor(random() * 8_000);
      if (step > 60_000) late++;
      clock.ms = Math.min(end, clock.ms + step);
      runner.settle();
      await flush();
      await scheduler.tick();
      await flush();
    }
    // The end of the window: every job ends, every chain finishes.
    while (runner.settle(true) > 0 || (await Promise.race([scheduler.idle().then(() => true), flush().then(() => false)])) === false) await flush();
    await scheduler.idle();

    problems.push(...runner.overlaps);
    const runs = await store.history({ limit: 1_000_000 });
    const slotsOf = new Map<string, Date[]>();
    for (const r of runs) {
      if (r.outcome === 'running') problems.push(`${r.schedule} slot ${r.slot?.toISOString()} is still 'running' after every job ended`);
      if (!r.slot) continue;
      slotsOf.set(r.schedule, [...(slotsOf.get(r.schedule) ?? []), r.slot]);
    }
    // Every minute slot after the start and up to the end: exactly one record.
    const expected: number[] = [];
    for (let s = Math.ceil(start / MINUTE) * MINUTE; s <= end; s += MINUTE) expected.push(s);
    for (const d of defs) {
      const got = (slotsOf.get(d.name) ?? []).map((x) => x.getTime()).sort((a, b) => a - b);
      const missing = expected.filter((s) => !got.includes(s));
      const twice = got.filter((s, i) => got.indexOf(s) !== i);
      if (missing.length) problems.push(`${d.name}: no record of slot(s) ${missing.map((s) => new Date(s).toISOString().slice(11, 16)).join(', ')}`);
      if (twice.length) problems.push(`${d.name}: slot(s) recorded twice: ${twice.map((s) => new Date(s).toISOString().slice(11, 16)).join(', ')}`);
      const extra = got.filter((s) => !expected.includes(s));
      if (extra.length) problems.push(`${d.name}: records of slots outside the window: ${extra.map((s) => new Date(s).toISOString()).join(', ')}`);
    }
    // One alert per failed run (and none for a skip or a miss).
    const failures = runs.filter((r) => r.outcome === 'failure').length;
    const alerts = notifier.events.filter((e) => e.outcome === 'failure').length;
    if (alerts !== failures) problems.push(`${failures} failed runs sent ${alerts} failure alerts`);
    const counts = new Map<string, number>();
    for (const r of runs) counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
    const summary = [...counts.entries()].map(([k, v]) => `${k} ${v}`).join(', ');
    if (!counts.get('skipped')) problems.push(`no slot found its previous run still going (the long jobs did not overlap a slot): ${summary}`);
    return { variant: `${schedules} schedules × ${minutes} min`, what: `${schedules} schedules every minute for ${minutes} simulated minutes, ${late} late ticks: ${summary}`, problems };
  } finally {
    store.close();
  }
}
