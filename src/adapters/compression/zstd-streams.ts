import { Transform, type TransformCallback } from 'node:stream';
import { type Binding, EMPTY, load, Slab } from './zstd-binding.js';
import { type RemoteStream, type WorkerClaim, ZstdPool } from './zstd-pool.js';

export interface ZstdEncoderOptions {
  level: number;
  /**
   * Compression threads (a process-wide pool of worker threads, see ZstdPool) that large streams
   * are compressed on, off the event loop; 0 compresses on the calling thread. A stream moves to a
   * thread once it has passed `threadsAfter` bytes (default 1 MiB), so that the many small parts
   * of a database are compressed where they are, without a round trip.
   */
  threads: number;
  threadsAfter?: number;
  /**
   * Level 1 only: compress the stream with level 1's parameters, DENSE ones or LITERAL ones,
   * whichever suits a sample of its first SAMPLE_BYTES (see `sampleParameters`). Default true.
   */
  adaptive?: boolean;
}

/** How much of a stream's start `adaptive` compresses with each parameter set to choose one. */
export const SAMPLE_BYTES = 1 << 20;

/** The parameter sets level 1 chooses from, cheapest first when they pack alike. */
export type ZstdChoice = 'literal' | 'level1' | 'dense';

/** zstd's experimental ZSTD_c_literalCompressionMode, and ZSTD_ps_enable (zstd.h, 1.5.x). */
const LITERAL_COMPRESSION_MODE = 1002;
const PS_ENABLE = 1;

/**
 * Level 3's match finder (zstd's "dfast": two hash tables, 2^17 and 2^16 entries) with level 1's
 * window (512 KiB) and minimum match (6). On prose, names and e-mail addresses it packs 5–12 %
 * smaller than level 1 at about 1.4× its CPU (3× on data with few repeats); on high-entropy data
 * (tokens, hashes, random ids) level 1's small table and cheaper matches pack up to 3 % smaller.
 */
const DENSE = { strategy: 'dfast', hashLog: 17, chainLog: 16, minMatch: 6, windowLog: 19 } as const;

/**
 * zstd's fast level -16 (its match finder skips ahead 16 positions at a time where nothing
 * matches) with the literals still Huffman-coded, which negative levels otherwise leave raw. On
 * data with few repeats, whose gain is the literals' entropy (digit strings such as sysbench's,
 * hex tokens), it packs within 1 % of level 1 in about half its CPU (measured: 98 MB of sysbench
 * rows, 44.8 against 44.5 MB, 126 against 237 ms; -8 packed 44.9 MB in 135 ms); on data with
 * repeats it packs far worse, so it is only ever chosen by the sample.
 */
const LITERAL_LEVEL = -16;
/**
 * DENSE is chosen when its sample packs at least 2 % smaller than level 1's: it costs 1.4–3× level
 * 1's CPU, a poor trade for less (SQLite pages of the incremental bench: 1.4 % smaller for 2.6× the
 * CPU, which made a 20 %-of-pages incremental cost as much compression as half a full).
 */
const DENSE_MARGIN = 0.98;
/** LITERAL is chosen when its sample is at most this much larger than the best of the others. */
const LITERAL_MARGIN = 1.015;

/** The [ZSTD_cParameter, value] pairs of `choice` (levels other than 1: `level`'s defaults). */
export function zstdParameters(level: number, choice: ZstdChoice | undefined): [number, number][] {
  const z = load();
  const C = z.CParameter;
  if (choice === 'literal') return [[C.compressionLevel, LITERAL_LEVEL], [LITERAL_COMPRESSION_MODE, PS_ENABLE], [C.checksumFlag, 1]];
  const out: [number, number][] = [[C.compressionLevel, level]];
  if (choice === 'dense') {
    out.push([C.strategy, z.Strategy[DENSE.strategy]], [C.hashLog, DENSE.hashLog], [C.chainLog, DENSE.chainLog], [C.minMatch, DENSE.minMatch], [C.windowLog, DENSE.windowLog]);
  }
  out.push([C.checksumFlag, 1]);
  return out;
}

type CCtx = InstanceType<Binding['CCtx']>;

function contextFor(params: [number, number][]): CCtx {
  const cctx = new (load().CCtx)();
  for (const [k, v] of params) cctx.setParameter(k, v);
  return cctx;
}

