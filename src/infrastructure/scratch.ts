// Scratch folders under the temp folder that a killed run (kill -9, power loss) cannot leak for
// ever: each is named after its process, and making one removes the stale ones of the same prefix
// whose process is gone and which are older than STALE_MS (another machine or container sharing
// the folder could reuse a pid number: the age bounds that case).
import { randomBytes } from 'node:crypto';
import { lstat, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { isProcessAlive } from './processes.js';

/** A scratch folder untouched this long, whose process is gone, is a leftover. */
export const STALE_MS = 6 * 3600_000;

/** Makes `<tmp>/<prefix><pid>-XXXXXX` (0700), first removing stale ones of the same prefix. */
export async function makeScratchDir(prefix: string, now = Date.now()): Promise<string> {
  await sweepScratch(prefix, now).catch(() => undefined);
  return mkdtemp(join(tmpdir(), `${prefix}${process.pid}-`));
}

/** Removes `<tmp>/<prefix><pid>-*` folders whose process is not running and that are older than STALE_MS. */
export async function sweepScratch(prefix: string, now = Date.now()): Promise<string[]> {
  const removed: string[] = [];
  // One pattern for the whole listing: the shared temp folder can hold thousands of entries.
  const ours = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\d+)-`);
  for (const name of await readdir(tmpdir())) {
    const pid = ours.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid || isProcessAlive(Number(pid))) continue;
    const path = join(tmpdir(), name);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isDirectory() || now - info.mtimeMs < STALE_MS) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}


const TEMP_MARK = '.dbbackup-tmp-';

/**
 * A temp file beside `path` (an archive or a restored database written aside, then renamed into
 * place): `<dir>/[.]<name>.dbbackup-tmp-<pid>-<random>`, so the next run can tell a killed run's.
 */
export function tempBeside(path: string, hidden = false): string {
  return join(dirname(path), `${hidden ? '.' : ''}${basename(path)}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`);
}

/**
 * Removes the temp files beside `path` (as tempBeside names them, with SQLite's -wal, -shm and
 * -journal of one) that a killed run left: those whose process is gone, and any older than
 * STALE_MS (also the names without a pid that earlier versions wrote). Unlike scratch folders in
 * the shared temp folder, a dead pid alone is enough here: two machines writing one archive or
 * restoring into one database at once would already overwrite each other.
 */
export async function sweepTempBeside(path: string, hidden = false, now = Date.now()): Promise<string[]> {
  const removed: string[] = [];
  const prefix = `${hidden ? '.' : ''}${basename(path)}${TEMP_MARK}`;
  for (const name of await readdir(dirname(path)).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const pid = /^(\d+)-/.exec(name.slice(prefix.length))?.[1];
    if (pid !== undefined && Number(pid) === process.pid) continue;
    const file = join(dirname(path), name);
    const info = await lstat(file).catch(() => undefined);
    if (!info?.isFile()) continue;
    if ((pid !== undefined && !isProcessAlive(Number(pid))) || now - info.mtimeMs >= STALE_MS) {
      await rm(file, { force: true });
      removed.push(file);
    }
  }
  return removed;
}
