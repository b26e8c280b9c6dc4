import type { ConnectionTarget } from './connection-target.js';
import type { ConnectorCapabilities } from './connector-capabilities.js';
import type { DatabaseSession } from './database-session.js';

// The connector port's vocabulary, each defined in its own file; re-exported so that a connector's
// modules keep importing it from one place.
export type { ConnectionTarget } from './connection-target.js';
export type { ConnectorCapabilities } from './connector-capabilities.js';
export type { ConnectorRegistry } from './connector-registry.js';
export type { DatabaseSession } from './database-session.js';
export type { DumpRequest, DumpResult } from './dump.js';
export type { PartSink, PartSource, PartSpec } from './parts.js';
export type { RestoreOutcome, RestorePlan, RestorePlanItem, RestoreRequest } from './restore-plan.js';

/** One database engine: opens sessions against its databases. */
export interface DatabaseConnector {
  readonly engine: string;
  readonly capabilities: ConnectorCapabilities;
  /** Opens a session; for a restore target that does not exist yet, `purpose` is 'restore'. */
  connect(target: ConnectionTarget, purpose: 'backup' | 'restore'): Promise<DatabaseSession>;
  /** A default source name for backups of `target` (e.g. the database name). */
  defaultSourceName(target: ConnectionTarget): string;
}
