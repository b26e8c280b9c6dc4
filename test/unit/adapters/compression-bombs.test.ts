import { createRequire } from 'node:module';
import { Readable, type Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate as tick } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { GzipCodec } from '../../../src/adapters/compression/gzip-codec.js';
import { NoneCodec } from '../../../src/adapters/compression/none-codec.js';
import { ZstdCodec } from '../../../src/adapters/compression/zstd-codec.js';
import type { Codec } from '../../../src/application/ports/codec.js';
import { gzipZeros, zstdZeros } from '../../helpers/bombs.js';

const MiB = 1 << 20;
/** How much a decoder may hold beyond its reader: its high-water mark and one slab, with slack. */
const AHEAD = 4 * MiB;
/** Growth of this process's peak RSS allowed while decoding a bomb (the bombs expand to 256 MiB–1 GiB). */
const RSS_BOUND = 150 * MiB;

const peakRss = () => process.resourceUsage().maxRSS * 1024;

/** Runs `bomb` through `decoder` into a sink; resolves to the bytes that came out and the error. */
async function drain(decoder: Transform, bomb: Buffer): Promise<{ bytes: number; error: unknown }> {
  let bytes = 0;
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      bytes += c.length;
      cb();
    },
  });
  const error = await pipeline(Readable.from([bomb]), decoder, sink).then(
    () => undefined,
    (err: unknown) => err,
  );
  return { bytes, error };
}

/** Writes all of `bomb` and reads nothing: a decoder that honours backpressure buffers little. */
async function heldWithoutReader(decoder: Transform, bomb: Buffer): Promise<number> {
  decoder.write(bomb);
  for (let i = 0; i < 20; i++) await tick();
  const held = decoder.readableLength;
  decoder.destroy();
  return held;
}

describe('decoders against decompression bombs', () => {
  let zstdBomb: Buffer;
  let gzipBomb: Buffer;

  beforeAll(async () => {
    zstdBomb = zstdZeros(1024 * MiB);
    gzipBomb = await gzipZeros(256 * MiB);
  }, 60_000);

  const cases: [string, () => Codec, () => Buffer][] = [
    ['zstd (1 GiB of zeros in ~32 KiB)', () => new ZstdCodec({ threads: 0 }), () => zstdBomb],
    ['gzip (256 MiB of zeros in ~256 KiB)', () => new GzipCodec(), () => gzipBomb],
  ];

  for (const [label, codec, bomb] of cases) {
    it(`${label}: stops once the output passes maxOutput, in bounded memory`, async () => {
      const before = process.memoryUsage().rss;
      const { bytes, error } = await drain(codec().decoder({ maxOutput: 12 * 1024 }), bomb());
      expect((error as Error).message).toMatch(/decodes to more than the 12288 bytes the manifest records/);
      expect(bytes).toBeLessThanOrEqual(12 * 1024);
      expect(peakRss() - before).toBeLessThan(RSS_BOUND);
    });

    it(`${label}: decodes only as far as it is read`, async () => {
      const before = process.memoryUsage().rss;
      expect(await heldWithoutReader(codec().decoder(), bomb())).toBeLessThanOrEqual(AHEAD);
      expect(peakRss() - before).toBeLessThan(RSS_BOUND);
    });
  }

  it('zstd: decodes a whole bomb read to the end in bounded memory when no limit is given', async () => {
    const before = process.memoryUsage().rss;
    const { bytes, error } = await drain(new ZstdCodec({ threads: 0 }).decoder(), zstdBomb);
    expect(error).toBeUndefined();
    expect(bytes).toBe(1024 * MiB);
    expect(peakRss() - before).toBeLessThan(RSS_BOUND);
  });

  it('a limit equal to the output size passes; one byte less fails', async () => {
    for (const codec of [new ZstdCodec({ threads: 0 }), new GzipCodec(), new NoneCodec()]) {
      const data = Buffer.alloc(3 * MiB + 7, 'a');
      const encoder = codec.encoder();
      const [, chunks] = await Promise.all([pipeline(Readable.from([data]), encoder), encoder.toArray()]);
      const encoded = Buffer.concat(chunks as Buffer[]);
      expect((await drain(codec.decoder({ maxOutput: data.length }), encoded)).error).toBeUndefined();
      const short = await drain(codec.decoder({ maxOutput: data.length - 1 }), encoded);
      expect((short.error as Error).message, codec.id).toMatch(/decodes to more than/);
    }
  });

  it('zstd: refuses a frame that asks for a window over 32 MiB instead of allocating it', async () => {
    const z = createRequire(import.meta.url)('zstd-napi/binding') as typeof import('zstd-napi/binding.js');
    const cctx = new z.CCtx();
    cctx.setParameter(z.CParameter.windowLog, 27);
    const out = Buffer.alloc(1 << 16);
    const [, a] = cctx.compressStream2(out, Buffer.alloc(1000, 1), z.EndDirective.continue);
    const [, b] = cctx.compressStream2(out.subarray(a), Buffer.alloc(0), z.EndDirective.end);
    const { error } = await drain(new ZstdCodec({ threads: 0 }).decoder(), out.subarray(0, a + b));
    expect((error as Error).message).toMatch(/window|memory/i);
  });
});
