import { isAliveOnThisHost } from '../infrastructure/processes.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Container } from 'inversify';
import type { NotificationThrottle } from '../application/ports/notifier.js';
import type { ScheduledSource } from '../application/use-cases/run-scheduled-task.js';
import type { Replicate } from '../application/use-cases/replicate.js';
import { parseCompaction, parseInterval, parseSegmentSize } from '../domain/replicate-settings.js';
import type { Logger } from '../application/ports/logger.js';
import { RepositoryCompletedBackups } from '../application/services/repository-completed-backups.js';
import { DEFAULT_SCHEDULER_OPTIONS, RunScheduler, type SchedulerOptions } from '../application/use-cases/run-scheduler.js';
import { ThreadPoolJobRunner } from '../adapters/scheduler/thread-pool-job-runner.js';
import { BreeJobRunner } from '../adapters/scheduler/bree-job-runner.js';
import type { WorkerInput } from '../adapters/scheduler/worker-protocol.js';
import { encryptionKey, keysFrom } from '../adapters/cli/keys.js';
import type { KeyFactory } from '../adapters/encryption/key-factory.js';
import { DbBackupError } from '../domain/errors.js';
import type { Settings } from '../infrastructure/config/settings.js';
import { createLogger, type LogLevel } from '../infrastructure/logging.js';
import { RotatingFile } from '../infrastructure/rotating-file.js';
import type { RuntimeConfig } from './runtime-config.js';
import { localZone } from './schedules.js';
import { Tokens } from './tokens.js';

/** The compiled job worker, beside this file (dist/bootstrap/, or dist/bundle/ where it is an entry point of its own). */
const WORKER = fileURLToPath(new URL('./schedule-worker.js', import.meta.url));


/**
 * What a scheduled task needs of configured source `name` (throws E_CONFIG when it is not
 * configured). With `encrypt: true` in its policy, backups are encrypted with the config's
 * `encryption:` key, and a missing key is an error, never a plaintext backup.
 */
export async function scheduledSource(settings: Settings, name: string, keys: KeyFactory, env: NodeJS.ProcessEnv): Promise<ScheduledSource> {
  const src = settings.source(name);
  const urls = src.repositories.map((r) => r.url);
  const given = await keysFrom({ settings, keys }, {}, env);
  if (src.policy.encrypt === true && given.length === 0) {
    throw new DbBackupError('E_CONFIG', `backups.${name} says encrypt: true, but the config has no encryption: key (passphrase, key-file or recipient).`);
  }
  const encryption = src.policy.encrypt === true ? await encryptionKey({ settings, keys }, {}, env) : undefined;
  const signing = settings.signing();
  const maxRate = settings.maxRate(undefined, name).value;
  return {
    backup: {
      target: src.target,
      repository: urls.length === 1 ? urls[0]! : urls,
      source: name,
      compression: { codec: settings.compression(undefined, name).value, level: settings.level(undefined, name).value },
      tables: src.policy.tables,
      excludeTables: src.policy['exclude-tables'],
      parallel: settings.parallel(undefined, name).value,
      fanout: src.policy.fanout,
      autoFull: src.policy['auto-full'],
      slotWarnBytes: settings.slotWarnBytes(name).value,
      ...(maxRate ? { maxRate } : {}),
      ...(encryption ? { encryption } : {}),
      ...(signing.key ? { signing: keys.signingKey(signing.key) } : {}),
    },
    keys: given,
    trust: { expectEncrypted: src.policy.encrypt === true, verifier: signing['verify-key'] ? keys.verifyKey(signing['verify-key']) : undefined },
    defaultKind: src.policy.type,
    repositories: urls,
    ...(src.scratch ? { scratch: src.scratch } : {}),
  };
}


/** Daemon logs: JSON lines on stdout (readable on a terminal) and in the rotating log file. */
export function daemonLogger(
  runtime: RuntimeConfig,
  level: LogLevel,
  stream: NodeJS.WritableStream = process.stdout,
  file = runtime.logFile ? new RotatingFile(runtime.logFile.path, runtime.logFile.rotation) : undefined,
) {
  return createLogger({
    level,
    json: runtime.json,
    stream,
    file,
    fileLevel: runtime.logFile ? (level === 'debug' ? 'debug' : runtime.logFile.level) : undefined,
  }).child({ module: 'scheduler' });
}

export interface DaemonFlags extends Partial<Omit<SchedulerOptions, 'owner' | 'host' | 'pid'>> {
  logLevel: LogLevel;
  /** Where the worker threads load their configuration from (the daemon's own flags). */
  globals: WorkerInput['context']['globals'];
  onRunFinished?: () => Promise<void>;
}

