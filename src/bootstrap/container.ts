import { join } from 'node:path';
import { DbBackupError } from '../domain/errors.js';
import { Container, ContainerModule, type ContainerModuleLoadOptions, type ResolutionContext } from 'inversify';
import type { RedisCommands } from '../adapters/queue/redis-commands.js';
import { ListBackups } from '../application/use-cases/list-backups.js';
import { PinBackup } from '../application/use-cases/pin-backup.js';
import { PruneBackups } from '../application/use-cases/prune-backups.js';
import { RestoreBackup } from '../application/use-cases/restore-backup.js';
import { Replicate } from '../application/use-cases/replicate.js';
import { RunBackup } from '../application/use-cases/run-backup.js';
import { CheckConnections } from '../application/use-cases/check-connections.js';
import { CompareDatabases } from '../application/use-cases/compare-databases.js';
import { VerifyRestore } from '../application/use-cases/verify-restore.js';
import { StorageUsage } from '../application/use-cases/storage-usage.js';
import { ManageKeys } from '../application/use-cases/manage-keys.js';
import { ChunkedAesGcm } from '../adapters/encryption/chunked-aead.js';
import { FilePartCache } from '../adapters/cache/file-part-cache.js';
import { FilePendingSlots } from '../adapters/locks/file-pending-slots.js';
import { FileRunLocks } from '../adapters/locks/file-run-locks.js';
import { KeyFactory } from '../adapters/encryption/key-factory.js';
import { SendTestNotification } from '../application/use-cases/send-test-notification.js';
import { ShowManifest } from '../application/use-cases/show-manifest.js';
import { VerifyBackup } from '../application/use-cases/verify-backup.js';
import { USE_CASES, type UseCases } from '../application/use-cases/use-cases.js';
import { closeStore, lazyStore } from '../adapters/catalog/lazy.js';
import type { BackupCatalog } from '../application/ports/backup-catalog.js';
import type { ConnectorRegistry } from '../application/ports/connector-registry.js';
import type { ScheduleStore } from '../application/ports/schedule-store.js';
import type { TargetOutcomes } from '../application/ports/target-outcomes.js';
import { ManageSchedules } from '../application/use-cases/manage-schedules.js';
import { ManageCaptureSlots } from '../application/use-cases/manage-capture-slots.js';
import { RunDoctor } from '../application/use-cases/run-doctor.js';
import { DescribeLeastPrivilege } from '../application/use-cases/describe-least-privilege.js';
import { accessPolicy } from '../adapters/storage/cloud/access-policy.js';
import { FsHostProbe } from '../adapters/host/fs-host-probe.js';
import { localZone } from './schedules.js';
import { MapCodecRegistry } from '../adapters/compression/codec-registry.js';
import { GzipCodec } from '../adapters/compression/gzip-codec.js';
import { NoneCodec } from '../adapters/compression/none-codec.js';
import { ZstdCodec } from '../adapters/compression/zstd-codec.js';
import { LocalRepositoryOpener } from '../adapters/storage/repository-opener.js';
import type { NotificationThrottle } from '../application/ports/notifier.js';
import { createLogger } from '../infrastructure/logging.js';
import { RotatingFile } from '../infrastructure/rotating-file.js';
import { buildNotifiers } from './notifiers.js';
import { catalogFile } from '../infrastructure/paths.js';
import { NullProgress, TerminalProgress } from '../infrastructure/progress.js';
import { connectorRegistry } from './connectors.js';
import { storageOptionsFor } from './storage-options.js';
import type { QueueRuntime } from './queue.js';
import type { RuntimeConfig } from './runtime-config.js';
import { Tokens } from './tokens.js';