/** Contexts for ZstdEncodeStream.oneShot, by parameters (a few: level × choice). */
const sharedContexts = new Map<string, CCtx>();

let sampler: { plain: CCtx; dense: CCtx; literal: CCtx | undefined; out: Buffer } | undefined;

/** LITERAL's context, or undefined when the zstd library refuses its experimental parameter (then it is never chosen). */
function literalContext(): CCtx | undefined {
  try {
    return contextFor(zstdParameters(1, 'literal'));
  } catch {
    return undefined;
  }
}

/**
 * Compresses `sample` with each parameter set (one-shot, on shared contexts: the calls are
 * synchronous) and says which to use: LITERAL when it packs within LITERAL_MARGIN of the best
 * (it costs the least CPU), else DENSE when it packs at least DENSE_MARGIN smaller than level 1.
 */
export function chooseParameters(sample: Buffer): ZstdChoice {
  return sampleParameters(sample).choice;
}

/** chooseParameters, and how many times smaller the sample packed (the better of level 1 and DENSE). */
export function sampleParameters(sample: Buffer): { choice: ZstdChoice; ratio: number } {
  sampler ??= {
    plain: contextFor(zstdParameters(1, 'level1')),
    dense: contextFor(zstdParameters(1, 'dense')),
    literal: literalContext(),
    out: Buffer.allocUnsafe(load().compressBound(SAMPLE_BYTES)),
  };
  const input = sample.subarray(0, SAMPLE_BYTES);
  const plain = sampler.plain.compress2(sampler.out, input);
  const dense = sampler.dense.compress2(sampler.out, input);
  const best = Math.min(plain, dense);
  const ratio = input.length / Math.max(1, best);
  if (sampler.literal && sampler.literal.compress2(sampler.out, input) <= best * LITERAL_MARGIN) return { choice: 'literal', ratio };
  return { choice: dense < plain * DENSE_MARGIN ? 'dense' : 'level1', ratio };
}

const pools = new Map<number, ZstdPool>();

function pool(threads: number): ZstdPool {
  let p = pools.get(threads);
  if (!p) pools.set(threads, (p = new ZstdPool(threads)));
  return p;
}

/**
 * A level-1 stream whose sample packs at least this many times smaller stays on the calling thread:
 * zstd runs at GB/s on such data (pgbench's blank-padded rows pack ~90:1), less than the cost of
 * handing its batches to a thread and back.
 */
const INLINE_RATIO = 8;

/**
 * A stream alone (no other open in the process's pools) whose sample packs less than this stays on
 * the calling thread: zstd stores such blocks raw, at GB/s (64 MiB of random bytes in 22 ms of CPU
 * here), for less than the hand-over to a thread would cost. A SQLite full's page maps (4 MiB of
 * hashes per GiB) no longer start a thread at the end of the backup.
 */
const STORED_RATIO = 1.1;
/**
 * A stream alone (ZstdPool.claimWorkers gives it zstd's own threads) is compressed on the calling
 * thread by them, one standard frame, when its level is at most MT_MAX_LEVEL (higher levels' contexts
 * are tens of MB each) and its sample packs less than MULTI_INLINE_RATIO (denser data runs at GB/s on
 * one thread, as INLINE_RATIO says). The calling thread waits in zstd only when both of zstd's
 * threads are busy, when the cores are busy anyway.
 */
const MT_MAX_LEVEL = 3;
const MULTI_INLINE_RATIO = 32;
/**
 * The input of one of zstd's jobs (ZSTD_c_jobSize; zstd's own choice at level 1 is 2 MiB). zstd
 * holds a few jobs' input and output per stream; each job re-reads the window's last 1/8 (64 KiB
 * at level 1) before its own.
 */
const MT_JOB_BYTES = 1 << 20;

/** Input bytes copied into one message to a compression thread. */
const BATCH_BYTES = 1 << 20;
/**
 * The writer is held back once more than this is sent and not yet compressed: two batches at most,
 * one being compressed while the next is filled (fewer, larger messages cost the least CPU).
 */
const IN_FLIGHT_BYTES = BATCH_BYTES;

