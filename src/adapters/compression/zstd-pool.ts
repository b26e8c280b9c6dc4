import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { workerThreads } from '../../infrastructure/builtins.js';
import { keepAfterThreadStart } from '../../infrastructure/heap-tuning.js';

/**
 * The compression threads' whole program (CommonJS, started with `eval`: no file to find next to a
 * bundle; the binding's path comes in workerData). A thread holds any number of streams, each with
 * its own zstd context (made from the [ZSTD_cParameter, value] pairs it was opened with), and
 * handles their messages in order:
 *   open {id, params} · data {id, buf, len} · end {id} · close {id}
 * and answers {id, out?, ack?, buf?, done?, error?}. `ack` counts the input bytes of a data
 * message once they are compressed (the sender's bound on what is in flight); `buf` hands its
 * buffer back for the next batch.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const z = require(workerData.binding);
const scratch = Buffer.allocUnsafe(z.compressBound(1 << 20));
const streams = new Map();
function context(params) {
  const c = new z.CCtx();
  for (const [k, v] of params) c.setParameter(k, v);
  return c;
}
function compress(id, cctx, src, directive) {
  const flushing = directive !== z.EndDirective.continue;
  for (;;) {
    const [ret, produced, consumed] = cctx.compressStream2(scratch, src, directive);
    if (produced > 0) {
      const out = new Uint8Array(produced);
      out.set(scratch.subarray(0, produced));
      parentPort.postMessage({ id, out }, [out.buffer]);
    }
    src = src.subarray(consumed);
    if (src.length === 0 && (!flushing || ret === 0)) return;
  }
}
parentPort.on('message', (m) => {
  const cctx = streams.get(m.id);
  try {
    if (m.op === 'open') {
      streams.set(m.id, context(m.params));
    } else if (m.op === 'data' && cctx) {
      compress(m.id, cctx, Buffer.from(m.buf, 0, m.len), z.EndDirective.continue);
      parentPort.postMessage({ id: m.id, ack: m.len, buf: m.buf }, [m.buf]);
    } else if (m.op === 'end' && cctx) {
      compress(m.id, cctx, Buffer.alloc(0), z.EndDirective.end);
      streams.delete(m.id);
      parentPort.postMessage({ id: m.id, done: true });
    } else if (m.op === 'close') {
      streams.delete(m.id);
    }
  } catch (err) {
    streams.delete(m.id);
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
});
`;

/** What a stream on a compression thread is told. */
export interface RemoteListener {
  output(chunk: Buffer): void;
  acked(bytes: number, buffer?: ArrayBuffer): void;
  done(): void;
  failed(error: Error): void;
}

interface Reply {
  id: number;
  out?: Uint8Array;
  ack?: number;
  buf?: ArrayBuffer;
  done?: boolean;
  error?: string;
}

interface Slot {
  worker: Worker;
  streams: Map<number, RemoteListener>;
  retire?: NodeJS.Timeout;
}

/** A thread with no stream this long is ended (each holds its own heap, ~10 MB). */
const IDLE_MS = 250;

/**
 * A thread's own heap stays small: it holds a few buffers (outside the heap) and message objects;
 * a small young generation makes it collect those often instead of growing.
 */
const LIMITS = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 24 };

/**
 * Up to this level one thread compresses two streams (~450 MB/s at level 1 here, more than a
 * database server sends over two connections); above it, each stream gets a thread of its own
 * while there are threads to spare. A thread costs ~10 MB of memory.
 */
const FAST_LEVEL = 3;

/**
 * zstd's own threads (ZSTD_c_nbWorkers) for a stream compressed on the calling thread: two, when
 * no other stream is open in the process's pools and the pool and the machine have two threads to
 * give. One large stream (a SQLite database's pages) is then compressed on two cores instead of one,
 * with no hand-over to a pool thread (whose heap, batches and output messages cost ~40 MB of peak
 * RSS on a 1 GB SQLite backup); where several streams are open at once (PostgreSQL and MariaDB
 * tables in parallel) each keeps a single thread, so the compression threads never outnumber the
 * cores by more than the one stream that opened alone.
 */
const MT_WORKERS = 2;

/** zstd's own threads held by one stream (ZstdPool.claimWorkers) until it calls release (again: no-op). */
export interface WorkerClaim {
  readonly workers: number;
  release(): void;
}

/** One stream on a compression thread: the calls go to its thread in order. */
export interface RemoteStream {
  /** Sends `len` bytes of `buf` (transferred: the caller must not touch it again). */
  data(buf: ArrayBuffer, len: number): void;
  end(): void;
  close(): void;
}

/**
 * zstd compression on worker threads (up to `size`, default given by the codec), so that the
 * thread reading the database never waits on a compression call: a stream goes to the thread with
 * the fewest streams (see FAST_LEVEL), keeps it to its end (its context lives there), and its bytes travel as
 * transferred buffers. Threads start on first use, keep the process alive only while they hold a
 * stream, and end after IDLE_MS without one.
 */
