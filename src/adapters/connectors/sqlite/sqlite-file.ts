import { open, stat } from 'node:fs/promises';
import type BetterSqlite3 from 'better-sqlite3';
import { DbBackupError } from '../../../domain/errors.js';
import { Database } from '../../../infrastructure/sqlite-driver.js';

export { Database };


const HEADER = Buffer.from('SQLite format 3\0', 'latin1');

export interface FileState {
  exists: boolean;
  /** True when there is nothing to lose: no file, a 0-byte file, or a database with no objects. */
  empty: boolean;
  isSqlite: boolean;
  objects: string[];
}

/** Looks at a path without changing it (but for rolling back a hot journal a killed writer left, as any SQLite opener does). */
export async function inspectFile(path: string): Promise<FileState> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return { exists: false, empty: true, isSqlite: false, objects: [] };
  if (!info.isFile()) throw new DbBackupError('E_USAGE', `${path} is not a file.`);
  if (info.size === 0) return { exists: true, empty: true, isSqlite: true, objects: [] };
  if (!(await hasSqliteHeader(path))) return { exists: true, empty: false, isSqlite: false, objects: [] };
  let objects: string[];
  try {
    objects = listObjects(path);
  } catch (err) {
    if (sqliteCode(err) !== 'SQLITE_READONLY_ROLLBACK') throw unreadable(path, err);
    // A hot journal: a writer (such as a restore killed mid-copy) stopped inside a transaction. A
    // read-only connection cannot roll it back; one read-write connection does, which puts the
    // file back as it was before that transaction, as any SQLite program opening it would.
    try {
      rollBackHotJournal(path);
      objects = listObjects(path);
    } catch (again) {
      throw unreadable(path, again);
    }
  }
  return { exists: true, empty: objects.length === 0, isSqlite: true, objects };
}

function listObjects(path: string): string[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
}

function rollBackHotJournal(path: string): void {
  const db = new Database(path, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 10000');
    db.pragma('schema_version');
  } finally {
    db.close();
  }
}

function sqliteCode(err: unknown): string {
  return String((err as { code?: unknown }).code);
}

function unreadable(path: string, err: unknown): DbBackupError {
  return new DbBackupError('E_RESTORE_FAILED', `Cannot open ${path} as a SQLite database: ${(err as Error).message}`, { cause: err });
}

export async function hasSqliteHeader(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(16);
    const { bytesRead } = await handle.read(buf, 0, 16, 0);
    return bytesRead === 16 && buf.equals(HEADER);
  } finally {
    await handle.close();
  }
}

/**
 * Opens a database for reading as a backup source, with errors that say what to fix. With `probe`
 * nothing is read (a connection that read a WAL database checkpoints and deletes its WAL when it
 * closes as the last one: `replicate` could then not resume), so a file that is not SQLite is
 * only found out by the first read.
 */
export async function openSource(path: string, options: { probe?: boolean } = {}): Promise<BetterSqlite3.Database> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new DbBackupError('E_NOT_FOUND', `The SQLite database ${path} does not exist; check --file.`);
  if (!info.isFile()) throw new DbBackupError('E_USAGE', `${path} is not a file; --file names a SQLite database file.`);
  // The header is checked through SQLite (SQLITE_NOTADB), not a file descriptor of our own: closing
  // one drops every POSIX lock this process holds on the file, such as `replicate`'s SHARED lock
  // (SQLite defers closing its own descriptors while the process holds locks).
  let db: BetterSqlite3.Database | undefined;
  try {
    db = new Database(path, { fileMustExist: true });
    db.pragma('busy_timeout = 10000');
    if (info.size > 0 && !options.probe) db.pragma('schema_version');
    return db;
  } catch (err) {
    db?.close();
    if (String((err as { code?: unknown }).code) === 'SQLITE_NOTADB') {
      throw new DbBackupError('E_SOURCE_INVALID', `${path} is not a SQLite database (its header is wrong); an encrypted database (SQLCipher, SEE) cannot be backed up without its key.`, { cause: err });
    }
    throw new DbBackupError('E_SOURCE_INVALID', `Cannot open ${path} as a SQLite database: ${(err as Error).message}`, { cause: err });
  }
}
