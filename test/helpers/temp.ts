import { constants } from 'node:fs';
import { access, mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temp folder (under `base`, the system temp folder by default); `cleanup()` removes it. */
export async function tempDir(prefix = 'dbb-', base = tmpdir()): Promise<{ path: string; cleanup(): Promise<void> }> {
  const path = await mkdtemp(join(base, prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/**
 * A memory-backed folder for tests that write and delete tens of thousands of small files (an
 * `npm install -g` unpacks ~30,000 files, 270 MB): /dev/shm when it is a tmpfs with `needBytes`
 * free and writable, else the system temp folder. Only where the files live changes, not what is checked.
 */
export async function memoryTempBase(needBytes = 2 * 1024 ** 3): Promise<string> {
  const TMPFS_MAGIC = 0x01021994;
  const fs = await statfs('/dev/shm').catch(() => undefined);
  const writable = await access('/dev/shm', constants.W_OK).then(() => true, () => false);
  return fs && writable && fs.type === TMPFS_MAGIC && fs.bavail * fs.bsize >= needBytes ? '/dev/shm' : tmpdir();
}
