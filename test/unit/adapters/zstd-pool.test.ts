import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { ZstdCodec } from '../../../src/adapters/compression/zstd-codec.js';
import { type RemoteListener, type RemoteStream, ZstdPool } from '../../../src/adapters/compression/zstd-pool.js';
import { ZstdEncodeStream, zstdParameters } from '../../../src/adapters/compression/zstd-streams.js';

// Large zstd streams are compressed on worker threads (ZstdPool): several streams share a thread,
// each keeps its own context there, and the writer is held back by what is in flight.

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Rows with a random token each: they pack ~2–3:1, so a level-1 stream goes to a thread (below 8:1). */
function text(size: number, seed: number): Buffer {
  const out: string[] = [];
  let x = seed;
  let n = 0;
  while (n < size) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const row = `${x}\tname-${x % 977}\t${randomBytes(12).toString('hex')}\tline\\nbreak ${'abc'.repeat(x % 9)}\n`;
    out.push(row);
    n += row.length;
  }
  return Buffer.from(out.join('')).subarray(0, size);
}

async function encode(enc: NodeJS.ReadWriteStream, input: Buffer, chunk: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  const source = Readable.from((async function* () {
    for (let i = 0; i < input.length; i += chunk) {
      // Turns of the event loop between chunks, so that the streams' messages interleave.
      await new Promise((r) => setImmediate(r));
      yield input.subarray(i, i + chunk);
    }
  })());
  await pipeline(source, enc, new Writable({ write(c: Buffer, _e, cb) { parts.push(Buffer.from(c)); cb(); } }));
  return Buffer.concat(parts);
}