function adaptersModule(config: RuntimeConfig, closers: (() => Promise<unknown>)[]): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind(Tokens.Clock).toConstantValue({ now: () => new Date() });
    const logger = createLogger({
      level: config.logLevel,
      json: config.json,
      file: openLogFile(config),
      fileLevel: config.logFile?.level,
    });
    bind(Tokens.Logger).toConstantValue(logger);
    bind(Tokens.Notifiers).toConstantValue(buildNotifiers(config.notifications));
    bind(Tokens.Cipher).toConstantValue(new ChunkedAesGcm());
    bind(Tokens.PartCache).toConstantValue(new FilePartCache(join(config.dataDir, 'part-cache')));
    bind(Tokens.Progress).toConstantValue(config.progress ? new TerminalProgress() : new NullProgress());
    bind(Tokens.Catalog)
      .toDynamicValue(() =>
        lazyStore<BackupCatalog & TargetOutcomes & NotificationThrottle>(async () => {
          const { DrizzleBackupCatalog } = await import('../adapters/catalog/drizzle-backup-catalog.js');
          return new DrizzleBackupCatalog(catalogFile(config.dataDir));
        }),
      )
      .inSingletonScope();
    if (config.queue) bindFleet(bind, config.queue, closers);
    else
      bind(Tokens.ScheduleStore)
        .toDynamicValue(() =>
          lazyStore<ScheduleStore>(async () => {
            const { DrizzleScheduleStore } = await import('../adapters/catalog/drizzle-schedule-store.js');
            return new DrizzleScheduleStore(catalogFile(config.dataDir));
          }),
        )
        .inSingletonScope();
    bind(Tokens.RepositoryOpener).toConstantValue(new LocalRepositoryOpener((url) => storageOptionsFor(url, config.env ?? process.env, config.targets), logger));
    bind(Tokens.Codecs).toConstantValue(new MapCodecRegistry([new ZstdCodec({ threads: zstdThreads(config.env ?? process.env) }), new GzipCodec(), new NoneCodec()]));
    bind(Tokens.Connectors).toConstantValue(connectorRegistry(config));
  });
}

/**
 * Fleet mode: the scheduler ports live in the queue's Redis (every machine sees one history and one
 * set of locks), beside the queue and the per-target permits. Each opens its own connection on first use.
 */
function bindFleet(bind: ContainerModuleLoadOptions['bind'], q: QueueRuntime, closers: (() => Promise<unknown>)[]): void {
  const where = q.where;
  const prefix = q.prefix;
  bind(Tokens.ScheduleStore)
    .toDynamicValue((ctx) =>
      lazyStore<ScheduleStore>(async () => {
        const [{ RedisScheduleStore }, { redisClient }] = await Promise.all([import('../adapters/queue/redis-schedule-store.js'), import('../adapters/queue/redis-commands.js')]);
        return new RedisScheduleStore(redisClient(q.endpoint, ctx.get(Tokens.Logger)), { prefix, where, outageMs: q.outageMs });
      }),
    )
    .inSingletonScope();
  bind(Tokens.JobQueue)
    .toDynamicValue(async (ctx) => {
      const { BullmqJobQueue } = await import('../adapters/queue/bullmq-job-queue.js');
      const queue = new BullmqJobQueue({ endpoint: q.endpoint, prefix: `{${prefix}}`, stallMs: q.lockTimeoutMs, logger: ctx.get(Tokens.Logger) });
      closers.push(() => queue.close());
      return queue;
    })
    .inSingletonScope();
  /** An adapter on its own Redis connection, closed with the container. */
  const onRedis = <T>(make: (client: RedisCommands) => Promise<T>) => async (ctx: ResolutionContext) => {
    const { redisClient } = await import('../adapters/queue/redis-commands.js');
    const client = redisClient(q.endpoint, ctx.get(Tokens.Logger));
    closers.push(() => client.quit());
    return make(client);
  };
  const options = { prefix, where, outageMs: q.outageMs };
  bind(Tokens.TargetPermits)
    .toDynamicValue(onRedis(async (client) => new (await import('../adapters/queue/redis-target-permits.js')).RedisTargetPermits(client, options)))
    .inSingletonScope();
  bind(Tokens.FleetThrottle)
    .toDynamicValue(onRedis(async (client) => new (await import('../adapters/queue/redis-notification-throttle.js')).RedisNotificationThrottle(client, options)))
    .inSingletonScope();
}

