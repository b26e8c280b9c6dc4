import { setFlagsFromString } from 'node:v8';
import type { Worker } from 'node:worker_threads';

const FLAG = '--semi-space-growth-factor=1';
/** keepYoungGenerationSmall was called: thread starts set it again. */
let kept = false;

/**
 * Keeps V8's young generation at its initial size (1 MiB semi-spaces) instead of letting it grow
 * to 16 MiB ones. A streaming backup or restore allocates few JS objects but many Buffers; their
 * memory is freed only when a scavenge finds their small wrappers dead, so a large young
 * generation both costs its own ~30 MiB and lets tens of MiB of dead chunk buffers pile up in the
 * malloc heap between scavenges (measured on a 1 GB SQLite backup: peak RSS 150–165 → 130 MB at
 * the same CPU time).
 *
 * Why a growth factor and not `--max-semi-space-size`: the semi-space limit is read once, when
 * the heap is set up, so setting it from inside the program has no effect; the growth factor is
 * read each time the young generation would grow. (Given on the command line, V8 raises a factor
 * below 2 to 2 at start-up; set here, after start-up, 1 holds.) The flag is process-wide, and each
 * worker thread's start sets up a heap, which raises it to 2 again for every thread: see
 * keepAfterThreadStart.
 */
export function keepYoungGenerationSmall(): void {
  kept = true;
  setFlagsFromString(FLAG);
}

/**
 * Sets the growth factor again once `worker` runs (its heap is set up by then), when
 * keepYoungGenerationSmall was called. Without it the first hashing or zstd thread of a run
 * undid the setting: the main thread's young generation grew to 32 MiB during a MySQL chain
 * restore's replay (about 25 MB of its peak RSS).
 */
export function keepAfterThreadStart(worker: Worker): void {
  if (kept) worker.once('online', () => setFlagsFromString(FLAG));
}

/**
 * Fixes V8's old-generation growth at 3× the live heap after each full collection. V8 otherwise
 * picks the factor from how fast its last collections ran (1.1–4×), and with the small young
 * generation above it could settle low: an old generation of ~10 MB given a limit of ~17 MB,
 * which the chunks and stream objects promoted in flight refill within tenths of a second, so a
 * run fell into back-to-back full collections — 20 per SQLite incremental of 1 GB (0.1–0.37 s of
 * its main thread), 128 in one full backup (0.8 s) — or into none at all, by chance. At 3×, 2–4
 * per run, for ~5 MB more peak RSS. Read at each collection, so it holds when set from here.
 */
export function steadyOldGeneration(): void {
  baseGrowth = 200;
  setFlagsFromString(`--heap-growing-percent=${baseGrowth}`);
}

/** The process's growth percent outside withTightHeapGrowth: 0 (V8's own choice) until steadyOldGeneration. */
let baseGrowth = 0;
let tight = 0;

/**
 * Runs `work` with V8's old generation allowed to grow by half of what survived the last full GC
 * instead of up to 4× (the factor V8 picks while GC takes little of the time). For work that
 * holds a structure growing with the database's object count, however briefly: a PostgreSQL
 * dump's catalog and schema (a few kB per table) times 4 was the peak RSS, 290–320 MB at 10,000
 * tables and 500 MB at 20,000. More full GCs, each on a small heap. Nests and overlaps (backups
 * running side by side in a daemon): the last one out restores the process's setting (steadyOldGeneration's).
 */
export async function withTightHeapGrowth<T>(work: () => Promise<T>): Promise<T> {
  if (tight++ === 0) setFlagsFromString('--heap-growing-percent=50');
  try {
    return await work();
  } finally {
    if (--tight === 0) setFlagsFromString(`--heap-growing-percent=${baseGrowth}`);
  }
}
