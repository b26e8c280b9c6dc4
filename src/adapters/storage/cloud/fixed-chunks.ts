import type { UploadBudget } from './upload-budget.js';

/**
 * Buffers of one size, handed out and taken back: an upload reuses its blocks instead of leaving
 * each to the garbage collector (V8 frees a Buffer only when a collection finds its small wrapper
 * dead, so dead blocks of several MiB would pile up between collections).
 */
export class BlockPool {
  private readonly free: Buffer[] = [];

  constructor(readonly size: number) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /**
   * Gives back a block from `take` (or a slice of one, as `fixedChunks` yields the last) once nothing
   * reads it. One idle block is kept (the next to fill); more are let go, so a pool that once had
   * many blocks out (before other uploads took the shared budget) does not keep them all.
   */
  give(block: Buffer): void {
    if (this.free.length === 0) this.free.push(Buffer.from(block.buffer, block.byteOffset, this.size));
  }
}

/**
 * Re-slices a byte stream into buffers of exactly `size` bytes (the last may be shorter; an empty
 * stream yields nothing). With a `pool`, each buffer is taken from it (the consumer gives it back
 * when done with it) and filled by copying; without, it holds at most one slice plus one chunk.
 */
export async function* fixedChunks(source: AsyncIterable<Uint8Array>, size: number, pool?: BlockPool): AsyncGenerator<Buffer> {
  if (pool) {
    yield* pooledChunks(source, pool);
    return;
  }
  let pending: Buffer[] = [];
  let length = 0;
  for await (const raw of source) {
    let chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    while (length + chunk.length >= size) {
      const take = size - length;
      pending.push(chunk.subarray(0, take));
      yield Buffer.concat(pending, size);
      chunk = chunk.subarray(take);
      pending = [];
      length = 0;
    }
    if (chunk.length > 0) {
      pending.push(chunk);
      length += chunk.length;
    }
  }
  if (length > 0) yield Buffer.concat(pending, length);
}

async function* pooledChunks(source: AsyncIterable<Uint8Array>, pool: BlockPool): AsyncGenerator<Buffer> {
  for await (const { block } of growingChunks(source, () => pool.size, pool)) yield block;
}

/**
 * Part `index` (from 0) of an upload whose parts start at `base` bytes and double every `every`
 * parts, up to `max`: an object of unknown length fits in a service's part count limit (S3 10,000
 * parts, Azure 50,000 blocks) whatever its size, while the common object keeps small parts (memory
 * grows only for objects past `base × every` bytes).
 */
export function growingPartSize(base: number, every: number, max: number): (index: number) => number {
  return (index) => Math.min(max, base * 2 ** Math.floor(index / every));
}

/**
 * Re-slices a byte stream into blocks of `sizeAt(i)` bytes for block i (the last may be shorter),
 * each taken from a pool of its size (a new pool when the size changes) and yielded with it: the
 * consumer gives the block back to that pool when done with it.
 */
export async function* growingChunks(source: AsyncIterable<Uint8Array>, sizeAt: (index: number) => number, first?: BlockPool): AsyncGenerator<{ block: Buffer; pool: BlockPool }> {
  let index = 0;
  let pool = first && first.size === sizeAt(0) ? first : new BlockPool(sizeAt(0));
  let block: Buffer | undefined;
  let length = 0;
  for await (const chunk of source) {
    let offset = 0;
    while (offset < chunk.length) {
      block ??= pool.take();
      const n = Math.min(pool.size - length, chunk.length - offset);
      block.set(chunk.subarray(offset, offset + n), length);
      length += n;
      offset += n;
      if (length === pool.size) {
        const full = block;
        block = undefined;
        length = 0;
        yield { block: full, pool };
        index++;
        const next = sizeAt(index);
        if (next !== pool.size) pool = new BlockPool(next);
      }
    }
  }
  if (block && length > 0) yield { block: block.subarray(0, length), pool };
}

/**
 * Runs at most `limit` tasks at once; `add` waits for a free slot, so a producer that awaits it is
 * paced by the slowest task. The first failure is kept and rethrown by `add` and `drain`.
 */
export class TaskPool {
  private readonly running = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly limit: number,
    /** Shared with other pools: a task also waits for its `bytes` to fit in it. */
    private readonly budget?: UploadBudget,
  ) {}

  async add(task: () => Promise<void>, bytes = 0, signal?: AbortSignal): Promise<void> {
    this.throwIfFailed();
    while (this.running.size >= this.limit) {
      await Promise.race(this.running);
      this.throwIfFailed();
    }
    const release = this.budget ? await this.budget.take(bytes, signal) : () => undefined;
    if (this.failure) release();
    this.throwIfFailed();
    const p: Promise<void> = task()
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => {
        release();
        this.running.delete(p);
      });
    this.running.add(p);
  }

  /** Waits for every task; rethrows the first failure. */
  async drain(): Promise<void> {
    await Promise.all(this.running);
    this.throwIfFailed();
  }

  /** Waits for the running tasks without throwing (after a failure, before cleaning up). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.running);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}