function useCasesModule(config: RuntimeConfig): ContainerModule {
  // Capture slots recorded before they are created (beside the run locks: this host's state).
  const pendingSlots = new FilePendingSlots(join(config.dataDir, 'pending-slots'));
  return new ContainerModule(({ bind }) => {
    bind(RunBackup)
      .toResolvedValue(
        (connectors, opener, codecs, catalog, clock, logger, progress, notifiers, cipher, partCache) =>
          new RunBackup({
            cipher,
            partCache,
            connectors,
            opener,
            codecs,
            catalog,
            clock,
            logger,
            progress,
            notifiers,
            throttle: isThrottle(catalog) ? catalog : undefined,
            pendingSlots,
            toolVersion: config.toolVersion,
          }),
        [
          Tokens.Connectors,
          Tokens.RepositoryOpener,
          Tokens.Codecs,
          Tokens.Catalog,
          Tokens.Clock,
          Tokens.Logger,
          Tokens.Progress,
          Tokens.Notifiers,
          Tokens.Cipher,
          Tokens.PartCache,
        ],
      )
      .inSingletonScope();
    bind(Replicate)
      .toResolvedValue(
        (connectors, opener, codecs, catalog, clock, logger, progress, cipher) =>
          new Replicate({
            connectors,
            opener,
            codecs,
            catalog,
            clock,
            logger,
            progress,
            cipher,
            locks: new FileRunLocks(join(config.dataDir, 'locks')),
            pendingSlots,
            toolVersion: config.toolVersion,
          }),
        [Tokens.Connectors, Tokens.RepositoryOpener, Tokens.Codecs, Tokens.Catalog, Tokens.Clock, Tokens.Logger, Tokens.Progress, Tokens.Cipher],
      )
      .inSingletonScope();
    bind(RestoreBackup)
      .toResolvedValue(
        (connectors, opener, codecs, catalog, logger, progress, cipher) =>
          new RestoreBackup({ connectors, opener, codecs, catalog, logger, progress, cipher }),
        [Tokens.Connectors, Tokens.RepositoryOpener, Tokens.Codecs, Tokens.Catalog, Tokens.Logger, Tokens.Progress, Tokens.Cipher],
      )
      .inSingletonScope();
    bind(VerifyBackup)
      .toResolvedValue(
        (opener, codecs, catalog, progress, cipher, logger) => new VerifyBackup({ opener, codecs, catalog, progress, cipher, logger }),
        [Tokens.RepositoryOpener, Tokens.Codecs, Tokens.Catalog, Tokens.Progress, Tokens.Cipher, Tokens.Logger],
      )
      .inSingletonScope();
    bind(ManageKeys)
      .toResolvedValue((opener, clock, logger) => new ManageKeys({ opener, clock, logger }), [Tokens.RepositoryOpener, Tokens.Clock, Tokens.Logger])
      .inSingletonScope();
    bind(StorageUsage)
      .toResolvedValue((catalog, clock) => new StorageUsage({ catalog, clock }), [Tokens.Catalog, Tokens.Clock])
      .inSingletonScope();
    bind(VerifyRestore)
      .toResolvedValue(
        (connectors, restoreBackup, logger, opener, codecs, cipher) => new VerifyRestore({ connectors, restoreBackup, logger, parts: { opener, codecs, cipher } }),
        [Tokens.Connectors, RestoreBackup, Tokens.Logger, Tokens.RepositoryOpener, Tokens.Codecs, Tokens.Cipher],
      )
      .inSingletonScope();
    bind(CompareDatabases)
      .toResolvedValue((connectors) => new CompareDatabases({ connectors }), [Tokens.Connectors])
      .inSingletonScope();
    bind(CheckConnections)
      .toResolvedValue((connectors, opener) => new CheckConnections({ connectors, opener }), [Tokens.Connectors, Tokens.RepositoryOpener])
      .inSingletonScope();
    bind(SendTestNotification)
      .toResolvedValue((notifiers, logger, clock) => new SendTestNotification({ notifiers, logger, clock }), [Tokens.Notifiers, Tokens.Logger, Tokens.Clock])
      .inSingletonScope();
    bind(ListBackups)
      .toResolvedValue(
        (opener, catalog, logger) => new ListBackups({ opener, catalog, logger }),
        [Tokens.RepositoryOpener, Tokens.Catalog, Tokens.Logger],
      )
      .inSingletonScope();
    bind(PruneBackups)
      .toResolvedValue(
        (opener, catalog, clock, logger) => new PruneBackups({ opener, catalog, clock, logger }),
        [Tokens.RepositoryOpener, Tokens.Catalog, Tokens.Clock, Tokens.Logger],
      )
      .inSingletonScope();
    bind(ManageSchedules)
      .toResolvedValue(
        (store, clock) =>
          new ManageSchedules({ store, clock, configured: () => config.schedules ?? [], sourceNames: () => config.sourceNames ?? [], defaultZone: localZone() }),
        [Tokens.ScheduleStore, Tokens.Clock],
      )
      .inSingletonScope();
    bind(ManageCaptureSlots)
      .toResolvedValue(
        (connectors, opener, logger, clock, notifiers, catalog) =>
          new ManageCaptureSlots({ connectors, opener, logger, clock, notifiers, throttle: isThrottle(catalog) ? catalog : undefined }),
        [Tokens.Connectors, Tokens.RepositoryOpener, Tokens.Logger, Tokens.Clock, Tokens.Notifiers, Tokens.Catalog],
      )
      .inSingletonScope();
    bind(RunDoctor)
      .toResolvedValue(
        (connectors, opener, clock, schedules) =>
          new RunDoctor({ connectors, opener, clock, host: new FsHostProbe(), history: async () => schedules as ScheduleStore }),
        [Tokens.Connectors, Tokens.RepositoryOpener, Tokens.Clock, Tokens.ScheduleStore],
      )
      .inSingletonScope();
    bind(DescribeLeastPrivilege)
      .toResolvedValue((connectors) => new DescribeLeastPrivilege({ connectors, storagePolicy: accessPolicy }), [Tokens.Connectors])
      .inSingletonScope();
    bind(PinBackup)
      .toResolvedValue((opener, catalog, clock) => new PinBackup({ opener, catalog, clock }), [Tokens.RepositoryOpener, Tokens.Catalog, Tokens.Clock])
      .inSingletonScope();
    bind(ShowManifest)
      .toResolvedValue((opener, catalog) => new ShowManifest({ opener, catalog }), [Tokens.RepositoryOpener, Tokens.Catalog])
      .inSingletonScope();
  });
}

