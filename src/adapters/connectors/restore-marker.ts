import { hostname } from 'node:os';
import { DbBackupError } from '../../domain/errors.js';
import type { Manifest } from '../../domain/manifest.js';

/**
 * The mark a restore into a database server leaves in the target while the target holds part of a
 * restore. A server restore cannot be swapped into place at the end as a SQLite file is renamed
 * (its objects live in the server's catalog, other sessions see them), so instead the restore
 * writes this mark together with its first change (PostgreSQL: in the schema's transaction;
 * MariaDB: before its first DROP/CREATE) and removes it with its last. A process killed in between
 * leaves it: the next restore refuses the target without --clean and says why, `restore --dry-run`
 * and `doctor --restore-target` report it, and anyone who looks at the database sees it.
 *
 * PostgreSQL: the table `dbbackup_restore.incomplete` (a schema of its own, so that --clean and the
 * backup's own schemas never meet it). MariaDB/MySQL: the table `dbbackup_restore_incomplete` in
 * each target database. One row: which backup, from where, when, by which process.
 */
export interface RestoreMarker {
  backupId: string;
  source: string;
  startedAt: string;
  host: string;
  pid: number;
}

export const MARKER_SCHEMA = 'dbbackup_restore';
export const MARKER_TABLE = 'incomplete';
/** MariaDB/MySQL: the table's name in each target database (a database is the schema there). */
export const MARKER_TABLE_FLAT = 'dbbackup_restore_incomplete';
export const MARKER_COMMENT = 'dbbackup: a restore into this database started and did not finish; its contents are partial. Restore again with --clean.';

export function newMarker(manifest: Manifest): RestoreMarker {
  return { backupId: manifest.id, source: manifest.source, startedAt: new Date().toISOString(), host: hostname(), pid: process.pid };
}

/** A row read back from a target (untrusted: any text, bounded). */
export function markerFromRow(row: Record<string, unknown> | undefined): RestoreMarker | undefined {
  if (!row) return undefined;
  const text = (v: unknown) => String(v ?? '').slice(0, 200);
  const startedAt = row.started_at instanceof Date ? row.started_at.toISOString() : text(row.started_at);
  return { backupId: text(row.backup_id), source: text(row.source), startedAt, host: text(row.host), pid: Number(row.pid) || 0 };
}

export function describeMarker(m: RestoreMarker): string {
  return `a restore of backup ${m.backupId} (source ${m.source}) started ${m.startedAt} on ${m.host} (pid ${m.pid}) and did not finish`;
}

/** What a restore without --clean says about a target that holds the mark. */
export function incompleteTargetError(target: string, m: RestoreMarker): DbBackupError {
  return new DbBackupError(
    'E_TARGET_EXISTS',
    `${target} holds an incomplete restore: ${describeMarker(m)}; its contents are partial. Restore again with --clean, or into a new database.`,
    { details: { incompleteRestore: m } },
  );
}

/** The plan's warning (restore --dry-run). */
export function incompleteTargetWarning(target: string, m: RestoreMarker): string {
  return `${target} holds an incomplete restore (${describeMarker(m)}); the restore will refuse to run without --clean.`;
}
