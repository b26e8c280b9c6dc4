import type { ConnectionTarget } from './connection-target.js';
import type { ConnectorCapabilities } from './connector-capabilities.js';
import type { DatabaseSession } from './database-session.js';

/** One database engine: opens sessions against its databases. */
export interface DatabaseConnector {
  readonly engine: string;
  readonly capabilities: ConnectorCapabilities;
  /** Opens a session; for a restore target that does not exist yet, `purpose` is 'restore'. */
  connect(target: ConnectionTarget, purpose: 'backup' | 'restore'): Promise<DatabaseSession>;
  /** A default source name for backups of `target` (e.g. the database name). */
  defaultSourceName(target: ConnectionTarget): string;
}
