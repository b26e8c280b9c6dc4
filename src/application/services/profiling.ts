// Contract: the stage timers of `--profile-stages`. Each helper returns its stream unchanged (the
// same object, no wrapper, no timing code) when the active profiler is disabled, which is the
// default: profiling costs nothing unless a command turned it on.
import type { Readable, Transform, TransformCallback, Writable } from 'node:stream';
import type { ProfileStage, Profiler, StageTotals } from '../ports/profiler.js';

const ORDER: readonly ProfileStage[] = [
  'server-read',
  'parse',
  'hash-raw',
  'compress',
  'encrypt',
  'hash-stored',
  'store-write',
  'store-read',
  'verify-stored',
  'decrypt',
  'decompress',
  'verify-raw',
  'server-load',
];

/** Collects stage totals in memory (a few numbers per stage, whatever the size of the backup). */
export class StageProfiler implements Profiler {
  readonly enabled = true;
  private readonly stages = new Map<ProfileStage, StageTotals>();

  busy(stage: ProfileStage, ms: number, bytes: number): void {
    const s = this.row(stage);
    s.busyMs += Math.max(0, ms);
    s.bytes += bytes;
    s.calls += 1;
  }

  waited(stage: ProfileStage, ms: number): void {
    this.row(stage).waitMs += Math.max(0, ms);
  }

  totals(): StageTotals[] {
    return ORDER.filter((s) => this.stages.has(s)).map((s) => ({ ...this.stages.get(s)! }));
  }

  private row(stage: ProfileStage): StageTotals {
    let s = this.stages.get(stage);
    if (!s) this.stages.set(stage, (s = { stage, busyMs: 0, waitMs: 0, bytes: 0, calls: 0 }));
    return s;
  }
}

const OFF: Profiler = { enabled: false, busy: () => undefined, waited: () => undefined, totals: () => [] };
let active: Profiler = OFF;

/** The profiler the pipeline and the connectors report to (disabled unless a command set one). */
export function activeProfiler(): Profiler {
  return active;
}

/** Makes `profiler` the active one until the returned function is called. */
export function useProfiler(profiler: Profiler): () => void {
  const before = active;
  active = profiler;
  return () => {
    active = before;
  };
}

const now = (): number => performance.now();
const sizeOf = (chunk: unknown): number => (chunk && typeof (chunk as Buffer).length === 'number' ? (chunk as Buffer).length : 0);

/**
 * Times `t`'s `_transform` and `_flush` (from the call to its callback) as `stage`'s busy time, and
 * the time from a refused push until the next stage reads again as its wait. A transform that holds
 * its callback while the reader is full (zstd decoding a slab at a time) has that time counted as
 * wait, not busy.
 */
export function profiled<T extends Transform>(stage: ProfileStage, t: T, p: Profiler = active): T {
  if (!p.enabled) return t;
  const transform = t._transform;
  const flush = t._flush as ((cb: TransformCallback) => void) | undefined;
  const read = t._read;
  const push = t.push;
  let blockedAt: number | undefined;
  let callStart: number | undefined;
  let blockedInCall = 0;
  const timedCallback = (bytes: number, cb: TransformCallback): TransformCallback => {
    callStart = now();
    blockedInCall = 0;
    return (err?: Error | null, data?: unknown) => {
      p.busy(stage, now() - callStart! - blockedInCall, bytes);
      callStart = undefined;
      cb(err, data);
    };
  };
  t._transform = function (this: T, chunk: unknown, enc: BufferEncoding, cb: TransformCallback): void {
    transform.call(this, chunk, enc, timedCallback(sizeOf(chunk), cb));
  };
  if (typeof flush === 'function') {
    t._flush = function (this: T, cb: TransformCallback): void {
      flush.call(this, timedCallback(0, cb));
    };
  }
  t.push = function (this: T, chunk: unknown, encoding?: BufferEncoding): boolean {
    const more = push.call(this, chunk, encoding);
    if (!more && chunk !== null) blockedAt ??= now();
    return more;
  };
  t._read = function (this: T, size: number): void {
    if (blockedAt !== undefined) {
      const ms = now() - blockedAt;
      p.waited(stage, ms);
      if (callStart !== undefined) blockedInCall += ms;
      blockedAt = undefined;
    }
    read.call(this, size);
  };
  return t;
}

/** Streams that are copies of a source already timed (a fan-out's branches): not timed again. */
const copies = new WeakSet<Readable>();

/** Marks `r` as a copy of a source timed elsewhere, so that profiledSource leaves it alone. */
export function copyOfTimedSource<R extends Readable>(r: R): R {
  if (active.enabled) copies.add(r);
  return r;
}

/**
 * Times a source: from the moment its reader asks for bytes until they are pushed is `stage`'s busy
 * time (the server or store keeping the pipeline waiting); from a refused push to the next ask, its wait.
 */
export function profiledSource<R extends Readable>(stage: ProfileStage, r: R, p: Profiler = active): R {
  if (!p.enabled || copies.has(r)) return r;
  const read = r._read;
  const push = r.push;
  let askedAt: number | undefined;
  let blockedAt: number | undefined;
  r._read = function (this: R, size: number): void {
    const t = now();
    if (blockedAt !== undefined) p.waited(stage, t - blockedAt);
    blockedAt = undefined;
    askedAt ??= t;
    read.call(this, size);
  };
  r.push = function (this: R, chunk: unknown, encoding?: BufferEncoding): boolean {
    const t = now();
    if (chunk !== null) {
      p.busy(stage, askedAt === undefined ? 0 : t - askedAt, sizeOf(chunk));
      askedAt = undefined;
    }
    const more = push.call(this, chunk, encoding);
    if (!more && chunk !== null) blockedAt = now();
    return more;
  };
  return r;
}

/**
 * Times a sink from the pipeline's side: from each write until the sink accepts it is `stage`'s
 * busy time (the store or server keeping the pipeline waiting).
 */
export function profiledSink<W extends Writable>(stage: ProfileStage, w: W, p: Profiler = active): W {
  if (!p.enabled) return w;
  const write = w._write;
  w._write = function (this: W, chunk: unknown, enc: BufferEncoding, cb: (error?: Error | null) => void): void {
    const start = now();
    write.call(this, chunk, enc, (err?: Error | null) => {
      p.busy(stage, now() - start, sizeOf(chunk));
      cb(err);
    });
  };
  return w;
}

/**
 * Times a pass-through that a consumer (the server loading a restore) reads: the time its output
 * sat full, waiting for that consumer, is `stage`'s busy time.
 */
export function profiledConsumer<T extends Transform>(stage: ProfileStage, t: T, p: Profiler = active): T {
  if (!p.enabled) return t;
  const proxy: Profiler = {
    enabled: true,
    busy: (_s, _ms, bytes) => p.busy(stage, 0, bytes),
    waited: (_s, ms) => p.busy(stage, ms, 0),
    totals: () => p.totals(),
  };
  return profiled(stage, t, proxy);
}

/** Times a synchronous piece of a connector's work (parsing, encoding) as `stage`. */
export function timeSync<T>(stage: ProfileStage, bytes: number, work: () => T, p: Profiler = active): T {
  if (!p.enabled) return work();
  const start = now();
  try {
    return work();
  } finally {
    p.busy(stage, now() - start, bytes);
  }
}
