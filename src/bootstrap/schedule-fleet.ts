import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Container } from 'inversify';
import type { ScheduleDaemon } from '../application/ports/schedule-daemon.js';
import { PermitJobRunner } from '../application/services/permit-job-runner.js';
import { FleetStatus, type FleetStatusView } from '../application/use-cases/fleet-status.js';
import { PublishSchedules } from '../application/use-cases/publish-schedules.js';
import { RunFleetWorker } from '../application/use-cases/run-fleet-worker.js';
import { DEFAULT_SCHEDULER_OPTIONS } from '../application/use-cases/run-scheduler.js';
import { DbBackupError } from '../domain/errors.js';
import type { Settings } from '../infrastructure/config/settings.js';
import type { QueueRuntime } from './queue.js';
import type { RuntimeConfig } from './runtime-config.js';
import { completedBackups, daemonLogger, pooledJobRunner, type DaemonFlags } from './schedule-daemon.js';
import { localZone } from './schedules.js';
import { Tokens } from './tokens.js';

function owner(role: string): { owner: string; host: string; pid: number } {
  const host = hostname();
  return { owner: `${role}:${host}:${process.pid}:${randomBytes(3).toString('hex')}`, host, pid: process.pid };
}

function requireQueue(runtime: RuntimeConfig): QueueRuntime {
  if (!runtime.queue) throw new DbBackupError('E_USAGE', 'No queue is set: pass --queue redis://host:6379, set DBBACKUP_QUEUE, or add queue: { url: … } to the config.');
  return runtime.queue;
}

/** `schedule run --queue`: publishes the schedules to the queue and keeps them in step. */
export async function buildPublisher(container: Container, runtime: RuntimeConfig, flags: Pick<DaemonFlags, 'logLevel'>): Promise<ScheduleDaemon> {
  requireQueue(runtime);
  return new PublishSchedules(
    {
      store: container.get(Tokens.ScheduleStore),
      queue: await container.getAsync(Tokens.JobQueue),
      clock: container.get(Tokens.Clock),
      logger: daemonLogger(runtime, flags.logLevel),
      configured: () => runtime.schedules ?? [],
      defaultZone: localZone(),
    },
    { ...owner('scheduler'), pollMs: DEFAULT_SCHEDULER_OPTIONS.pollMs },
  );
}

export interface WorkerFlags extends DaemonFlags {
  concurrency: number;
}

/**
 * `dbbackup worker`: RunFleetWorker over the queue and the shared store; each attempt runs in one
 * of --concurrency warm worker threads (the daemon's use-cases), behind the per-target permits.
 */
export async function buildFleetWorker(container: Container, runtime: RuntimeConfig, settings: Settings, flags: WorkerFlags): Promise<RunFleetWorker> {
  const q = requireQueue(runtime);
  const logger = daemonLogger(runtime, flags.logLevel);
  const id = owner('worker');
  const lockStaleMs = q.lockTimeoutMs;
  const limitsFor = (source: string) => {
    try {
      return settings
        .source(source)
        .repositories.filter((r) => q.targetLimits[r.name] !== undefined)
        .map((r) => ({ key: r.name, limit: q.targetLimits[r.name]! }));
    } catch {
      return []; // an unknown source fails in the job itself, with its own message
    }
  };
  const runner = new PermitJobRunner(pooledJobRunner(logger, flags, flags.concurrency), await container.getAsync(Tokens.TargetPermits), {
    limitsFor,
    holder: (job) => `${id.owner}:${job.id}`,
    ttlMs: lockStaleMs,
    pollMs: 250,
    logger,
  });
  return new RunFleetWorker(
    {
      store: container.get(Tokens.ScheduleStore),
      queue: await container.getAsync(Tokens.JobQueue),
      clock: container.get(Tokens.Clock),
      runner,
      logger,
      notifiers: container.get(Tokens.Notifiers),
      throttle: await container.getAsync(Tokens.FleetThrottle),
      onRunFinished: flags.onRunFinished,
      backups: completedBackups(container, settings, logger),
      configured: () => runtime.schedules ?? [],
      defaultZone: localZone(),
    },
    {
      ...id,
      graceMs: flags.graceMs ?? DEFAULT_SCHEDULER_OPTIONS.graceMs,
      lateToleranceMs: DEFAULT_SCHEDULER_OPTIONS.lateToleranceMs,
      lockStaleMs,
      heartbeatMs: flags.heartbeatMs ?? Math.max(250, Math.floor(lockStaleMs / 4)),
      retries: flags.retries ?? DEFAULT_SCHEDULER_OPTIONS.retries,
      retryDelayMs: flags.retryDelayMs ?? DEFAULT_SCHEDULER_OPTIONS.retryDelayMs,
      stopTimeoutMs: flags.stopTimeoutMs ?? DEFAULT_SCHEDULER_OPTIONS.stopTimeoutMs,
      concurrency: flags.concurrency,
    },
  );
}

/** `dbbackup fleet status`: the shared store and the queue's counts. */
export async function fleetStatus(container: Container, runtime: RuntimeConfig): Promise<FleetStatusView> {
  const q = requireQueue(runtime);
  return new FleetStatus({
    store: container.get(Tokens.ScheduleStore),
    queue: () => container.getAsync(Tokens.JobQueue),
    clock: container.get(Tokens.Clock),
    staleMs: q.lockTimeoutMs,
    configured: () => runtime.schedules ?? [],
    defaultZone: localZone(),
  }).execute();
}
