import type { Finding } from '../../domain/diagnosis.js';
import type { ConnectionTarget } from './connection-target.js';
import type { DatabaseConnector } from './database-connector.js';

export interface DiagnosisRequest {
  /** The findings' subject, e.g. `source main`. */
  subject: string;
  /** The config takes incremental/differential backups of it: missing capture settings fail instead of informing. */
  incremental: boolean;
  /** The config's name of the source (its capture slots are named after it). */
  source?: string;
  /** Past this many bytes of retained log a capture slot is a warning (default 1 GiB). */
  slotWarnBytes?: number;
  /** The longest wait between two of the source's scheduled incremental/differential backups (ms), when the config schedules any: a log that keeps less breaks the chain. */
  intervalMs?: number;
}

/**
 * Optional on a DatabaseConnector: its engine's part of `dbbackup doctor`. The engine-specific
 * checks (server version, TLS, the privileges a backup and a restore need and the ones it has
 * beyond them, the settings change capture needs) stay inside the connector's folder, each a small
 * function in a list there, so a new check is one more entry.
 */
export interface DatabaseDiagnosis {
  /**
   * Connects as a backup would and reports what will break later, one finding per check, each
   * warn/fail with its fix. A server that cannot be reached is a `reachability` failure, not a
   * rejection; only usage errors (a malformed target) reject.
   */
  diagnose(target: ConnectionTarget, request: DiagnosisRequest, signal?: AbortSignal): Promise<Finding[]>;
  /**
   * The least privileges for a backup role and a restore role, as a script the user runs (SQL with
   * comments), for `target`'s database when given; connects to nothing.
   */
  grants(target?: ConnectionTarget): string;
}

/** The connector's diagnosis, when its engine has one. */
export function diagnosisOf(connector: DatabaseConnector): DatabaseDiagnosis | undefined {
  const { diagnose, grants } = connector as Partial<DatabaseDiagnosis>;
  return typeof diagnose === 'function' && typeof grants === 'function' ? { diagnose: diagnose.bind(connector), grants: grants.bind(connector) } : undefined;
}
