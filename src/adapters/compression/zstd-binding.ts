import { createRequire } from 'node:module';

export type Binding = typeof import('zstd-napi/binding.js');
const require = createRequire(import.meta.url);
let binding: Binding | undefined;

/** The zstd-napi binding, loaded at first use. */
export function load(): Binding {
  binding ??= require('zstd-napi/binding') as Binding;
  return binding;
}

/**
 * Output is written into slabs and handed on as slices of them: one allocation per slab instead of
 * one per zstd call, and larger chunks downstream (fewer stream hops and socket writes). A slab
 * lives until every slice of it has been consumed, so memory stays bounded by the pipeline's
 * high-water marks.
 */
export const EMPTY = Buffer.alloc(0);

export class Slab {
  /** Allocated at the first write: a stream of a small part never needs one (see ZstdEncodeStream.oneShot). */
  private buf = EMPTY;
  private pos = 0;

  private used = false;

  constructor(
    private readonly size: number,
    private readonly minFree: number,
  ) {}

  /**
   * Free space to write into (a fresh slab when the current one is nearly full). The first slab is
   * 2 × minFree: a stream of a small part (most of 10,000 small collections) never needs a full one.
   */
  space(): Buffer {
    if (this.buf.length - this.pos < this.minFree) {
      this.buf = Buffer.allocUnsafe(this.used ? this.size : Math.min(this.size, 2 * this.minFree));
      this.used = true;
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
