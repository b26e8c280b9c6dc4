import { MapCodecRegistry } from '../../../src/adapters/compression/codec-registry.js';
import { NoneCodec } from '../../../src/adapters/compression/none-codec.js';
import { MapConnectorRegistry } from '../../../src/adapters/connectors/connector-registry.js';
import type { PostgresConnector } from '../../../src/adapters/connectors/postgres/postgres-connector.js';
import { LocalRepositoryOpener } from '../../../src/adapters/storage/repository-opener.js';
import type { Notifier } from '../../../src/application/ports/notifier.js';
import { RestoreBackup } from '../../../src/application/use-cases/restore-backup.js';
import { RunBackup, type RunBackupDeps } from '../../../src/application/use-cases/run-backup.js';
import { NullProgress } from '../../../src/infrastructure/progress.js';
import { MemoryCatalog, silentLogger } from '../../helpers/fakes.js';

/** The backup and restore use-cases over `connector`, local repositories, no compression, an in-memory catalog. */
export function captureUseCases(connector: PostgresConnector, notifiers: Notifier[] = [], more: Partial<RunBackupDeps> = {}): { runBackup: RunBackup; restoreBackup: RestoreBackup } {
  const deps = {
    connectors: new MapConnectorRegistry([connector]),
    opener: new LocalRepositoryOpener(),
    codecs: new MapCodecRegistry([new NoneCodec()]),
    catalog: new MemoryCatalog(),
    clock: { now: () => new Date() },
    logger: silentLogger,
    progress: new NullProgress(),
    notifiers,
    ...more,
  };
  return { runBackup: new RunBackup({ ...deps, toolVersion: 'test' }), restoreBackup: new RestoreBackup(deps) };
}
