// Scratch folders under the temp folder that a killed run (kill -9, power loss) cannot leak for
// ever: each is named after its process, and making one removes the stale ones of the same prefix
// whose process is gone and which are older than STALE_MS (another machine or container sharing
// the folder could reuse a pid number: the age bounds that case).
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
  for (const name of await readdir(tmpdir())) {
    const pid = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\d+)-`).exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid || alive(Number(pid))) continue;
    const path = join(tmpdir(), name);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isDirectory() || now - info.mtimeMs < STALE_MS) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
