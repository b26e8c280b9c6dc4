import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { workerThreads } from './builtins.js';
import { keepAfterThreadStart } from './heap-tuning.js';

export interface FileDigest {
  size: number;
  sha256: string;
}

/**
 * The worker's whole program (CommonJS, started with `eval`: no file to find next to a bundle).
 * It reads each file it is sent with plain read(2) calls into one reused buffer and hashes it: no
 * stream, no allocation per chunk, and all of it off the event loop.
 */
const WORKER = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const buf = Buffer.allocUnsafe(1 << 20);
parentPort.on('message', ({ id, path }) => {
  let fd;
  try {
    fd = fs.openSync(path, 'r');
    const hash = createHash('sha256');
    let size = 0;
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; size += n) hash.update(buf.subarray(0, n));
    parentPort.postMessage({ id, size, sha256: hash.digest('hex') });
  } catch (err) {
    parentPort.postMessage({ id, error: { message: String(err && err.message || err), code: err && err.code } });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
});
`;

interface Job {
  id: number;
  path: string;
  resolve(d: FileDigest): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
  /** Ends the idle thread (set while it waits for work). */
  retire?: NodeJS.Timeout;
}

/** A thread idle this long is ended: each holds tens of MB (its own heap) that the rest of a restore (a change apply) needs more. */
const IDLE_MS = 250;

/**
 * sha256 of whole files on worker threads (up to `size` at once, default: the cores, at most 4).
 * A restore's pre-pass over a local repository hashes its parts here: ~2.5× faster than streaming
 * them through the event loop on two cores. Workers start on first use, keep the process alive
 * only while they have work, and end after IDLE_MS without any.
 */
export class HashPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 0;

  constructor(private readonly size = Math.min(4, availableParallelism())) {}

  hashFile(path: string, signal?: AbortSignal): Promise<FileDigest> {
    signal?.throwIfAborted();
    return new Promise<FileDigest>((resolve, reject) => {
      const job: Job = { id: this.nextId++, path, resolve, reject };
      const onAbort = () => this.cancel(job, signal!.reason as Error);
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = <T>(f: (v: T) => void) => (v: T) => {
        signal?.removeEventListener('abort', onAbort);
        f(v);
      };
      job.resolve = done(resolve);
      job.reject = done(reject);
      this.queue.push(job);
      this.pump();
    });
  }

  /** Stops every worker (queued and running jobs fail). */
  async close(): Promise<void> {
    for (const job of this.queue.splice(0)) job.reject(new Error('the hash pool was closed'));
    await Promise.all(this.slots.splice(0).map((s) => (s.job?.reject(new Error('the hash pool was closed')), s.worker.terminate())));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => !s.job);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const job = this.queue.shift()!;
      clearTimeout(slot.retire);
      slot.job = job;
      slot.worker.ref();
      slot.worker.postMessage({ id: job.id, path: job.path });
    }
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new (workerThreads().Worker)(WORKER, { eval: true }), job: undefined };
    keepAfterThreadStart(slot.worker);
    slot.worker.on('message', (m: { id: number; size?: number; sha256?: string; error?: { message: string; code?: string } }) => {
      const job = slot.job;
      if (!job || job.id !== m.id) return;
      slot.job = undefined;
      slot.worker.unref();
      if (m.error) job.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      else job.resolve({ size: m.size!, sha256: m.sha256! });
      this.pump();
      if (!slot.job) slot.retire = setTimeout(() => this.retire(slot), IDLE_MS).unref();
    });
    const fail = (err: Error) => {
      this.drop(slot);
      slot.job?.reject(err);
      this.pump();
    };
    slot.worker.on('error', fail);
    slot.worker.on('exit', (code) => fail(new Error(`a hashing thread stopped (exit code ${code})`)));
    this.slots.push(slot);
    return slot;
  }

  private cancel(job: Job, reason: Error): void {
    const queued = this.queue.indexOf(job);
    if (queued >= 0) this.queue.splice(queued, 1);
    const slot = this.slots.find((s) => s.job === job);
    if (slot) {
      // The thread is mid-file: stop it rather than wait for the file's end.
      this.drop(slot);
      slot.job = undefined;
      void slot.worker.terminate();
    }
    job.reject(reason);
  }

  private retire(slot: Slot): void {
    if (slot.job) return;
    this.drop(slot);
    void slot.worker.terminate();
  }

  private drop(slot: Slot): void {
    clearTimeout(slot.retire);
    const at = this.slots.indexOf(slot);
    if (at >= 0) this.slots.splice(at, 1);
  }
}

let shared: HashPool | undefined;

/** The process's pool, made on first use. */
export function hashPool(): HashPool {
  shared ??= new HashPool();
  return shared;
}

/**
 * Files up to this size are hashed on the event loop (`hashSmallFile`): a thread costs ~30 ms of CPU
 * to start (its own isolate), while 1 MiB hashes in under 1 ms. A small backup's parts (schema,
 * TOC, tails of tables) then start no thread at all.
 */
export const INLINE_HASH_MAX = 1 << 20;

/**
 * sha256 of a file read on the event loop in 256 KiB reads (memory bounded whatever the file's
 * size): for small files, where starting a hashing thread costs more than the hash.
 */
export async function hashSmallFile(path: string, signal?: AbortSignal): Promise<FileDigest> {
  signal?.throwIfAborted();
  const handle = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(256 << 10);
    let size = 0;
    for (let n; (n = (await handle.read(buf, 0, buf.length, null)).bytesRead) > 0; size += n) {
      signal?.throwIfAborted();
      hash.update(buf.subarray(0, n));
    }
    return { size, sha256: hash.digest('hex') };
  } finally {
    await handle.close();
  }
}