/** The log file, or none when it cannot be opened (a read-only home must not stop a backup). */
function openLogFile(config: RuntimeConfig): RotatingFile | undefined {
  if (!config.logFile) return undefined;
  try {
    return new RotatingFile(config.logFile.path, config.logFile.rotation);
  } catch (err) {
    process.stderr.write(`warning: cannot write the log file ${config.logFile.path} (${(err as Error).message}); set logging.file or DBBACKUP_LOG_FILE=off.\n`);
    return undefined;
  }
}

function isThrottle(value: object): value is NotificationThrottle {
  return typeof (value as Partial<NotificationThrottle>).claim === 'function';
}

/**
 * The one composition root: production modules, then `overrides` (tests rebind a port to a fake
 * with `new ContainerModule(({ rebind }) => rebind(Tokens.Clock).toConstantValue(fixedClock))`).
 */
export function buildContainer(config: RuntimeConfig, overrides: ContainerModule[] = []): Container {
  const container = new Container();
  const closers: (() => Promise<unknown>)[] = [];
  CLOSERS.set(container, closers);
  container.load(adaptersModule(config, closers), useCasesModule(config));
  if (overrides.length) container.load(...overrides);
  return container;
}

/** Connections opened by a container's fleet adapters (the queue, the permits), closed with its services. */
const CLOSERS = new WeakMap<Container, (() => Promise<unknown>)[]>();

/** The use-cases a front end (CLI, scheduler worker) calls; built from a container. */
export type AppServices = UseCases & { keys: KeyFactory; connectors: ConnectorRegistry; close(): void };

/**
 * The use-cases, each resolved on first use: a command pays only for what it runs (resolving the
 * schedule service, say, reads the machine's time zone through ICU, ~20 ms of every start-up).
 */
export function appServices(container: Container): AppServices {
  const services = {
    keys: new KeyFactory(),
    get connectors() {
      return container.get(Tokens.Connectors);
    },
    close: () => {
      if (container.isBound(Tokens.Catalog)) closeStore(container.get(Tokens.Catalog));
      if (container.isBound(Tokens.ScheduleStore)) closeStore(container.get(Tokens.ScheduleStore));
      for (const close of (CLOSERS.get(container) ?? []).splice(0)) void close().catch(() => undefined);
    },
  };
  for (const [name, useCase] of Object.entries(USE_CASES)) {
    Object.defineProperty(services, name, { get: () => container.get<object>(useCase), enumerable: true });
  }
  return services as AppServices;
}

/** DBBACKUP_ZSTD_THREADS: zstd worker threads per large part (0 = compress on the main thread); default: the codec's. */
function zstdThreads(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.DBBACKUP_ZSTD_THREADS;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new DbBackupError('E_CONFIG', `DBBACKUP_ZSTD_THREADS must be a whole number from 0 to 64, got "${raw}".`);
  return n;
}
