/**
 * One error class for every expected failure. `code` is stable (scripts and tests match on it);
 * `message` says what went wrong and what to do; `details` never holds a secret.
 */
export type ErrorCode =
  | 'E_USAGE'
  | 'E_CONFIG'
  | 'E_NOT_FOUND'
  | 'E_BACKUP_NOT_FOUND'
  | 'E_NO_PARENT'
  | 'E_CHAIN_BROKEN'
  | 'E_SLOT_LOST'
  | 'E_SCHEMA_CHANGED'
  | 'E_KEYLESS_TABLES'
  | 'E_LOG_PURGED'
  | 'E_OPLOG_ROLLED'
  | 'E_NO_RESTORE_POINT'
  | 'E_TARGET_EXISTS'
  | 'E_TARGET_STATE'
  | 'E_CONN_REFUSED'
  | 'E_AUTH'
  | 'E_NETWORK_TIMEOUT'
  | 'E_CHECKSUM'
  | 'E_TRUNCATED'
  | 'E_FOREIGN_ARCHIVE'
  | 'E_TOO_LARGE'
  | 'E_FORMAT_VERSION'
  | 'E_SOURCE_INVALID'
  | 'E_BACKUP_FAILED'
  | 'E_RESTORE_FAILED'
  | 'E_STORAGE'
  | 'E_NO_SPACE'
  | 'E_DIFFERENT'
  | 'E_UNSUPPORTED'
  | 'E_JOURNAL_MODE'
  | 'E_LOCKED'
  | 'E_LOCK_TIMEOUT'
  | 'E_INTERRUPTED'
  | 'E_PARTIAL'
  | 'E_NOTIFY'
  | 'E_KEY'
  | 'E_DECRYPT'
  | 'E_UNSAFE_BACKUP'
  | 'E_MANIFEST_AUTH'
  | 'E_UPDATE'
  | 'E_UPDATE_AUTH'
  | 'E_BUSY'
  | 'E_INTERNAL';

/** Exit codes of DESIGN.md §1. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  connection: 3,
  integrity: 4,
  partial: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const exitCodes: Record<ErrorCode, ExitCode> = {
  E_USAGE: ExitCode.usage,
  E_CONFIG: ExitCode.usage,
  E_NOT_FOUND: ExitCode.failed,
  E_BACKUP_NOT_FOUND: ExitCode.failed,
  /** An incremental/differential has no usable parent (none, a broken chain, changes gone). */
  E_NO_PARENT: ExitCode.failed,
  /** A backup's chain misses a link (deleted or never completed): damage in the repository. */
  E_CHAIN_BROKEN: ExitCode.integrity,
  /**
   * The server no longer keeps the change log an incremental/differential needs (PostgreSQL: the
   * slot was invalidated, `wal_status = lost`, or dropped): the chain ends; the next backup is a full.
   */
  E_SLOT_LOST: ExitCode.failed,
  /** Tables changed shape since the parent and the change log carries no DDL: take a full (or --auto-full, or --capture-ddl). */
  E_SCHEMA_CHANGED: ExitCode.failed,
  /** `replicate` of PostgreSQL tables it cannot follow (no primary key or replica identity) without --replica-identity-full. */
  E_KEYLESS_TABLES: ExitCode.usage,
  /** The server's change log no longer reaches the parent's end (MySQL binlogs purged): the chain ends; take a full. */
  E_LOG_PURGED: ExitCode.failed,
  /** The MongoDB oplog no longer holds the entry at the parent's end (rolled over, or the set rolled back): the chain ends; take a full. */
  E_OPLOG_ROLLED: ExitCode.failed,
  /** `restore --at TIME` before every restorable point. */
  E_NO_RESTORE_POINT: ExitCode.failed,
  E_TARGET_EXISTS: ExitCode.failed,
  /**
   * `restore --changes-only`: the target's own state cannot be placed on the chain (it holds no GTID
   * of the source's domain — MySQL: server uuid — or stops before the chain's changes start); nothing was changed.
   */
  E_TARGET_STATE: ExitCode.failed,
  E_CONN_REFUSED: ExitCode.connection,
  E_AUTH: ExitCode.connection,
  /**
   * A connection (database or storage) passed no byte for the I/O timeout while an answer was due,
   * and was not closed either (a silent network partition, a dead middlebox, a frozen server): the
   * message names host:port and what was waited for.
   */
  E_NETWORK_TIMEOUT: ExitCode.connection,
  E_CHECKSUM: ExitCode.integrity,
  E_TRUNCATED: ExitCode.integrity,
  E_FOREIGN_ARCHIVE: ExitCode.integrity,
  /** Metadata (archive index, TOC, schema text) over a fixed limit: crafted or not ours. */
  E_TOO_LARGE: ExitCode.integrity,
  E_FORMAT_VERSION: ExitCode.integrity,
  E_SOURCE_INVALID: ExitCode.failed,
  E_BACKUP_FAILED: ExitCode.failed,
  E_RESTORE_FAILED: ExitCode.failed,
  E_STORAGE: ExitCode.failed,
  /** A local file system (repository, archive, temp folder, restore target) ran out of space or hit a size limit; what the run wrote was removed. */
  E_NO_SPACE: ExitCode.failed,
  /** `compare`: a table differs (rows or content) or is on one side only. */
  E_DIFFERENT: ExitCode.integrity,
  E_UNSUPPORTED: ExitCode.usage,
  /** `replicate` of a SQLite database in rollback-journal mode: it must be switched to WAL first. */
  E_JOURNAL_MODE: ExitCode.usage,
  /** Another process runs the same job (`replicate` of that source into that repository): stop it or wait. */
  E_LOCKED: ExitCode.failed,
  /** A backup waited past its lock wait limit for a table another session holds locked: the message names the table, the lock and its holder. */
  E_LOCK_TIMEOUT: ExitCode.failed,
  E_INTERRUPTED: ExitCode.failed,
  E_PARTIAL: ExitCode.partial,
  E_NOTIFY: ExitCode.failed,
  E_KEY: ExitCode.integrity,
  E_DECRYPT: ExitCode.integrity,
  /** A backup holds SQL or options beyond the objects it declares (crafted or damaged): nothing ran. */
  E_UNSAFE_BACKUP: ExitCode.integrity,
  E_MANIFEST_AUTH: ExitCode.integrity,
  /** self-update could not check, download or install (or refused: a downgrade, a job running). */
  E_UPDATE: ExitCode.failed,
  /** An update whose signature, size or digest does not match: nothing was replaced. */
  E_UPDATE_AUTH: ExitCode.integrity,
  /** The dashboard runs one action at a time: another was asked for while one ran. */
  E_BUSY: ExitCode.failed,
  E_INTERNAL: ExitCode.failed,
};

