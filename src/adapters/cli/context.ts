import type { BaseContext } from 'clipanion';
import type { ListBackups } from '../../application/use-cases/list-backups.js';
import type { RestoreBackup } from '../../application/use-cases/restore-backup.js';
import type { RunBackup } from '../../application/use-cases/run-backup.js';
import type { CheckConnections } from '../../application/use-cases/check-connections.js';
import type { SendTestNotification } from '../../application/use-cases/send-test-notification.js';
import type { VerifyBackup } from '../../application/use-cases/verify-backup.js';
import type { Settings } from '../../infrastructure/config/settings.js';

/** The global flags every command takes. */
export interface GlobalOptions {
  config?: string;
  profile?: string;
  dataDir?: string;
  verbose: boolean;
  quiet: boolean;
  json: boolean;
  dryRun: boolean;
}

/** The use-cases, built by the composition root for one run. */
export interface CliServices {
  runBackup: RunBackup;
  restoreBackup: RestoreBackup;
  verifyBackup: VerifyBackup;
  listBackups: ListBackups;
  sendTestNotification: SendTestNotification;
  checkConnections: CheckConnections;
  /** The merged configuration with precedence flag > env > file > default. */
  settings: Settings;
  close(): void;
}

export interface CliContext extends BaseContext {
  services(globals: GlobalOptions): Promise<CliServices>;
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
}
