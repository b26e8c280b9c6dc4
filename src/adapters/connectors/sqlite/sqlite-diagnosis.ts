import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type { DiagnosisRequest } from '../../../application/ports/database-diagnosis.js';
import { fail, type Finding, ok, warn } from '../../../domain/diagnosis.js';
import { isDbBackupError } from '../../../domain/errors.js';
import { openSource } from './sqlite-file.js';

interface SqliteCheckContext {
  db: BetterSqlite3.Database;
  path: string;
  subject: string;
}

/** One SQLite doctor check; SQLITE_CHECKS is the list `doctor` runs. */
export type SqliteCheck = (ctx: SqliteCheckContext) => Promise<Finding[]>;

const version: SqliteCheck = async ({ db, subject }) => {
  const v = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  return [ok(subject, 'version', `SQLite ${v} (the library dbbackup carries)`)];
};

/** A backup reads the file; a restore writes a new file beside the target and renames it over. */
const privileges: SqliteCheck = async ({ path, subject }) => {
  const out: Finding[] = [ok(subject, 'privileges.backup', `${path} is readable`)];
  const dir = dirname(path);
  const writable = await access(dir, constants.W_OK).then(
    () => true,
    () => false,
  );
  out.push(
    writable
      ? ok(subject, 'privileges.restore', `${dir} is writable (a restore writes beside the file and renames it into place)`)
      : warn(subject, 'privileges.restore', `${dir} is not writable by this user, so a restore to ${path} would fail`, `Restore elsewhere, or run restores as the file's owner (chown/chmod the folder).`),
  );
  return out;
};

const journal: SqliteCheck = async ({ db, subject }) => {
  const mode = String(db.pragma('journal_mode', { simple: true }));
  if (mode === 'wal') return [ok(subject, 'settings', 'journal_mode=wal: backups do not block writers')];
  return [ok(subject, 'settings', `journal_mode=${mode}: a backup's copy waits for writers (PRAGMA journal_mode=WAL lets them run alongside)`)];
};

/** The SQLite checks, in order; a new one is one more entry. */
export const SQLITE_CHECKS: SqliteCheck[] = [version, privileges, journal];

/** `doctor` for a SQLite source: the file opens as a database, then SQLITE_CHECKS. */
export async function diagnoseSqlite(path: string, request: DiagnosisRequest): Promise<Finding[]> {
  const subject = request.subject;
  let db: BetterSqlite3.Database;
  try {
    db = await openSource(path);
  } catch (err) {
    const message = isDbBackupError(err) ? `${err.code}: ${err.message}` : (err as Error).message;
    return [fail(subject, 'reachability', message, 'Point the source\'s database: at the SQLite file, readable by this user.')];
  }
  try {
    const out = [ok(subject, 'reachability', `${path} opens as a SQLite database`)];
    for (const check of SQLITE_CHECKS) out.push(...(await check({ db, path, subject })));
    return out;
  } finally {
    db.close();
  }
}
