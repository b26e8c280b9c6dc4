import { Container, ContainerModule } from 'inversify';
import type { DatabaseConnector } from '../application/ports/database-connector.js';
import { ListBackups } from '../application/use-cases/list-backups.js';
import { RestoreBackup } from '../application/use-cases/restore-backup.js';
import { RunBackup } from '../application/use-cases/run-backup.js';
import { CheckConnections } from '../application/use-cases/check-connections.js';
import { SendTestNotification } from '../application/use-cases/send-test-notification.js';
import { VerifyBackup } from '../application/use-cases/verify-backup.js';
import { DrizzleBackupCatalog } from '../adapters/catalog/drizzle-backup-catalog.js';
import { MapCodecRegistry } from '../adapters/compression/codec-registry.js';
import { GzipCodec } from '../adapters/compression/gzip-codec.js';
import { NoneCodec } from '../adapters/compression/none-codec.js';
import { ZstdCodec } from '../adapters/compression/zstd-codec.js';
import { MapConnectorRegistry } from '../adapters/connectors/connector-registry.js';
import { LocalRepositoryOpener } from '../adapters/storage/repository-opener.js';
import type { NotificationThrottle } from '../application/ports/notifier.js';
import { createLogger } from '../infrastructure/logging.js';
import { RotatingFile } from '../infrastructure/rotating-file.js';
import { buildNotifiers } from './notifiers.js';
import { catalogFile } from '../infrastructure/paths.js';
import { NullProgress, TerminalProgress } from '../infrastructure/progress.js';
import { allConnectors } from './connectors.js';
import type { RuntimeConfig } from './runtime-config.js';
import { Tokens } from './tokens.js';

function adaptersModule(config: RuntimeConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind(Tokens.Clock).toConstantValue({ now: () => new Date() });
    bind(Tokens.Logger).toConstantValue(
      createLogger({
        level: config.logLevel,
        json: config.json,
        file: config.logFile ? new RotatingFile(config.logFile.path, config.logFile.rotation) : undefined,
        fileLevel: config.logFile?.level,
      }),
    );
    bind(Tokens.Notifiers).toConstantValue(buildNotifiers(config.notifications));
    bind(Tokens.Progress).toConstantValue(config.progress ? new TerminalProgress() : new NullProgress());
    bind(Tokens.Catalog)
      .toDynamicValue(() => new DrizzleBackupCatalog(catalogFile(config.dataDir)))
      .inSingletonScope();
    bind(Tokens.RepositoryOpener).toConstantValue(new LocalRepositoryOpener());
    bind(Tokens.Codecs).toConstantValue(new MapCodecRegistry([new ZstdCodec(), new GzipCodec(), new NoneCodec()]));
    for (const connector of allConnectors()) bind(Tokens.Connector).toConstantValue(connector);
    bind(Tokens.Connectors)
      .toDynamicValue((ctx) => new MapConnectorRegistry(ctx.getAll<DatabaseConnector>(Tokens.Connector)))
      .inSingletonScope();
  });
}

function useCasesModule(config: RuntimeConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind(RunBackup)
      .toResolvedValue(
        (connectors, opener, codecs, catalog, clock, logger, progress, notifiers) =>
          new RunBackup({
            connectors,
            opener,
            codecs,
            catalog,
            clock,
            logger,
            progress,
            notifiers,
            throttle: isThrottle(catalog) ? catalog : undefined,
            toolVersion: config.toolVersion,
          }),
        [Tokens.Connectors, Tokens.RepositoryOpener, Tokens.Codecs, Tokens.Catalog, Tokens.Clock, Tokens.Logger, Tokens.Progress, Tokens.Notifiers],
      )
      .inSingletonScope();
    bind(RestoreBackup)
      .toResolvedValue(
        (connectors, opener, codecs, catalog, logger, progress) => new RestoreBackup({ connectors, opener, codecs, catalog, logger, progress }),
        [Tokens.Connectors, Tokens.RepositoryOpener, Tokens.Codecs, Tokens.Catalog, Tokens.Logger, Tokens.Progress],
      )
      .inSingletonScope();
    bind(VerifyBackup)
      .toResolvedValue(
        (opener, codecs, catalog, progress) => new VerifyBackup({ opener, codecs, catalog, progress }),
        [Tokens.RepositoryOpener, Tokens.Codecs, Tokens.Catalog, Tokens.Progress],
      )
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
  });
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
  container.load(adaptersModule(config), useCasesModule(config));
  if (overrides.length) container.load(...overrides);
  return container;
}

/** The use-cases a front end (CLI, scheduler worker) calls; built from a container. */
export interface AppServices {
  runBackup: RunBackup;
  restoreBackup: RestoreBackup;
  verifyBackup: VerifyBackup;
  listBackups: ListBackups;
  sendTestNotification: SendTestNotification;
  checkConnections: CheckConnections;
  close(): void;
}

export function appServices(container: Container): AppServices {
  return {
    runBackup: container.get(RunBackup),
    restoreBackup: container.get(RestoreBackup),
    verifyBackup: container.get(VerifyBackup),
    listBackups: container.get(ListBackups),
    sendTestNotification: container.get(SendTestNotification),
    checkConnections: container.get(CheckConnections),
    close: () => {
      if (container.isBound(Tokens.Catalog)) container.get(Tokens.Catalog).close();
    },
  };
}
