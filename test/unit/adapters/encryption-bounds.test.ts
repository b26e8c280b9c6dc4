import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { ChunkedAesGcm, MAX_CHUNK } from '../../../src/adapters/encryption/chunked-aead.js';

const key = randomBytes(32);
const context = 'Part a of backup b';

/** A header as the encryptor writes it, with a chunk size of the attacker's choosing. */
function header(chunkSize: number): Buffer {
  const fixed = Buffer.alloc(9);
  fixed.write('DBBE', 0, 'ascii');
  fixed[4] = 1;
  fixed.writeUInt32BE(chunkSize, 5);
  return Buffer.concat([fixed, randomBytes(7), Buffer.from([2]), Buffer.from('k1')]);
}

async function decrypt(input: Buffer, slice = 4096): Promise<{ bytes: number; error: unknown }> {
  let bytes = 0;
  const parts: Buffer[] = [];
  for (let i = 0; i < input.length; i += slice) parts.push(input.subarray(i, i + slice));
  const error = await pipeline(
    Readable.from(parts),
    new ChunkedAesGcm().decryptor(key, 'k1', context),
    new Writable({
      write(c: Buffer, _e, cb) {
        bytes += c.length;
        cb();
      },
    }),
  ).then(
    () => undefined,
    (err: unknown) => err,
  );
  return { bytes, error };
}

describe('chunked AES-256-GCM reader against crafted headers', () => {
  it('refuses a chunk size over 16 MiB before buffering anything', async () => {
    const { bytes, error } = await decrypt(Buffer.concat([header(MAX_CHUNK + 1), Buffer.alloc(1 << 20)]));
    expect(bytes).toBe(0);
    expect(error).toMatchObject({ code: 'E_DECRYPT', message: expect.stringMatching(/damaged encryption header/) });
  });

  it('a 16 MiB chunk of junk, written 4 KiB at a time, fails authentication and emits nothing', async () => {
    const { bytes, error } = await decrypt(Buffer.concat([header(MAX_CHUNK), Buffer.alloc(MAX_CHUNK + 100)]));
    expect(bytes).toBe(0);
    expect(error).toMatchObject({ code: 'E_DECRYPT', message: expect.stringMatching(/fails authentication at encrypted chunk 0/) });
  });

  it('writers refuse chunk sizes readers would refuse', () => {
    expect(() => new ChunkedAesGcm(MAX_CHUNK + 1)).toThrow(/16 MiB/);
    expect(new ChunkedAesGcm(MAX_CHUNK)).toBeInstanceOf(ChunkedAesGcm);
  });
});
