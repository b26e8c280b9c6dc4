import type { Clock } from '../ports/clock.js';
import type { JobQueue, QueueStats } from '../ports/job-queue.js';
import type { RunOutcome } from '../ports/schedule-history.js';
import type { DaemonInfo } from '../ports/scheduler-daemons.js';
import type { ScheduleStore } from '../ports/schedule-store.js';
import { loadSchedules, type ScheduleSources } from './schedule-definitions.js';

export interface FleetStatusView {
  at: Date;
  /** Workers and schedulers registered, each alive when its heartbeat is younger than the lock timeout. */
  workers: (DaemonInfo & { alive: boolean })[];
  schedulers: (DaemonInfo & { alive: boolean })[];
  queue: QueueStats;
  /** Per source: its newest success over all its schedules, and the last outcome. */
  sources: { source: string; schedules: string[]; lastSuccessAt?: Date; lastOutcome?: RunOutcome; consecutiveFailures: number; running: string[] }[];
}

export interface FleetStatusDeps extends Omit<ScheduleSources, 'store'> {
  store: ScheduleStore;
  queue: () => Promise<JobQueue>;
  clock: Clock;
  /** A process whose heartbeat is older than this is reported dead. */
  staleMs: number;
}

/** `dbbackup fleet status`: what the whole fleet is doing, read from the shared store and the queue. */
export class FleetStatus {
  constructor(private readonly deps: FleetStatusDeps) {}

  async execute(): Promise<FleetStatusView> {
    const { store, clock } = this.deps;
    const now = clock.now();
    const queue = await this.deps.queue();
    const [daemons, states, locks, stats, { schedules }] = await Promise.all([store.daemons(), store.states(), store.locks(), queue.stats(now), loadSchedules({ ...this.deps, store })]);
    const alive = (d: DaemonInfo) => ({ ...d, alive: now.getTime() - d.heartbeatAt.getTime() <= this.deps.staleMs });
    const stateOf = new Map(states.map((s) => [s.name, s]));
    const bySource = new Map<string, FleetStatusView['sources'][number]>();
    for (const s of schedules) {
      const entry = bySource.get(s.source) ?? { source: s.source, schedules: [], consecutiveFailures: 0, running: [] };
      entry.schedules.push(s.name);
      const st = stateOf.get(s.name);
      if (st?.lastSuccessAt && (!entry.lastSuccessAt || st.lastSuccessAt > entry.lastSuccessAt)) entry.lastSuccessAt = st.lastSuccessAt;
      if (st?.lastOutcome) entry.lastOutcome = st.lastOutcome;
      entry.consecutiveFailures = Math.max(entry.consecutiveFailures, st?.consecutiveFailures ?? 0);
      const lock = locks.find((l) => l.name === s.name);
      if (lock) entry.running.push(lock.owner);
      bySource.set(s.source, entry);
    }
    return {
      at: now,
      workers: daemons.filter((d) => d.role === 'worker').map(alive),
      schedulers: daemons.filter((d) => d.role !== 'worker').map(alive),
      queue: stats,
      sources: [...bySource.values()].sort((a, b) => a.source.localeCompare(b.source)),
    };
  }
}
