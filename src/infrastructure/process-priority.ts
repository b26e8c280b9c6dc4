import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** The highest nice value (the lowest scheduling priority) Unix systems take. */
export const LOWEST_PRIORITY = 19;

/**
 * Lowers this process's CPU scheduling priority to nice value `nice` (0–19) and returns the nice
 * value now in effect. It never raises it: a process already started nicer (`nice -n 15 dbbackup …`)
 * stays as it is. Only this process (and the threads and child processes it starts later, which
 * inherit it) is affected, never the database server's processes.
 *
 * On Linux the nice value belongs to each thread, so every thread the process has now (V8's and
 * libuv's helpers were started before this runs) is lowered, through /proc/self/task. A thread or
 * system that refuses is left as it is: a priority is a courtesy, never a reason to fail a backup.
 */
export function lowerPriority(nice: number): number {
  const want = Math.min(LOWEST_PRIORITY, Math.max(0, Math.trunc(nice)));
  const ids = threadIds();
  for (const id of ids) {
    try {
      if (getPriority(id) < want) setPriority(id, want);
    } catch {
      // Gone (a thread that ended) or not permitted: leave it.
    }
  }
  try {
    return getPriority(0);
  } catch {
    return 0;
  }
}

/** This process's threads on Linux (their ids are what setpriority takes), else 0: the process itself. */
function threadIds(): number[] {
  if (process.platform !== 'linux') return [0];
  try {
    const ids = readdirSync('/proc/self/task').map(Number).filter((n) => Number.isInteger(n) && n > 0);
    return ids.length > 0 ? ids : [0];
  } catch {
    return [0];
  }
}
