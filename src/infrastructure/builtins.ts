import { createRequire } from 'node:module';
import type * as ChildProcess from 'node:child_process';
import type * as WorkerThreads from 'node:worker_threads';
import type * as Zlib from 'node:zlib';

// Node built-ins that only some commands use, loaded on first use rather than when the module that
// names them is: an SQLite backup neither spawns, nor starts a thread, nor gzips, yet the modules
// that can are in its start-up path (each import costs start-up time in every process).
const nodeRequire = createRequire(import.meta.url);

function once<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= nodeRequire(id) as T);
}

export const childProcess = once<typeof ChildProcess>('node:child_process');
export const workerThreads = once<typeof WorkerThreads>('node:worker_threads');
export const zlib = once<typeof Zlib>('node:zlib');