/** Where the scheduler finds the backups a dead process's runs took: the repositories of each source's configured targets. */
export function completedBackups(container: Container, settings: Settings, logger: Logger): RepositoryCompletedBackups {
  return new RepositoryCompletedBackups({
    opener: container.get(Tokens.RepositoryOpener),
    repositoriesOf: (source) => settings.source(source).repositories.map((r) => r.url),
    logger,
  });
}

/** Builds the daemon: RunScheduler over the catalog's schedule store, jobs in bree worker threads. */
export function buildScheduler(container: Container, runtime: RuntimeConfig, settings: Settings, flags: DaemonFlags): RunScheduler {
  const logger = daemonLogger(runtime, flags.logLevel);
  const catalog = container.get(Tokens.Catalog);
  const runner = jobRunner(logger, flags);
  const { logLevel: _l, globals: _g, onRunFinished, ...given } = flags;
  const options = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<SchedulerOptions>;
  const host = hostname();
  return new RunScheduler(
    {
      store: container.get(Tokens.ScheduleStore),
      configured: () => runtime.schedules ?? [],
      defaultZone: localZone(),
      clock: container.get(Tokens.Clock),
      runner,
      logger,
      notifiers: container.get(Tokens.Notifiers),
      throttle: typeof (catalog as Partial<NotificationThrottle>).claim === 'function' ? (catalog as unknown as NotificationThrottle) : undefined,
      isAlive: isAliveOnThisHost,
      onRunFinished,
      backups: completedBackups(container, settings, logger),
    },
    { ...DEFAULT_SCHEDULER_OPTIONS, ...options, owner: `${host}:${process.pid}:${randomBytes(3).toString('hex')}`, host, pid: process.pid },
  );
}

/** Each attempt in a worker thread of its own (the compiled schedule-worker.js), loading the daemon's configuration. */
export function jobRunner(logger: Logger, flags: Pick<DaemonFlags, 'globals' | 'logLevel'>): BreeJobRunner {
  return new BreeJobRunner({ workerPath: WORKER, context: { globals: flags.globals, logLevel: flags.logLevel } satisfies WorkerInput['context'], logger });
}

/** A fleet worker's attempts in `size` warm threads (the compiled schedule-worker.js, loaded once per thread). */
export function pooledJobRunner(logger: Logger, flags: Pick<DaemonFlags, 'globals' | 'logLevel'>, size: number): ThreadPoolJobRunner {
  return new ThreadPoolJobRunner({ workerPath: WORKER, context: { globals: flags.globals, logLevel: flags.logLevel }, logger, size });
}

/** After a replica fails, the daemon starts it again after this long (a snapshot, or a resume). */
const REPLICA_RESTART_MS = 30_000;

/**
 * Runs the config's `replicate:` sources alongside the scheduler until `signal` aborts (each
 * then ships what waits and returns). A replica that fails is logged, and started again after
 * REPLICA_RESTART_MS: it resumes where its repository ends, or takes a new snapshot.
 */
export async function runReplicas(
  deps: { settings: Settings; keys: KeyFactory; replicate: Replicate; logger: Logger; env: NodeJS.ProcessEnv },
  signal: AbortSignal,
): Promise<void> {
  const entries = (deps.settings.config.section.replicate ?? []).filter((r) => r.enabled !== false);
  await Promise.all(
    entries.map(async (entry, i) => {
      const log = deps.logger.child({ replica: entry.source });
      const intervalMs = parseInterval(entry.interval ?? '1s', `replicate[${i}].interval`);
      const segmentBytes = parseSegmentSize(entry['segment-size'] ?? '16MiB', `replicate[${i}].segment-size`);
      const compactionLevelsMs = parseCompaction(entry.compaction ?? '30s,5m,1h', intervalMs, `replicate[${i}].compaction`);
      while (!signal.aborted) {
        try {
          const { backup } = await scheduledSource(deps.settings, entry.source, deps.keys, deps.env);
          log.info('replica started', {});
          const result = await deps.replicate.execute(
            { ...backup, intervalMs, segmentBytes, compactionLevelsMs, onEvent: (e) => (e.type === 'failed' ? log.warn('replica warning', e) : log.info(`replica ${e.type}`, e)) },
            signal,
          );
          log.info('replica stopped', { ...result });
        } catch (err) {
          const e = err as DbBackupError;
          log.error('replica failed; it starts again in 30 s', { code: e.code, error: e.message });
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, REPLICA_RESTART_MS);
            signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
          });
        }
      }
    }),
  );
}