/** Codes that say the chain cannot go on from its parent, so that `--auto-full` takes a full instead. */
export const CHAIN_ENDING_CODES: readonly ErrorCode[] = ['E_NO_PARENT', 'E_SLOT_LOST', 'E_SCHEMA_CHANGED', 'E_LOG_PURGED', 'E_OPLOG_ROLLED'];

export function exitCodeFor(code: ErrorCode): ExitCode {
  return exitCodes[code];
}

export interface ErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class DbBackupError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DbBackupError';
    this.code = code;
    this.details = options.details ?? {};
  }

  get exitCode(): ExitCode {
    // A storage service or network that kept failing (5xx, resets, timeouts) after every retry
    // could not be reached, as far as the caller can tell: exit 3, as for a refused connection.
    if (this.code === 'E_STORAGE' && this.details.retryable === true) return ExitCode.connection;
    return exitCodeFor(this.code);
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, exitCode: this.exitCode, details: this.details };
  }
}

/** Error codes (errno, SQLite) that mean a file system is full, a quota is reached or a file grew past its limit. */
const NO_SPACE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'SQLITE_FULL']);

/** True when `err`, or an error in its `cause` chain, says a file system is full (see NO_SPACE_CODES). */
export function isNoSpace(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (isDbBackupError(e, 'E_NO_SPACE')) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NO_SPACE_CODES.has(code)) return true;
  }
  return false;
}

/**
 * E_NO_SPACE naming where: `where` is the path (or folder) written to, `fix` what to do. The errno's
 * own words are kept ("no space left on device", "file too large").
 */
export function noSpaceError(err: unknown, where: string, fix: string): DbBackupError {
  if (isDbBackupError(err, 'E_NO_SPACE')) return err;
  let code = 'ENOSPC';
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string' && NO_SPACE_CODES.has(c)) {
      code = c;
      break;
    }
  }
  const why = code === 'EFBIG' ? 'a file grew past the size limit of the file system or process (EFBIG)' : code === 'EDQUOT' ? 'the disk quota is used up (EDQUOT)' : `the file system is full (${code})`;
  return new DbBackupError('E_NO_SPACE', `No space to write ${where}: ${why}. What this run wrote there was removed; ${fix}`, { cause: err, details: { path: where, errno: code } });
}

export function isDbBackupError(err: unknown, code?: ErrorCode): err is DbBackupError {
  return err instanceof DbBackupError && (code === undefined || err.code === code);
}

/** True for errors that mean the operation was cancelled (AbortSignal), not that it failed. */
export function isAbortError(err: unknown): boolean {
  return (
    (err instanceof Error && (err.name === 'AbortError' || (err as { code?: string }).code === 'ABORT_ERR')) ||
    isDbBackupError(err, 'E_INTERRUPTED')
  );
}
