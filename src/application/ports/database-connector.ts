import type { Manifest } from '../../domain/manifest.js';
import type { LogPosition } from './change-capture.js';
import type { ConnectionTarget } from './connection-target.js';
import type { ConnectorCapabilities } from './connector-capabilities.js';
import type { ScratchDatabases } from './scratch-databases.js';
import type { DatabaseSession } from './database-session.js';

/** One database engine: opens sessions against its databases. */
export interface DatabaseConnector {
  readonly engine: string;
  readonly capabilities: ConnectorCapabilities;
  /** Opens a session; for a restore target that does not exist yet, `purpose` is 'restore'. */
  connect(target: ConnectionTarget, purpose: 'backup' | 'restore'): Promise<DatabaseSession>;
  /**
   * Optional: starts what the next backup session of `target` will need (SQLite: its page reader
   * process) while the caller does other work first (finding the parent backup); that session's
   * connect() takes it over. Call release() once the backup is over, whether or not a session was opened.
   */
  warmUp?(target: ConnectionTarget): { release(): Promise<void> };
  /** A default source name for backups of `target` (e.g. the database name). */
  defaultSourceName(target: ConnectionTarget): string;
  /**
   * Optional, for engines whose restores stop at a place in their log (`restore --at-gtid`,
   * `--at-position`; `at` is `{ gtid }` or `{ position }` as typed): which link of `chain` (a full
   * and its links, oldest first) reaches it, 0 for the full's own point. Reads only the manifests.
   * Throws E_NO_RESTORE_POINT when the chain does not hold it, E_USAGE when `at` is malformed.
   */
  locateLogPosition?(chain: Manifest[], at: LogPosition): number;
  /** Optional: throwaway restore targets (`verify --deep`). */
  readonly scratch?: ScratchDatabases;
}
