import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { ZstdCodec } from '../../../src/adapters/compression/zstd-codec.js';
import { ZstdPool } from '../../../src/adapters/compression/zstd-pool.js';
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
    // zstd's own threads are taken (as by another stream): none of the six gets them, each goes to a pool thread.
    const taken = new ZstdPool(2, 2).claimWorkers();
    const inputs = [0, 1, 2, 3, 4, 5].map((i) => (i === 5 ? randomBytes(3 << 20) : text((2 << 20) + i * 77_777, i + 1)));
    const chunks = [7919, 65_536, 1 << 20, 100_003, 3 << 20, 31_337];
    const encoders = inputs.map((_, i) => codec.encoder(i % 2 === 0 ? 1 : 3) as ZstdEncodeStream);
    const packed = await Promise.all(inputs.map((input, i) => encode(encoders[i]!, input, chunks[i]!)));
    taken?.release();
    expect(encoders.map((e) => e.offloaded)).toEqual(inputs.map(() => true));
    for (const [i, input] of inputs.entries()) {
      expect(sha(execFileSync('zstd', ['-d', '-c', '-q'], { input: packed[i], maxBuffer: 64 << 20 })), `stream ${i}`).toBe(sha(input));
    }
  });

  it('holds the writer back while the reader is slow: what was accepted stays a few MiB ahead of what was read', async () => {
    const enc = new ZstdEncodeStream({ level: 1, threads: 2 });
    // Not alone (zstd's own threads are taken), so the stream goes to a pool thread.
    const taken = new ZstdPool(2, 2).claimWorkers();
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
    await pipeline(source, enc, slow).finally(() => taken?.release());
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

  it("zstd's own threads go to one stream at a time, never while a pool stream is open, and only with two cores and a pool of two", () => {
    const pool = new ZstdPool(2, 2);
    const first = pool.claimWorkers();
    expect(first?.workers).toBe(2);
    // Held: neither another claim nor a claim from another pool (the count is the process's).
    expect([pool.claimWorkers(), new ZstdPool(4, 4).claimWorkers()]).toEqual([undefined, undefined]);
    first!.release();
    first!.release();
    // Released twice, counted once: a stream on a pool thread still keeps the threads from a claim.
    const remote = pool.open(1, zstdParameters(1, 'level1'), { output() {}, acked() {}, done() {}, failed() {} });
    expect(pool.claimWorkers()).toBeUndefined();
    remote.close();
    const again = pool.claimWorkers();
    expect(again?.workers).toBe(2);
    again!.release();
    expect([new ZstdPool(2, 1), new ZstdPool(1, 8)].map((p) => p.claimWorkers())).toEqual([undefined, undefined]);
  });

  it("a stream alone that packs ~12:1 is compressed by zstd's own threads on the calling thread; one opened beside it goes to a pool thread", async () => {
    // Denser than INLINE_RATIO (8:1), lighter than MULTI_INLINE_RATIO (32:1): a SQLite database's pages are ~5–9:1.
    const rows = Buffer.from(Array.from({ length: 90_000 }, (_, i) => `${i}\t${i % 10}\tuser${(i * 7919) % 100_003}\t${' '.repeat(60)}\n`).join(''));
    const two = availableParallelism() >= 2;
    const alone = new ZstdEncodeStream({ level: 1, threads: 2 });
    const beside = new ZstdEncodeStream({ level: 1, threads: 2 });
    // Small writes for the first; large writes (4 MiB, then the rest) for the second; both decode equal.
    const packedAlone = encode(alone, rows, 7919);
    await new Promise<void>((resolve) => {
      const check = () => (alone.workers > 0 || alone.offloaded || alone.chosen !== undefined ? resolve() : setImmediate(check));
      check();
    });
    // Rows that pack ~2–3:1 (below INLINE_RATIO): a pool thread's when zstd's own threads are taken.
    const other = text(5 << 20, 31);
    const packedBeside = encode(beside, other, 4 << 20);
    const [a, b] = await Promise.all([packedAlone, packedBeside]);
    expect([alone.offloaded, alone.workers]).toEqual(two ? [false, 2] : [false, 0]);
    expect([beside.offloaded, beside.workers]).toEqual([true, 0]);
    expect(sha(execFileSync('zstd', ['-d', '-c', '-q'], { input: a, maxBuffer: 64 << 20 }))).toBe(sha(rows));
    expect(sha(execFileSync('zstd', ['-d', '-c', '-q'], { input: b, maxBuffer: 64 << 20 }))).toBe(sha(other));
    // Both ended: the threads are free again; a destroyed stream frees them too.
    const next = new ZstdEncodeStream({ level: 1, threads: 2 });
    next.on('error', () => undefined);
    next.write(rows.subarray(0, 2 << 20));
    expect(next.workers).toBe(two ? 2 : 0);
    next.destroy(new Error('stop'));
    const last = new ZstdEncodeStream({ level: 1, threads: 2 });
    const packedLast = await encode(last, rows, 1 << 20);
    expect(last.workers).toBe(two ? 2 : 0);
    expect(sha(execFileSync('zstd', ['-d', '-c', '-q'], { input: packedLast, maxBuffer: 64 << 20 }))).toBe(sha(rows));
  }, 60_000);

  it('a stream alone that barely packs (random bytes) stays single-threaded on the calling thread, with or without zstd threads to give', async () => {
    const input = randomBytes(3 << 20);
    for (const threads of [2, 1]) {
      const enc = new ZstdEncodeStream({ level: 1, threads });
      const packed = await encode(enc, input, 1 << 20);
      expect([enc.offloaded, enc.workers], `${threads} thread(s)`).toEqual([false, 0]);
      expect(sha(execFileSync('zstd', ['-d', '-c', '-q'], { input: packed, maxBuffer: 64 << 20 }))).toBe(sha(input));
    }
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
