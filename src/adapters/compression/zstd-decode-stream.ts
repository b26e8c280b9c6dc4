import { Transform, type TransformCallback } from 'node:stream';
import { outputTooLong } from '../../infrastructure/output-limit.js';
import { type Binding, load, Slab } from './zstd-binding.js';

/**
 * The largest window a frame may ask the decoder to keep (2^25 = 32 MiB). Our encoder's levels
 * 1–19 use at most 2^23; a crafted frame asking for more is refused instead of allocated.
 */
const WINDOW_LOG_MAX = 25;

type DCtx = InstanceType<Binding['DCtx']>;

/**
 * Decoding contexts of streams that ended cleanly, kept for the next stream: a context is native
 * memory that V8 is told about, and one new context per part made the garbage collector run a full
 * mark-compact every few parts of a restore of many small tables.
 */
const SPARE_DCTX = 4;
const spareDctx: DCtx[] = [];

function takeDctx(): DCtx {
  const dctx = spareDctx.pop() ?? new (load().DCtx)();
  dctx.setParameter(load().DParameter.windowLogMax, WINDOW_LOG_MAX);
  return dctx;
}

/** Keeps a context whose last frame ended (reset: the next stream starts a new frame). */
function giveDctx(dctx: DCtx): void {
  if (spareDctx.length >= SPARE_DCTX) return;
  dctx.reset(load().ResetDirective.sessionOnly);
  spareDctx.push(dctx);
}

/**
 * Streaming zstd decompression; fails on a damaged or truncated frame or a checksum mismatch, and
 * once the output passes `maxOutput` bytes. Decodes at most one slab ahead of its reader: when
 * push() says the reader is full, the rest of the input chunk waits for the next _read (a few KiB
 * of zeros can expand to gigabytes, so an input chunk is never decoded whole in one go).
 */
export class ZstdDecodeStream extends Transform {
  private dctx: DCtx | undefined = takeDctx();
  private readonly slab = new Slab(1 << 20, 128 << 10);
  private inFrame = false;
  private produced = 0;
  /** The undecoded rest of an input chunk, and its callback, while the reader is full. */
  private waiting: { src: Buffer; done: TransformCallback } | undefined;

  constructor(private readonly maxOutput = Number.POSITIVE_INFINITY) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.decode(chunk, done);
  }

  override _read(size: number): void {
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      this.decode(waiting.src, waiting.done);
      if (this.waiting) return;
    }
    // The rest may have decoded to nothing more: its `done` then parked the write callback (the
    // reader still held a high-water mark), and with no push the reader never calls _read again.
    // Releasing it here keeps the input flowing; the next chunk decodes at most a slab ahead.
    super._read(size);
  }

  private decode(input: Buffer, done: TransformCallback): void {
    try {
      let src = input;
      for (;;) {
        const dst = this.slab.space();
        if (!this.dctx) throw new Error('zstd data after the end of the stream');
        const [ret, produced, consumed] = this.dctx.decompressStream(dst, src);
        src = src.subarray(consumed);
        const finished = src.length === 0 && (produced < dst.length || ret === 0);
        if (finished) this.inFrame = ret !== 0;
        if (produced > 0) {
          this.produced += produced;
          if (this.produced > this.maxOutput) throw outputTooLong(this.maxOutput);
          if (!this.push(this.slab.take(produced)) && !finished) {
            this.waiting = { src, done };
            return;
          }
        }
        if (finished) break;
      }
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    if (this.inFrame) return done(new Error('the stream ends in the middle of a zstd frame'));
    if (this.dctx) giveDctx(this.dctx);
    this.dctx = undefined;
    done();
  }

  override _destroy(err: Error | null, done: (error: Error | null) => void): void {
    this.waiting = undefined;
    done(err);
  }
}
