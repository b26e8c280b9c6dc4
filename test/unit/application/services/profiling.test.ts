import { PassThrough, Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import {
  StageProfiler,
  activeProfiler,
  copyOfTimedSource,
  profiled,
  profiledSink,
  profiledSource,
  timeSync,
  useProfiler,
} from '../../../../src/application/services/profiling.js';

const chunks = (n: number, size: number) => Array.from({ length: n }, () => Buffer.alloc(size, 7));

/** A transform whose callback is called a little later (as zlib's is, from the thread pool). */
const later = () =>
  new Transform({
    highWaterMark: 16,
    transform(chunk: Buffer, _e, cb) {
      setTimeout(() => cb(null, chunk), 2);
    },
  });

/** A sink that takes each chunk a little later (a slow store or server). */
const slowSink = () =>
  new Writable({
    highWaterMark: 16,
    write(_c, _e, cb) {
      setTimeout(cb, 3);
    },
  });

describe('stage profiler', () => {
  it('is off by default and then leaves every stream untouched', () => {
    expect(activeProfiler().enabled).toBe(false);
    const t = new PassThrough();
    const before = t._transform;
    expect(profiled('compress', t)).toBe(t);
    expect(t._transform).toBe(before);
    const r = new Readable({ read() {} });
    const push = r.push;
    expect(profiledSource('server-read', r)).toBe(r);
    expect(r.push).toBe(push);
    expect(timeSync('parse', 1, () => 42)).toBe(42);
    expect(activeProfiler().totals()).toEqual([]);
  });

  it('counts the bytes and calls of every stage, in pipeline order, with busy and wait never negative', async () => {
    const p = new StageProfiler();
    const stop = useProfiler(p);
    try {
      await pipeline(
        profiledSource('server-read', Readable.from(chunks(20, 100), { objectMode: false })),
        profiled('compress', later()),
        profiled('hash-raw', new PassThrough({ highWaterMark: 16 })),
        profiledSink('store-write', slowSink()),
      );
    } finally {
      stop();
    }
    expect(activeProfiler().enabled).toBe(false);
    const totals = p.totals();
    expect(totals.map((s) => s.stage)).toEqual(['server-read', 'hash-raw', 'compress', 'store-write']);
    for (const s of totals) {
      expect(s.bytes).toBe(2000);
      expect(s.calls).toBeGreaterThanOrEqual(20);
      expect(s.busyMs).toBeGreaterThanOrEqual(0);
      expect(s.waitMs).toBeGreaterThanOrEqual(0);
    }
    const byStage = Object.fromEntries(totals.map((s) => [s.stage, s]));
    // The delayed callbacks are inside the stages' busy time; the stage before the slow sink waited on it.
    expect(byStage['compress']!.busyMs).toBeGreaterThan(0);
    expect(byStage['store-write']!.busyMs).toBeGreaterThan(0);
    expect(byStage['hash-raw']!.waitMs + byStage['compress']!.waitMs).toBeGreaterThan(0);
  });

  it('times a flush and a synchronous piece of work; a copy of a timed source is not timed twice', async () => {
    const p = new StageProfiler();
    const stop = useProfiler(p);
    try {
      const flushing = new Transform({
        transform: (c, _e, cb) => cb(null, c),
        flush: (cb) => setTimeout(() => cb(null, Buffer.from('end')), 2),
      });
      const copy = copyOfTimedSource(Readable.from(chunks(3, 10), { objectMode: false }));
      await pipeline(profiledSource('server-read', copy), profiled('encrypt', flushing), new Writable({ write: (_c, _e, cb) => cb() }));
      expect(timeSync('parse', 5, () => 'ok')).toBe('ok');
      expect(() => timeSync('parse', 5, () => { throw new Error('boom'); })).toThrow('boom');
    } finally {
      stop();
    }
    const totals = Object.fromEntries(p.totals().map((s) => [s.stage, s]));
    expect(totals['server-read']).toBeUndefined();
    expect(totals['encrypt']).toMatchObject({ bytes: 30, calls: 4 });
    expect(totals['encrypt']!.busyMs).toBeGreaterThan(0);
    expect(totals['parse']).toMatchObject({ bytes: 10, calls: 2 });
  });

  it('counts a callback held while the reader is full (as zstd decoding does) as wait, not busy', async () => {
    const p = new StageProfiler();
    const stop = useProfiler(p);
    /** Pushes each chunk in two halves and, when the reader is full, keeps the rest and its callback until _read. */
    class Holding extends Transform {
      private held: { rest: Buffer; cb: TransformCallback } | undefined;
      constructor() {
        super({ highWaterMark: 16 });
      }
      override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
        if (!this.push(chunk.subarray(0, 50))) this.held = { rest: chunk.subarray(50), cb };
        else cb(null, chunk.subarray(50));
      }
      override _read(size: number): void {
        const held = this.held;
        this.held = undefined;
        if (held) held.cb(null, held.rest);
        else super._read(size);
      }
    }
    try {
      await pipeline(Readable.from(chunks(20, 100), { objectMode: false }), profiled('decompress', new Holding()), profiledSink('server-load', slowSink()));
    } finally {
      stop();
    }
    const row = p.totals().find((s) => s.stage === 'decompress')!;
    expect(row.bytes).toBe(2000);
    expect(row.waitMs).toBeGreaterThan(0);
    // The slow sink kept it waiting; what is left as busy is the (tiny) work of slicing buffers.
    expect(row.busyMs).toBeLessThan(row.waitMs);
  });
});
