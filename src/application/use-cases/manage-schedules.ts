import type { BackupKind } from '../../domain/backup-kind.js';
import { DbBackupError } from '../../domain/errors.js';
import { type CatchUpPolicy, compileSchedule, nextRunOf, type Schedule, type ScheduleTask } from '../../domain/schedule.js';
import type { Clock } from '../ports/clock.js';
import type { RunOutcome, ScheduleRun } from '../ports/schedule-history.js';
import type { ScheduleLock } from '../ports/schedule-locks.js';
import type { ScheduleState } from '../ports/schedule-states.js';
import type { DaemonInfo } from '../ports/scheduler-daemons.js';
import type { ScheduleStore } from '../ports/schedule-store.js';
import { loadSchedules, type ScheduleSources } from './schedule-definitions.js';

export interface AddScheduleInput {
  name?: string;
  cron: string;
  task: ScheduleTask;
  source: string;
  kind?: BackupKind;
  timezone?: string;
  catchUp?: CatchUpPolicy;
}

/** One line of `schedule list`. */
export interface ScheduleView {
  name: string;
  origin: 'cli' | 'config';
  cron: string;
  timezone: string;
  task: ScheduleTask;
  source: string;
  kind?: BackupKind;
  catchUp: CatchUpPolicy;
  enabled: boolean;
  nextRun?: Date;
  lastRunAt?: Date;
  lastOutcome?: RunOutcome;
  lastSuccessAt?: Date;
  consecutiveFailures: number;
  /** Set while a daemon holds the schedule's lock. */
  running?: { owner: string; since: Date; heartbeatAt: Date };
}

/** `schedule status`: the schedules with their latest finished run, the daemons, outcome counts. */
export interface SchedulerStatus {
  at: Date;
  daemons: DaemonInfo[];
  schedules: (ScheduleView & { lastRun?: ScheduleRun; lastSuccess?: ScheduleRun })[];
  counts: { schedule: string; outcome: RunOutcome; count: number }[];
  problems: { name: string; origin: string; problem: string }[];
}

export interface ManageSchedulesDeps extends ScheduleSources {
  /** Reads every scheduler port; writes definitions and states only. */
  store: ScheduleStore;
  clock: Clock;
  /** The sources the config declares (a schedule must name one of them). */
  sourceNames: () => string[];
}

/** `schedule add|list|remove|enable|disable|status|history`: the schedules and what they did. */
export class ManageSchedules {
  constructor(private readonly deps: ManageSchedulesDeps) {}

  async add(input: AddScheduleInput): Promise<{ schedule: ScheduleView; warnings: string[] }> {
    const { store, clock } = this.deps;
    const name = input.name ?? `${input.source}-${input.task}`;
    const schedule = compileSchedule({ ...input, name, origin: 'cli' }, this.deps.defaultZone);
    const sources = this.deps.sourceNames();
    if (!sources.includes(input.source)) {
      throw new DbBackupError(
        'E_CONFIG',
        `No source "${input.source}" in the configuration; a schedule runs a configured source (sources: in the config file)` +
          `${sources.length ? `; sources: ${sources.join(', ')}` : ''}.`,
      );
    }
    if (this.deps.configured().some((d) => d.name === name)) {
      throw new DbBackupError('E_USAGE', `A schedule named "${name}" is declared in the config file; pick another --name.`);
    }
    await store.addDefinition({ ...input, name, origin: 'cli' }, clock.now());
    const warnings = input.task === 'prune' ? [`Make sure the config gives source "${input.source}" a retention policy (backups.${input.source}.retention or retention).`] : [];
    const state = await store.ensureState(name, clock.now());
    return { schedule: this.view(schedule, state, undefined), warnings };
  }

  async remove(name: string): Promise<void> {
    const schedule = await this.find(name);
    if (schedule.origin === 'config') {
      throw new DbBackupError('E_USAGE', `Schedule "${name}" is declared in the config file; remove it there (or disable it with \`schedule disable ${name}\`).`);
    }
    await this.deps.store.removeDefinition(name);
  }

  async setEnabled(name: string, enabled: boolean): Promise<ScheduleView> {
    const schedule = await this.find(name);
    await this.deps.store.setEnabled(name, enabled, this.deps.clock.now());
    return (await this.list()).find((v) => v.name === schedule.name)!;
  }

  async list(): Promise<ScheduleView[]> {
    return (await this.snapshot()).views;
  }

  async status(): Promise<SchedulerStatus> {
    const { store } = this.deps;
    const { views, problems } = await this.snapshot();
    const recent = await store.history({ limit: 1000 });
    const schedules = views.map((v) => ({
      ...v,
      lastRun: recent.find((r) => r.schedule === v.name && r.outcome !== 'running' && r.outcome !== 'skipped' && r.outcome !== 'missed'),
      lastSuccess: recent.find((r) => r.schedule === v.name && r.outcome === 'success'),
    }));
    return { at: this.deps.clock.now(), daemons: await store.daemons(), schedules, counts: await store.outcomeCounts(), problems };
  }

  async history(schedule: string | undefined, limit: number): Promise<ScheduleRun[]> {
    if (schedule !== undefined) await this.find(schedule, true);
    return this.deps.store.history({ schedule, limit });
  }

  private async snapshot(): Promise<{ views: ScheduleView[]; problems: SchedulerStatus['problems'] }> {
    const { store } = this.deps;
    const { schedules, problems } = await loadSchedules(this.deps);
    const states = new Map((await store.states()).map((s) => [s.name, s]));
    const locks = new Map((await store.locks()).map((l) => [l.name, l]));
    return { views: schedules.map((s) => this.view(s, states.get(s.name), locks.get(s.name))), problems };
  }

  private async find(name: string, allowRemoved = false): Promise<Schedule | { origin: 'cli'; name: string }> {
    const { schedules } = await loadSchedules(this.deps);
    const found = schedules.find((s) => s.name === name) ?? (await this.deps.store.definitions()).find((d) => d.name === name);
    if (found) return found as Schedule;
    if (allowRemoved && (await this.deps.store.history({ schedule: name, limit: 1 })).length > 0) return { origin: 'cli', name };
    throw new DbBackupError('E_NOT_FOUND', `No schedule named "${name}"; \`dbbackup schedule list\` shows them.`);
  }

  private view(s: Schedule, state: ScheduleState | undefined, lock: ScheduleLock | undefined): ScheduleView {
    const enabled = state?.enabled ?? s.enabled ?? true;
    return {
      name: s.name,
      origin: s.origin,
      cron: s.cron,
      timezone: s.zone,
      task: s.task,
      source: s.source,
      kind: s.kind,
      catchUp: s.catchUp,
      enabled,
      nextRun: enabled ? nextRunOf(s, this.deps.clock.now()) : undefined,
      lastRunAt: state?.lastRunAt,
      lastOutcome: state?.lastOutcome,
      lastSuccessAt: state?.lastSuccessAt,
      consecutiveFailures: state?.consecutiveFailures ?? 0,
      running: lock ? { owner: lock.owner, since: lock.acquiredAt, heartbeatAt: lock.heartbeatAt } : undefined,
    };
  }
}