/** Streaming zstd compression with a content checksum in every frame (the decoder verifies it). */
export class ZstdEncodeStream extends Transform {
  private cctx: InstanceType<Binding['CCtx']> | undefined;
  /** The stream on a compression thread, once this one passed `holdUntil` bytes with threads > 0. */
  private remote: RemoteStream | undefined;
  private batch: Uint8Array | undefined;
  /** Batches handed back by the thread, for reuse. */
  private readonly spare: ArrayBuffer[] = [];
  private batchLength = 0;
  private inFlight = 0;
  /** The write callback held while too much is in flight; the flush callback until the thread is done. */
  private heldBack: TransformCallback | undefined;
  private finishing: TransformCallback | undefined;
  /** True once the stream went to a compression thread (for tests and logs). */
  offloaded = false;
  /** zstd's own threads compressing it on the calling thread (see MT_MAX_LEVEL; for tests and logs). */
  workers = 0;
  private claim: WorkerClaim | undefined;
  private readonly held: Buffer[] = [];
  private heldBytes = 0;
  private readonly slab = new Slab(512 << 10, 64 << 10);
  /** Bytes held back before the context is made: the sample, and the wait for threads. */
  private readonly holdUntil: number;
  private readonly adaptive: boolean;
  /** The parameters chosen (for tests and logs); undefined until the context exists. */
  chosen: ZstdChoice | `level${number}` | undefined;

