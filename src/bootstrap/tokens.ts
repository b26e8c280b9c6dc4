import type { ServiceIdentifier } from 'inversify';
import type { BackupCatalog } from '../application/ports/backup-catalog.js';
import type { Clock } from '../application/ports/clock.js';
import type { CodecRegistry } from '../application/ports/codec.js';
import type { ConnectorRegistry } from '../application/ports/connector-registry.js';
import type { Logger } from '../application/ports/logger.js';
import type { Notifier, NotificationThrottle } from '../application/ports/notifier.js';
import type { PartCache } from '../application/ports/part-cache.js';
import type { StreamCipher } from '../application/ports/stream-cipher.js';
import type { ProgressReporter } from '../application/ports/progress.js';
import type { RepositoryOpener } from '../application/ports/repository-opener.js';
import type { ScheduleStore } from '../application/ports/schedule-store.js';
import type { JobQueue } from '../application/ports/job-queue.js';
import type { TargetPermits } from '../application/ports/target-permits.js';
import type { TargetOutcomes } from '../application/ports/target-outcomes.js';

/**
 * One typed token per port; use-cases are bound by their class. The catalog file serves several
 * ports from one adapter and connection: its tokens carry the ports that adapter provides together.
 */
export const Tokens = {
  Clock: Symbol.for('dbbackup.Clock') as ServiceIdentifier<Clock>,
  Logger: Symbol.for('dbbackup.Logger') as ServiceIdentifier<Logger>,
  Progress: Symbol.for('dbbackup.ProgressReporter') as ServiceIdentifier<ProgressReporter>,
  Catalog: Symbol.for('dbbackup.BackupCatalog') as ServiceIdentifier<BackupCatalog & TargetOutcomes>,
  RepositoryOpener: Symbol.for('dbbackup.RepositoryOpener') as ServiceIdentifier<RepositoryOpener>,
  Codecs: Symbol.for('dbbackup.CodecRegistry') as ServiceIdentifier<CodecRegistry>,
  Connectors: Symbol.for('dbbackup.ConnectorRegistry') as ServiceIdentifier<ConnectorRegistry>,
  Notifiers: Symbol.for('dbbackup.Notifiers') as ServiceIdentifier<Notifier[]>,
  Cipher: Symbol.for('dbbackup.StreamCipher') as ServiceIdentifier<StreamCipher>,
  PartCache: Symbol.for('dbbackup.PartCache') as ServiceIdentifier<PartCache>,
  ScheduleStore: Symbol.for('dbbackup.ScheduleStore') as ServiceIdentifier<ScheduleStore>,
  /** Fleet mode only (bound when a queue is set): the distributed queue and the per-target permits. */
  JobQueue: Symbol.for('dbbackup.JobQueue') as ServiceIdentifier<JobQueue>,
  TargetPermits: Symbol.for('dbbackup.TargetPermits') as ServiceIdentifier<TargetPermits>,
  FleetThrottle: Symbol.for('dbbackup.FleetNotificationThrottle') as ServiceIdentifier<NotificationThrottle>,
} as const;
