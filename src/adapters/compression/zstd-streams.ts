import { createRequire } from 'node:module';
import { Transform, type TransformCallback } from 'node:stream';

type Binding = typeof import('zstd-napi/binding.js');
const require = createRequire(import.meta.url);
let binding: Binding | undefined;

function load(): Binding {
  binding ??= require('zstd-napi/binding') as Binding;
  return binding;
}

/**
 * Output is written into slabs and handed on as slices of them: one allocation per slab instead of
 * one per zstd call, and larger chunks downstream (fewer stream hops and socket writes). A slab
 * lives until every slice of it has been consumed, so memory stays bounded by the pipeline's
 * high-water marks.
 */
class Slab {
  private buf: Buffer;
  private pos = 0;

  constructor(
    private readonly size: number,
    private readonly minFree: number,
  ) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Free space to write into (a fresh slab when the current one is nearly full). */
  space(): Buffer {
    if (this.buf.length - this.pos < this.minFree) {
      this.buf = Buffer.allocUnsafe(this.size);
      this.pos = 0;
    }
    return this.buf.subarray(this.pos);
  }

  /** Takes the next `n` written bytes as a chunk of their own. */
  take(n: number): Buffer {
    const chunk = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return chunk;
  }
}

export interface ZstdEncoderOptions {
  level: number;
  /**
   * Compression threads for a large stream (zstd's own worker pool, off the event loop); 0
   * compresses on the calling thread. Used only once the stream has passed `threadsAfter` bytes,
   * so that the many small parts of a database spawn no threads.
   */
  threads: number;
  threadsAfter?: number;
}

/** Streaming zstd compression with a content checksum in every frame (the decoder verifies it). */
export class ZstdEncodeStream extends Transform {
  private cctx: InstanceType<Binding['CCtx']> | undefined;
  private readonly held: Buffer[] = [];
  private heldBytes = 0;
  private readonly slab = new Slab(512 << 10, 64 << 10);

  constructor(private readonly options: ZstdEncoderOptions) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      if (!this.cctx && this.options.threads > 0) {
        this.held.push(chunk);
        this.heldBytes += chunk.length;
        if (this.heldBytes < (this.options.threadsAfter ?? 4 << 20)) return done();
        this.start(this.options.threads);
        return done();
      }
      this.cctx ??= this.context(0);
      this.compress(chunk, load().EndDirective.continue);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      if (!this.cctx) this.start(0);
      this.compress(Buffer.alloc(0), load().EndDirective.end);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  /** Creates the context and compresses what was held back while deciding on threads. */
  private start(threads: number): void {
    this.cctx = this.context(threads);
    const held = this.held.splice(0);
    this.heldBytes = 0;
    for (const chunk of held) this.compress(chunk, load().EndDirective.continue);
  }

  private context(threads: number): InstanceType<Binding['CCtx']> {
    const z = load();
    const cctx = new z.CCtx();
    cctx.setParameter(z.CParameter.compressionLevel, this.options.level);
    cctx.setParameter(z.CParameter.checksumFlag, 1);
    if (threads > 0) cctx.setParameter(z.CParameter.nbWorkers, threads);
    return cctx;
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

/** Streaming zstd decompression; fails on a damaged or truncated frame or a checksum mismatch. */
export class ZstdDecodeStream extends Transform {
  private readonly dctx = new (load().DCtx)();
  private readonly slab = new Slab(1 << 20, 128 << 10);
  private inFrame = false;

  constructor() {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      let src = chunk;
      for (;;) {
        const dst = this.slab.space();
        const [ret, produced, consumed] = this.dctx.decompressStream(dst, src);
        if (produced > 0) this.push(this.slab.take(produced));
        src = src.subarray(consumed);
        if (src.length === 0 && (produced < dst.length || ret === 0)) {
          this.inFrame = ret !== 0;
          break;
        }
      }
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    done(this.inFrame ? new Error('the stream ends in the middle of a zstd frame') : undefined);
  }
}