export class ZstdPool {
  /** Streams open in every pool of the process, and claims of zstd's own threads (see MT_WORKERS). */
  private static openStreams = 0;
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private readonly workerData: { binding: string };
  private readonly multiWorkers: number;

  /** `cores`: the machine's (a test may say otherwise); zstd's own threads need two, and a pool of two. */
  constructor(
    private readonly size: number,
    cores = availableParallelism(),
  ) {
    this.workerData = { binding: createRequire(import.meta.url).resolve('zstd-napi/binding') };
    const workers = Math.min(MT_WORKERS, size, cores);
    this.multiWorkers = workers >= 2 ? workers : 0;
  }

  /** True while no stream is open in the process's pools and no one holds zstd's own threads. */
  get alone(): boolean {
    return ZstdPool.openStreams === 0;
  }

  /** True when claimWorkers would give zstd's own threads now (see MT_WORKERS). */
  get multiAvailable(): boolean {
    return this.alone && this.multiWorkers > 0;
  }

  /** zstd's own threads for a stream about to be compressed on the calling thread, or undefined (see MT_WORKERS). */
  claimWorkers(): WorkerClaim | undefined {
    if (!this.multiAvailable) return undefined;
    ZstdPool.openStreams++;
    let held = true;
    return {
      workers: this.multiWorkers,
      release: () => {
        if (held) ZstdPool.openStreams--;
        held = false;
      },
    };
  }

  /** A stream at `level` (it decides how many streams share a thread) whose context gets `params`. */
  open(level: number, params: [number, number][], listener: RemoteListener): RemoteStream {
    const slot = this.pick(level <= FAST_LEVEL ? 2 : 1);
    const id = this.nextId++;
    clearTimeout(slot.retire);
    slot.streams.set(id, listener);
    ZstdPool.openStreams++;
    slot.worker.ref();
    slot.worker.postMessage({ op: 'open', id, params });
    return {
      data: (buf, len) => slot.worker.postMessage({ op: 'data', id, buf, len }, [buf]),
      end: () => slot.worker.postMessage({ op: 'end', id }),
      close: () => {
        if (!this.forget(slot, id)) return;
        slot.worker.postMessage({ op: 'close', id });
        this.idle(slot);
      },
    };
  }

  /** Forgets stream `id` of `slot`; false when it was already gone. */
  private forget(slot: Slot, id: number): boolean {
    if (!slot.streams.delete(id)) return false;
    ZstdPool.openStreams--;
    return true;
  }

  /** The thread with the fewest streams, unless it already holds `share` and another may start. */
  private pick(share: number): Slot {
    const least = this.slots.reduce<Slot | undefined>((a, b) => (a && a.streams.size <= b.streams.size ? a : b), undefined);
    if (least && (least.streams.size < share || this.slots.length >= this.size)) return least;
    return this.spawn();
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new (workerThreads().Worker)(WORKER, { eval: true, workerData: this.workerData, resourceLimits: LIMITS }), streams: new Map() };
    keepAfterThreadStart(slot.worker);
    slot.worker.on('message', (m: Reply) => {
      const listener = slot.streams.get(m.id);
      if (!listener) return;
      if (m.out) listener.output(Buffer.from(m.out.buffer, m.out.byteOffset, m.out.byteLength));
      if (m.ack) listener.acked(m.ack, m.buf);
      if (m.error !== undefined) {
        this.forget(slot, m.id);
        this.idle(slot);
        listener.failed(new Error(`zstd compression failed: ${m.error}`));
      }
      if (m.done) {
        this.forget(slot, m.id);
        this.idle(slot);
        listener.done();
      }
    });
    const fail = (err: Error) => {
      const at = this.slots.indexOf(slot);
      if (at >= 0) this.slots.splice(at, 1);
      clearTimeout(slot.retire);
      const listeners = [...slot.streams.values()];
      for (const id of [...slot.streams.keys()]) this.forget(slot, id);
      for (const l of listeners) l.failed(err);
    };
    slot.worker.on('error', fail);
    slot.worker.on('exit', (code) => fail(new Error(`a compression thread stopped (exit code ${code})`)));
    this.slots.push(slot);
    return slot;
  }

  /** A thread without streams lets the process exit, and ends after IDLE_MS unless it gets one. */
  private idle(slot: Slot): void {
    if (slot.streams.size > 0) return;
    slot.worker.unref();
    clearTimeout(slot.retire);
    slot.retire = setTimeout(() => {
      if (slot.streams.size > 0) return;
      const at = this.slots.indexOf(slot);
      if (at >= 0) this.slots.splice(at, 1);
      void slot.worker.terminate();
    }, IDLE_MS).unref();
  }
}
