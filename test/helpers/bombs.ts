import { createRequire } from 'node:module';
import { createWriteStream } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';

type Binding = typeof import('zstd-napi/binding.js');
const require = createRequire(import.meta.url);

const STEP = 1 << 20;

/** `size` bytes of zeros as one zstd frame with a content checksum, built 1 MiB at a time (never held whole). */
export function zstdZeros(size: number): Buffer {
  const z = require('zstd-napi/binding') as Binding;
  const cctx = new z.CCtx();
  cctx.setParameter(z.CParameter.compressionLevel, 1);
  cctx.setParameter(z.CParameter.checksumFlag, 1);
  const zeros = Buffer.alloc(STEP);
  const out = Buffer.allocUnsafe(STEP);
  const chunks: Buffer[] = [];
  for (let left = size; left > 0; left -= Math.min(left, STEP)) {
    let src = zeros.subarray(0, Math.min(left, STEP));
    while (src.length > 0) {
      const [, produced, consumed] = cctx.compressStream2(out, src, z.EndDirective.continue);
      chunks.push(Buffer.from(out.subarray(0, produced)));
      src = src.subarray(consumed);
    }
  }
  for (;;) {
    const [ret, produced] = cctx.compressStream2(out, Buffer.alloc(0), z.EndDirective.end);
    chunks.push(Buffer.from(out.subarray(0, produced)));
    if (ret === 0) return Buffer.concat(chunks);
  }
}

/** `size` bytes of zeros, gzip-compressed 1 MiB at a time. */
export async function gzipZeros(size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const zeros = Buffer.alloc(STEP);
  await pipeline(
    Readable.from(
      (function* () {
        for (let left = size; left > 0; left -= Math.min(left, STEP)) yield zeros.subarray(0, Math.min(left, STEP));
      })(),
    ),
    createGzip({ level: 9 }),
    new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(chunks);
}

/** Writes a .tar.gz of `count` entries named by `name(i)`, each `size` zero bytes, streamed. */
export async function tarGzOfZeros(path: string, count: number, name: (i: number) => string, size: number): Promise<void> {
  const pack = tar.pack();
  const writing = pipeline(pack, createGzip({ level: 1 }), createWriteStream(path));
  const zeros = Buffer.alloc(STEP);
  for (let i = 0; i < count; i++) {
    const entry = pack.entry({ name: name(i), size });
    await pipeline(
      Readable.from(
        (function* () {
          for (let left = size; left > 0; left -= Math.min(left, STEP)) yield zeros.subarray(0, Math.min(left, STEP));
        })(),
      ),
      entry,
    );
  }
  pack.finalize();
  await writing;
}
