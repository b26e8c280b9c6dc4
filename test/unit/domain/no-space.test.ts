import { describe, expect, it } from 'vitest';
import { DbBackupError, isNoSpace, noSpaceError } from '../../../src/domain/errors.js';

const errno = (code: string) => Object.assign(new Error(`${code}: something`), { code });

describe('full disk errors', () => {
  it('recognises ENOSPC, EDQUOT, EFBIG and SQLITE_FULL, also as a cause, and nothing else', () => {
    for (const code of ['ENOSPC', 'EDQUOT', 'EFBIG', 'SQLITE_FULL']) expect(isNoSpace(errno(code))).toBe(true);
    expect(isNoSpace(new DbBackupError('E_BACKUP_FAILED', 'x', { cause: errno('ENOSPC') }))).toBe(true);
    for (const code of ['EACCES', 'EIO', 'SQLITE_IOERR', 'ECONNRESET']) expect(isNoSpace(errno(code))).toBe(false);
    expect(isNoSpace(undefined)).toBe(false);
    expect(isNoSpace(new DbBackupError('E_STORAGE', 'x'))).toBe(false);
  });

  it('E_NO_SPACE (exit 1) names the path and the errno, and says what to do', () => {
    const e = noSpaceError(errno('EFBIG'), '/srv/b/x.tar.gz', 'free space in that folder or choose another --out.');
    expect(e.code).toBe('E_NO_SPACE');
    expect(e.exitCode).toBe(1);
    expect(e.message).toBe(
      'No space to write /srv/b/x.tar.gz: a file grew past the size limit of the file system or process (EFBIG). What this run wrote there was removed; free space in that folder or choose another --out.',
    );
    expect(e.details).toEqual({ path: '/srv/b/x.tar.gz', errno: 'EFBIG' });
    // Mapped once: an inner E_NO_SPACE keeps its path.
    expect(noSpaceError(e, 'the backup', 'x')).toBe(e);
  });
});
