import { CheckConnections } from './check-connections.js';
import { CompareDatabases } from './compare-databases.js';
import { ListBackups } from './list-backups.js';
import { ManageCaptureSlots } from './manage-capture-slots.js';
import { ManageKeys } from './manage-keys.js';
import { ManageSchedules } from './manage-schedules.js';
import { PinBackup } from './pin-backup.js';
import { PruneBackups } from './prune-backups.js';
import { Replicate } from './replicate.js';
import { RunDoctor } from './run-doctor.js';
import { DescribeLeastPrivilege } from './describe-least-privilege.js';
import { RestoreBackup } from './restore-backup.js';
import { RunBackup } from './run-backup.js';
import { SendTestNotification } from './send-test-notification.js';
import { ShowManifest } from './show-manifest.js';
import { StorageUsage } from './storage-usage.js';
import { VerifyBackup } from './verify-backup.js';
import { VerifyRestore } from './verify-restore.js';

/**
 * The use-cases a front end (CLI, scheduler worker) calls, by the name it calls them under: the one
 * list of them. The composition root binds each class and hands out a `UseCases` built from this.
 */
export const USE_CASES = {
  runBackup: RunBackup,
  restoreBackup: RestoreBackup,
  verifyBackup: VerifyBackup,
  verifyRestore: VerifyRestore,
  listBackups: ListBackups,
  pruneBackups: PruneBackups,
  pinBackup: PinBackup,
  showManifest: ShowManifest,
  sendTestNotification: SendTestNotification,
  checkConnections: CheckConnections,
  compareDatabases: CompareDatabases,
  storageUsage: StorageUsage,
  manageKeys: ManageKeys,
  manageSchedules: ManageSchedules,
  manageCaptureSlots: ManageCaptureSlots,
  replicate: Replicate,
  runDoctor: RunDoctor,
  describeLeastPrivilege: DescribeLeastPrivilege,
} as const;

export type UseCases = { readonly [K in keyof typeof USE_CASES]: InstanceType<(typeof USE_CASES)[K]> };
