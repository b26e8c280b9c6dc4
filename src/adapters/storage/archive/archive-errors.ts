import { DbBackupError } from '../../../domain/errors.js';

/** Maps zlib/tar/zip parser failures on an archive to integrity errors a user can act on. */
export function archiveReadError(path: string, err: unknown): unknown {
  if (err instanceof DbBackupError || (err as Error)?.name === 'AbortError') return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT') return new DbBackupError('E_NOT_FOUND', `${path} does not exist; check the --file path.`);
  if (e?.code === 'Z_BUF_ERROR' || /unexpected end|premature|truncat/i.test(e?.message ?? '')) {
    return new DbBackupError('E_TRUNCATED', `${path} is truncated (it ends before the archive does); the copy is incomplete or damaged.`, {
      cause: err,
    });
  }
  if (e?.code === 'Z_DATA_ERROR' || /header|invalid|checksum/i.test(e?.message ?? '')) {
    return new DbBackupError('E_FOREIGN_ARCHIVE', `${path} is damaged or not a dbbackup archive (${e.message}).`, { cause: err });
  }
  return new DbBackupError('E_STORAGE', `Could not read ${path}: ${e?.message ?? String(err)}`, { cause: err });
}

export function readOnly(path: string): DbBackupError {
  return new DbBackupError('E_UNSUPPORTED', `${path} is an archive opened for reading; it cannot be changed.`);
}

export function writeOnly(path: string): DbBackupError {
  return new DbBackupError('E_UNSUPPORTED', `${path} is being written; it cannot be read until it is complete.`);
}

/**
 * Refuses an archive entry whose name would climb out of the backup's folder or is not a plain
 * `/`-separated relative path: `..` segments, absolute paths, backslashes, NUL (crafted archives).
 */
export function checkEntryName(path: string, name: string): void {
  if (name.startsWith('/') || name.includes('\\') || name.includes('\0') || /^[a-z]:/i.test(name) || name.split('/').includes('..')) {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `${path} holds an entry named ${JSON.stringify(name)}, outside any backup folder; it is not a dbbackup archive.`);
  }
}