  constructor(private readonly options: ZstdEncoderOptions) {
    super({ highWaterMark: 1 << 20 });
    this.adaptive = options.level === 1 && options.adaptive !== false;
    this.holdUntil = options.threads > 0 ? (options.threadsAfter ?? SAMPLE_BYTES) : this.adaptive ? SAMPLE_BYTES : 0;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      if (this.remote) return this.send(chunk, done);
      if (this.cctx) {
        this.compress(chunk, load().EndDirective.continue);
        return done();
      }
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      if (this.heldBytes < this.holdUntil) return done();
      const verdict = this.sample();
      const place = this.place(verdict?.ratio);
      if (place === 'thread') return this.offload(verdict?.choice, done);
      this.start(verdict?.choice, place === 'multi' ? pool(this.options.threads).claimWorkers() : undefined);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      if (this.remote) {
        this.post();
        this.finishing = done;
        this.remote.end();
        return;
      }
      if (!this.cctx) {
        // The whole part is held (it is smaller than the sample): one frame from a shared context.
        this.oneShot(this.sample()?.choice);
        return done();
      }
      this.compress(Buffer.alloc(0), load().EndDirective.end);
      this.release();
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _destroy(err: Error | null, done: (error: Error | null) => void): void {
    this.remote?.close();
    this.release();
    done(err);
  }

  /** Gives zstd's own threads back: the context goes (they end when it is collected) and the next stream alone may have them. */
  private release(): void {
    if (!this.claim) return;
    this.claim.release();
    this.claim = undefined;
    this.cctx = undefined;
  }

  /**
   * Where a stream whose sample packed `ratio`:1 (undefined: not sampled) is compressed: on the
   * calling thread, there with zstd's own threads, or on a compression thread (see INLINE_RATIO,
   * STORED_RATIO, MT_MAX_LEVEL).
   */
  private place(ratio: number | undefined): 'here' | 'multi' | 'thread' {
    if (this.options.threads <= 0) return 'here';
    const threads = pool(this.options.threads);
    if (threads.alone && ratio !== undefined && ratio < STORED_RATIO) return 'here';
    if (threads.multiAvailable && this.options.level <= MT_MAX_LEVEL && !(ratio !== undefined && ratio >= MULTI_INLINE_RATIO)) return 'multi';
    return ratio !== undefined && ratio >= INLINE_RATIO ? 'here' : 'thread';
  }

  /** The sampled choice of a level-1 stream (on what was held back); undefined at other levels. */
  private sample(): { choice: ZstdChoice; ratio: number } | undefined {
    if (!this.adaptive) return undefined;
    const held = this.held;
    const sample = held.length === 1 ? held[0]! : Buffer.concat(held, Math.min(SAMPLE_BYTES, this.heldBytes));
    return sample.length > 0 ? sampleParameters(sample) : { choice: 'level1', ratio: 1 };
  }

  /** Moves the stream, with what was held back, to a compression thread. */
  private offload(choice: ZstdChoice | undefined, done: TransformCallback): void {
    this.chosen = choice ?? `level${this.options.level}`;
    this.offloaded = true;
    this.remote = pool(this.options.threads).open(this.options.level, zstdParameters(this.options.level, choice), {
      output: (chunk) => this.push(chunk),
      acked: (n, buffer) => {
        this.inFlight -= n;
        if (buffer) this.spare.push(buffer);
        const held = this.heldBack;
        if (held && this.inFlight <= IN_FLIGHT_BYTES) {
          this.heldBack = undefined;
          held();
        }
      },
      done: () => {
        this.remote = undefined;
        this.finishing?.();
      },
      failed: (err) => {
        this.remote = undefined;
        const cb = this.heldBack ?? this.finishing;
        this.heldBack = this.finishing = undefined;
        if (cb) cb(err);
        else this.destroy(err);
      },
    });
    const held = this.held.splice(0);
    this.heldBytes = 0;
    for (const chunk of held.slice(0, -1)) this.copy(chunk);
    this.send(held[held.length - 1]!, done);
  }

  /** Copies `chunk` into batches for the thread; calls `done` now, or once little enough is in flight. */
  private send(chunk: Buffer, done: TransformCallback): void {
    this.copy(chunk);
    if (this.inFlight > IN_FLIGHT_BYTES) this.heldBack = done;
    else done();
  }

  private copy(chunk: Buffer): void {
    for (let at = 0; at < chunk.length; ) {
      this.batch ??= new Uint8Array(this.spare.pop() ?? new ArrayBuffer(BATCH_BYTES));
      const n = Math.min(chunk.length - at, BATCH_BYTES - this.batchLength);
      this.batch.set(chunk.subarray(at, at + n), this.batchLength);
      this.batchLength += n;
      at += n;
      if (this.batchLength === BATCH_BYTES) this.post();
    }
  }

  /** Sends the batch so far (its buffer is transferred, not copied). */
  private post(): void {
    if (!this.batch || this.batchLength === 0) return;
    this.inFlight += this.batchLength;
    this.remote!.data(this.batch.buffer as ArrayBuffer, this.batchLength);
    this.batch = undefined;
    this.batchLength = 0;
  }

  /** Creates the context here (with `claim`'s threads, see MT_MAX_LEVEL) and compresses what was held back. */
  private start(choice: ZstdChoice | undefined, claim?: WorkerClaim): void {
    const held = this.held.splice(0);
    this.heldBytes = 0;
    this.chosen = choice ?? `level${this.options.level}`;
    this.cctx = contextFor(zstdParameters(this.options.level, choice));
    if (claim) {
      this.claim = claim;
      try {
        this.cctx.setParameter(load().CParameter.nbWorkers, claim.workers);
        this.cctx.setParameter(load().CParameter.jobSize, MT_JOB_BYTES);
        this.workers = claim.workers;
      } catch {
        // A zstd built without threads refuses nbWorkers: the stream stays single-threaded.
        this.release();
        this.cctx = contextFor(zstdParameters(this.options.level, choice));
      }
    }
    for (const chunk of held) this.compress(chunk, load().EndDirective.continue);
  }

  /**
   * Compresses what was held back as one frame with zstd's one-shot call on a context shared by
   * every stream with these parameters (the call is synchronous, so sharing is safe): a part of a
   * few hundred bytes (10,000 small collections) no longer allocates a context and a slab of its own.
   */
  private oneShot(choice: ZstdChoice | undefined): void {
    const held = this.held.splice(0);
    const input = held.length === 1 ? held[0]! : Buffer.concat(held, this.heldBytes);
    this.heldBytes = 0;
    this.chosen = choice ?? `level${this.options.level}`;
    const params = zstdParameters(this.options.level, choice);
    const key = JSON.stringify(params);
    let cctx = sharedContexts.get(key);
    if (!cctx) {
      cctx = contextFor(params);
      // Higher levels' contexts are tens of MB: kept only while this stream needs one.
      if (this.options.level <= MT_MAX_LEVEL) sharedContexts.set(key, cctx);
    }
    const out = Buffer.allocUnsafe(load().compressBound(input.length));
    this.push(out.subarray(0, cctx.compress2(out, input)));
  }

  private compress(input: Buffer, end: number): void {
    const flushing = end !== load().EndDirective.continue;
    let src = input;
    for (;;) {
      const [ret, produced, consumed] = this.cctx!.compressStream2(this.slab.space(), src, end);
      if (produced > 0) this.push(this.slab.take(produced));
      src = src.subarray(consumed);
      if (src.length === 0 && (!flushing || ret === 0)) return;
    }
  }
}
