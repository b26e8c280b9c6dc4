import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { ZstdCodec } from '../../../src/adapters/compression/zstd-codec.js';
import { SAMPLE_BYTES, ZstdEncodeStream } from '../../../src/adapters/compression/zstd-streams.js';

/** Text-like data (compressible, not trivially) of `size` bytes in chunks of `chunk`. */
function sample(size: number, seed = 1): Buffer {
  const words = ['select', 'row', 'value', '\\N', 'tab\t', 'emoji😀', 'numeric', '1234.50', 'zoë', 'NULL'];
  const out: string[] = [];
  let x = seed;
  let n = 0;
  while (n < size) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const w = words[x % words.length]! + (x % 7 === 0 ? `${x}\n` : ' ');
    out.push(w);
    n += Buffer.byteLength(w);
  }
  return Buffer.from(out.join('')).subarray(0, size);
}

async function run(transform: NodeJS.ReadWriteStream, input: Buffer, chunk = 64 << 10): Promise<{ bytes: Buffer; chunks: number }> {
  const parts: Buffer[] = [];
  const source = Readable.from((function* () {
    for (let i = 0; i < input.length; i += chunk) yield input.subarray(i, i + chunk);
  })());
  await pipeline(source, transform, new Writable({ write(c: Buffer, _e, cb) { parts.push(Buffer.from(c)); cb(); } }));
  return { bytes: Buffer.concat(parts), chunks: parts.length };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('zstd codec (native binding, slab output, threads for large streams)', () => {
  for (const [label, size, threads] of [
    ['empty', 0, 2],
    ['small, below the thread threshold', 1000, 2],
    ['large, compressed by zstd worker threads', 9 << 20, 2],
    ['large, on the calling thread', 9 << 20, 0],
  ] as const) {
    it(`round-trips ${label} and interoperates with the zstd CLI`, async () => {
      const codec = new ZstdCodec({ threads });
      const input = sample(size);
      const { bytes: packed } = await run(codec.encoder(1), input);
      expect(packed.length).toBeLessThan(Math.max(64, input.length));
      const { bytes: unpacked } = await run(codec.decoder(), packed, 7919);
      expect(sha(unpacked)).toBe(sha(input));
      // The zstd CLI reads what we write, and checks the content checksum we stored.
      expect(sha(execFileSync('zstd', ['-d', '-c', '-q'], { input: packed, maxBuffer: 64 << 20 }))).toBe(sha(input));
      // And we read what it writes (with a checksum, as it does by default).
      const cli = execFileSync('zstd', ['-3', '-c', '-q'], { input, maxBuffer: 64 << 20 });
      expect(sha((await run(codec.decoder(), cli)).bytes)).toBe(sha(input));
    });
  }

  it('hands on large decoded chunks (slabs), not one per zstd block', async () => {
    const codec = new ZstdCodec({ threads: 0 });
    const input = sample(8 << 20, 3);
    const { bytes: packed } = await run(codec.encoder(1), input);
    const { chunks } = await run(codec.decoder(), packed, 1 << 20);
    expect(chunks).toBeLessThan((8 << 20) / (128 << 10) / 2);
  });

  it('keeps decoding for a slow reader (a pause after every chunk never stalls the stream)', async () => {
    const codec = new ZstdCodec({ threads: 0 });
    // Database pages of random text: zstd blocks that end between input chunks.
    const input = Buffer.from(randomBytes(30 << 20).toString('base64'));
    const { bytes: encoded } = await run(codec.encoder(1), input);
    const decoded: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 1 << 20,
      write(c: Buffer, _e, cb) {
        decoded.push(Buffer.from(c));
        let turns = 20;
        const later = () => (--turns > 0 ? setImmediate(later) : cb());
        setImmediate(later);
      },
    });
    // Input arrives as a file's would: 64 KiB at a time, each a turn of the event loop later.
    const source = Readable.from((async function* () {
      for (let i = 0; i < encoded.length; i += 64 << 10) {
        await new Promise((r) => setImmediate(r));
        yield encoded.subarray(i, i + (64 << 10));
      }
    })());
    // Before the fix, a slab that decoded to nothing parked the write callback with no push, and
    // the pipeline stopped with the event loop empty (the test then never settles).
    await pipeline(source, codec.decoder(), slow);
    expect(sha(Buffer.concat(decoded))).toBe(sha(input));
  }, 30_000);

  it('reads concatenated frames as one stream', async () => {
    const codec = new ZstdCodec({ threads: 0 });
    const a = sample(300_000, 5);
    const b = sample(200_000, 6);
    const packed = Buffer.concat([(await run(codec.encoder(1), a)).bytes, (await run(codec.encoder(3), b)).bytes]);
    expect(sha((await run(codec.decoder(), packed)).bytes)).toBe(sha(Buffer.concat([a, b])));
  });

  it('round-trips many small streams one after another (contexts reused), a failed stream in between included', async () => {
    const codec = new ZstdCodec({ threads: 0 });
    for (let i = 0; i < 40; i++) {
      const input = i % 3 === 2 ? randomBytes(3000 + i) : sample(2000 + i * 97, i + 20);
      const { bytes: packed } = await run(codec.encoder(i % 4 === 3 ? 3 : 1), input, 512);
      if (i % 5 === 4) await expect(run(codec.decoder(), packed.subarray(0, packed.length - 5))).rejects.toThrow(/middle of a zstd frame/);
      const out = await run(codec.decoder({ maxOutput: input.length }), packed, 700);
      expect(sha(out.bytes)).toBe(sha(input));
    }
  });

  it('fails on damaged bytes, a wrong checksum and a truncated frame', async () => {
    const codec = new ZstdCodec({ threads: 0 });
    const input = Buffer.concat([sample(500_000, 7), randomBytes(50_000)]);
    const { bytes: packed } = await run(codec.encoder(1), input);
    const flipped = Buffer.from(packed);
    flipped[Math.floor(flipped.length / 2)]! ^= 0x40;
    await expect(run(codec.decoder(), flipped)).rejects.toThrow();
    const badChecksum = Buffer.from(packed);
    badChecksum[badChecksum.length - 1]! ^= 0x01;
    await expect(run(codec.decoder(), badChecksum)).rejects.toThrow();
    await expect(run(codec.decoder(), packed.subarray(0, packed.length - 10))).rejects.toThrow(/middle of a zstd frame/);
    await expect(run(codec.decoder(), Buffer.from('not zstd at all'))).rejects.toThrow();
  });

  /** Event-log rows: long values repeated from a short list, between high-entropy tokens and numbers. */
  function events(size: number): Buffer {
    const agents = ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0', 'curl/8.8.0', 'okhttp/4.12.0'];
    const rows: string[] = [];
    let n = 0;
    for (let i = 0; n < size; i++) {
      const r = randomBytes(8);
      const row = `${i}\t${r.readUInt32LE(0) % 400000}\t2024-01-01 00:${String(i % 60).padStart(2, '0')}:01.${r.readUInt32LE(4) % 1000000}+00\t` +
        `{"ms": ${r[0]! * 3}, "agent": "${agents[r[1]! % 4]}", "session": "${randomBytes(10).toString('hex')}"}\n`;
      rows.push(row);
      n += row.length;
    }
    return Buffer.from(rows.join('')).subarray(0, size);
  }

  /** sysbench's rows: random 11-digit groups joined by '-' (the gain is the literals' entropy, not repeats). */
  function digits(size: number): Buffer {
    const noise = randomBytes(size);
    const out = Buffer.alloc(size);
    for (let i = 0; i < size; i++) {
      const col = i % 190; // a row: 179 characters of groups (15 × 11 + 14 dashes) and 11 of id/k
      out[i] = col === 189 ? 10 : col === 179 ? 9 : col > 179 ? 48 + (noise[i]! % 10) : col % 12 === 11 ? 45 : 48 + (noise[i]! % 10);
    }
    return out;
  }

  for (const [label, make, expected] of [
    ['word-like text (the denser match finder wins)', () => sample(6 << 20, 11), 'dense'],
    ['event rows with random tokens (level 1 wins)', () => events(6 << 20), 'level1'],
    ['a stream shorter than the sample', () => sample(200_000, 12), 'dense'],
    ['random digit strings (the cheap literal-coding set packs as well)', () => digits(6 << 20), 'literal'],
  ] as const) {
    it(`level 1 picks its parameters from a sample: ${label}`, async () => {
      const input = make();
      for (const threads of [0, 2]) {
        const adaptive = new ZstdEncodeStream({ level: 1, threads });
        const packed = (await run(adaptive, input)).bytes;
        const plain = (await run(new ZstdEncodeStream({ level: 1, threads, adaptive: false }), input)).bytes;
        expect(adaptive.chosen).toBe(expected);
        // Never worse than plain level 1 by more than the tie margin, and clearly better when dense.
        expect(packed.length).toBeLessThanOrEqual(plain.length * (expected === 'literal' ? 1.015 : 1.01));
        if (expected === 'dense') expect(packed.length).toBeLessThan(plain.length * 0.97);
        expect(sha(execFileSync('zstd', ['-d', '-c', '-q'], { input: packed, maxBuffer: 64 << 20 }))).toBe(sha(input));
        expect(sha((await run(new ZstdCodec().decoder(), packed)).bytes)).toBe(sha(input));
      }
    });
  }

  it('small parts (one-shot frames on shared contexts) stay apart when many are written at once, each with its checksum', async () => {
    const codec = new ZstdCodec({ threads: 2 });
    // Interleaved writes to 12 encoders at three levels, ended in reverse order: a context shared by
    // the one-shot path must never mix their bytes.
    const inputs = Array.from({ length: 12 }, (_, i) => (i % 4 === 3 ? Buffer.alloc(0) : sample(200 + i * 997, 20 + i)));
    const encoders = inputs.map((_, i) => codec.encoder([1, 3, 19][i % 3]!));
    const outputs = encoders.map((enc) => {
      const parts: Buffer[] = [];
      enc.on('data', (c: Buffer) => parts.push(Buffer.from(c)));
      return new Promise<Buffer>((resolve, reject) => enc.on('end', () => resolve(Buffer.concat(parts))).on('error', reject));
    });
    for (let at = 0; at < 12_000; at += 100) inputs.forEach((input, i) => at < input.length && encoders[i]!.write(input.subarray(at, at + 100)));
    for (const enc of [...encoders].reverse()) enc.end();
    const packed = await Promise.all(outputs);
    for (const [i, bytes] of packed.entries()) {
      expect(sha((await run(codec.decoder(), bytes)).bytes)).toBe(sha(inputs[i]!));
      expect(sha(execFileSync('zstd', ['-d', '-c', '-q'], { input: bytes }))).toBe(sha(inputs[i]!));
      if (inputs[i]!.length === 0) continue;
      const badChecksum = Buffer.from(bytes);
      badChecksum[badChecksum.length - 1]! ^= 0x01;
      await expect(run(codec.decoder(), badChecksum)).rejects.toThrow();
    }
  });

  it('samples only at level 1', async () => {
    const enc = new ZstdEncodeStream({ level: 3, threads: 0 });
    await run(enc, sample(SAMPLE_BYTES * 2, 13));
    expect(enc.chosen).toBe('level3');
  });

  it('refuses a level outside 1–19', () => {
    expect(() => new ZstdCodec().encoder(0)).toThrow(/1–19/);
    expect(() => new ZstdCodec().encoder(20)).toThrow(/1–19/);
  });
});
