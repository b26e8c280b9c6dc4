import { dirname } from 'node:path';
import { DbBackupError, isNoSpace, noSpaceError } from '../../../domain/errors.js';
import type BetterSqlite3 from 'better-sqlite3';
import { openSource } from './sqlite-file.js';
import { describeObjects, schemaRows, schemaSql, SIZES_UP_TO_BYTES } from './sqlite-schema.js';

export interface Snapshot {
  serverVersion: string;
  /** When the copy's read transaction saw the database. */
  consistentAt: Date;
}

/**
 * Copies the database at `path` into `file` with the online backup API: a consistent snapshot
 * while other connections write. After the first step, everything that remains is copied in one
 * step: one read transaction (in WAL mode writers carry on; the write lock is never held), so the
 * copy finishes even under a steady stream of writes. `dir` (the copy's folder) names the hint
 * when the disk is full.
 */
export async function takeSnapshot(path: string, file: string): Promise<Snapshot> {
  const source = await openSource(path);
  try {
    const serverVersion = (source.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
    await source.backup(file, { progress: () => 0x7fffffff });
    return { serverVersion, consistentAt: new Date() };
  } catch (err) {
    if (isNoSpace(err)) throw noSpaceError(err, `the snapshot of ${path} in ${dirname(dirname(file))}`, 'set TMPDIR to a folder with room for a copy of the database.');
    const hint = snapshotHint(String((err as { code?: unknown }).code), dirname(file));
    throw new DbBackupError('E_BACKUP_FAILED', `Could not snapshot ${path}: ${(err as Error).message}.${hint}`, { cause: err });
  } finally {
    source.close();
  }
}

function snapshotHint(code: string, dir: string): string {
  if (/^SQLITE_(BUSY|LOCKED)/.test(code)) {
    return ' Another connection held a lock for more than 10 s (EXCLUSIVE locking mode or a long write); retry when it is done.';
  }
  if (/^SQLITE_(FULL|IOERR)/.test(code)) {
    return ` The snapshot is copied to ${dirname(dir)} first: set TMPDIR to a folder with room for a copy of the database.`;
  }
  return '';
}

/**
 * The engine facts a manifest records of a snapshot (`engineInfo`); `sized` when dbstat measured
 * the objects; `journalMode` the source's when `db` is an in-memory copy (whose own mode is 'memory').
 */
export function snapshotFacts(db: BetterSqlite3.Database, sized: boolean, journalMode?: string): Record<string, unknown> {
  return {
    pageSize: db.pragma('page_size', { simple: true }),
    pageCount: db.pragma('page_count', { simple: true }),
    encoding: db.pragma('encoding', { simple: true }),
    userVersion: db.pragma('user_version', { simple: true }),
    applicationId: db.pragma('application_id', { simple: true }),
    journalMode: journalMode ?? db.pragma('journal_mode', { simple: true }),
    autoVacuum: db.pragma('auto_vacuum', { simple: true }),
    objectSizes: sized ? 'dbstat' : `not measured (file over ${SIZES_UP_TO_BYTES >> 20} MiB)`,
  };
}

/**
 * What the manifest records of the database `db` reads (a snapshot's read transaction, or a
 * filtered copy): exact row counts always (count(*) walks the smallest b-tree of each table),
 * bytes per table only for files up to SIZES_UP_TO_BYTES (dbstat reads every page: on large files
 * it cost as much as the backup itself), the engine facts and the schema as SQL.
 */
export function describeSnapshot(db: BetterSqlite3.Database, size: number, journalMode?: string) {
  const sized = size <= SIZES_UP_TO_BYTES;
  const { objects, warnings } = describeObjects(db, { sizes: sized });
  const engineInfo = snapshotFacts(db, sized, journalMode);
  const settings = {
    page_size: engineInfo.pageSize,
    auto_vacuum: engineInfo.autoVacuum,
    encoding: engineInfo.encoding,
    user_version: engineInfo.userVersion,
    application_id: engineInfo.applicationId,
  };
  return { objects, warnings, engineInfo, schema: schemaSql(schemaRows(db), settings) };
}