describe('zstd on compression threads', () => {
  it('keeps six interleaved streams apart on two threads (odd chunk sizes, one large chunk)', async () => {
    const codec = new ZstdCodec({ threads: 2 });
    const inputs = [0, 1, 2, 3, 4, 5].map((i) => (i === 5 ? randomBytes(3 << 20) : text((2 << 20) + i * 77_777, i + 1)));
    const chunks = [7919, 65_536, 1 << 20, 100_003, 3 << 20, 31_337];
    const encoders = inputs.map((_, i) => codec.encoder(i % 2 === 0 ? 1 : 3) as ZstdEncodeStream);
    const packed = await Promise.all(inputs.map((input, i) => encode(encoders[i]!, input, chunks[i]!)));
    expect(encoders.map((e) => e.offloaded)).toEqual(inputs.map(() => true));
    for (const [i, input] of inputs.entries()) {
      expect(sha(execFileSync('zstd', ['-d', '-c', '-q'], { input: packed[i], maxBuffer: 64 << 20 })), `stream ${i}`).toBe(sha(input));
    }
  });

  it('holds the writer back while the reader is slow: what was accepted stays a few MiB ahead of what was read', async () => {
    const enc = new ZstdEncodeStream({ level: 1, threads: 2 });
    // Incompressible input: its compressed size is its size, so bytes read measure bytes compressed.
    const input = randomBytes(24 << 20);
    let accepted = 0;
    let read = 0;
    let ahead = 0;
    const source = Readable.from((function* () {
      for (let i = 0; i < input.length; i += 64 << 10) {
        accepted += 64 << 10;
        ahead = Math.max(ahead, accepted - read);
        yield input.subarray(i, i + (64 << 10));
      }
    })());
    const parts: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 64 << 10,
      write(c: Buffer, _e, cb) {
        parts.push(Buffer.from(c));
        read += c.length;
        let turns = 5;
        const later = () => (--turns > 0 ? setImmediate(later) : cb());
        setImmediate(later);
      },
    });
    await pipeline(source, enc, slow);
    expect(enc.offloaded).toBe(true);
    expect(sha(execFileSync('zstd', ['-d', '-c', '-q'], { input: Buffer.concat(parts), maxBuffer: 64 << 20 }))).toBe(sha(input));
    // Stream buffers (1 MiB each side, 64 KiB for the reader), the batch being filled (1 MiB) and two
    // in flight (2 MiB): ~5 MiB. Without the bound the writer runs to the end of the input (24 MiB).
    expect(ahead).toBeLessThan(8 << 20);
  }, 60_000);

  it('keeps a stream that packs very small on the calling thread (a thread round trip costs more)', async () => {
    // pgbench's rows: numbers and a blank filler, ~90:1.
    const rows = Buffer.from(Array.from({ length: 60_000 }, (_, i) => `${i}\t${i % 10}\t0\t${' '.repeat(84)}\n`).join(''));
    const enc = new ZstdEncodeStream({ level: 1, threads: 2 });
    const packed = await encode(enc, rows, 1 << 16);
    expect(enc.offloaded).toBe(false);
    expect(sha(execFileSync('zstd', ['-d', '-c', '-q'], { input: packed, maxBuffer: 64 << 20 }))).toBe(sha(rows));
  });

  it("a stream alone is compressed on zstd's own threads: small and large writes decode equal, and end flushes everything", async () => {
    const pool = new ZstdPool(2, 2);
    /** Opens a stream on `pool`; `finished` gives its output once the thread said done. */
    const open = () => {
      const out: Buffer[] = [];
      let acked = 0;
      let finish!: (b: Buffer) => void;
      let fail!: (e: Error) => void;
      const finished = new Promise<Buffer>((res, rej) => ((finish = res), (fail = rej)));
      const listener: RemoteListener = {
        output: (c) => out.push(Buffer.from(c)),
        acked: (n) => (acked += n),
        done: () => finish(Buffer.concat(out)),
        failed: (e) => fail(e),
      };
      const stream = pool.open(1, zstdParameters(1, 'level1'), listener);
      return { stream, finished, acked: () => acked };
    };
    const send = (stream: RemoteStream, input: Buffer, chunk: number) => {
      for (let i = 0; i < input.length; i += chunk) {
        const part = input.subarray(i, i + chunk);
        const buf = new ArrayBuffer(part.length);
        new Uint8Array(buf).set(part);
        stream.data(buf, part.length);
      }
    };
    const large = text(8 << 20, 21);
    // Less than one of zstd's jobs (2 MiB at level 1): nothing comes out before end.
    const small = text(300_000, 22);
    const a = open();
    // A second stream while the first is open keeps a single thread (the cores are taken).
    const b = open();
    expect([a.stream.workers, b.stream.workers]).toEqual([2, 0]);
    send(a.stream, large, 7919);
    send(b.stream, large, 3 << 20);
    a.stream.end();
    b.stream.end();
    const [packedA, packedB] = await Promise.all([a.finished, b.finished]);
    expect(a.acked()).toBe(large.length);
    // zstd's threads cut the input into jobs: other bytes than one thread's (a sign they ran), the same data.
    expect(packedA.equals(packedB)).toBe(false);
    for (const packed of [packedA, packedB]) expect(sha(execFileSync('zstd', ['-d', '-c', '-q'], { input: packed, maxBuffer: 64 << 20 }))).toBe(sha(large));
    // Both closed: the next stream is alone again; one 4 MiB write, then a small one, then end.
    const c = open();
    expect(c.stream.workers).toBe(2);
    send(c.stream, large.subarray(0, 4 << 20), 4 << 20);
    send(c.stream, small, small.length);
    c.stream.end();
    const packedC = await c.finished;
    expect(sha(execFileSync('zstd', ['-d', '-c', '-q'], { input: packedC, maxBuffer: 64 << 20 }))).toBe(sha(Buffer.concat([large.subarray(0, 4 << 20), small])));
    const d = open();
    send(d.stream, small, 65_536);
    d.stream.end();
    expect(sha(execFileSync('zstd', ['-d', '-c', '-q'], { input: await d.finished, maxBuffer: 64 << 20 }))).toBe(sha(small));
    // Machines or pools without two threads to give never use zstd's threads.
    expect([new ZstdPool(2, 1), new ZstdPool(1, 8)].map((p) => p.open(1, zstdParameters(1, 'level1'), { output() {}, acked() {}, done() {}, failed() {} })).map((s) => (s.close(), s.workers))).toEqual([0, 0]);
  }, 60_000);

  it("a stream alone that packs ~12:1 leaves the calling thread for zstd's own threads where the machine has two cores", async () => {
    // Denser than INLINE_RATIO (8:1), lighter than MULTI_INLINE_RATIO (32:1): a SQLite database's pages are ~5–9:1.
    const rows = Buffer.from(Array.from({ length: 60_000 }, (_, i) => `${i}\t${i % 10}\tuser${(i * 7919) % 100_003}\t${' '.repeat(60)}\n`).join(''));
    const enc = new ZstdEncodeStream({ level: 1, threads: 2 });
    const packed = await encode(enc, rows, 1 << 16);
    const two = availableParallelism() >= 2;
    expect([enc.offloaded, enc.workers]).toEqual(two ? [true, 2] : [false, 0]);
    expect(sha(execFileSync('zstd', ['-d', '-c', '-q'], { input: packed, maxBuffer: 64 << 20 }))).toBe(sha(rows));
  });

  it('a destroyed stream frees its place: the next streams still compress', async () => {
    const codec = new ZstdCodec({ threads: 1 });
    const enc = codec.encoder(1);
    enc.on('error', () => undefined);
    enc.write(text(3 << 20, 9));
    enc.destroy(new Error('stop'));
    const input = text(2 << 20, 10);
    const packed = await encode(codec.encoder(1), input, 1 << 16);
    expect(sha(execFileSync('zstd', ['-d', '-c', '-q'], { input: packed, maxBuffer: 64 << 20 }))).toBe(sha(input));
  });
});
