import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TarGzArchiveReader, TarGzArchiveWriter } from '../../../src/adapters/storage/archive/tar-gz-archive.js';

async function text(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

describe('.tar.gz archive reader', () => {
  let dir: string;
  let path: string;
  const entries = new Map<string, Buffer>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbb-targz-'));
    path = join(dir, 'b.tar.gz');
    const writer = new TarGzArchiveWriter(path, 1);
    for (let i = 0; i < 6; i++) {
      const body = randomBytes(300_000 + i * 1000); // large enough not to be cached as small JSON
      entries.set(`src/id/part-${i}.copy`, body);
      await writer.put(`src/id/part-${i}.copy`, Readable.from([body]), { size: body.length });
    }
    await writer.commit();
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('serves several readers at once (verify and parallel restores read parts concurrently)', async () => {
    const reader = new TarGzArchiveReader(path);
    try {
      const keys = [...entries.keys()];
      // Out of order and overlapping: each read gets its own bytes, none cuts another short.
      const order = [keys[2]!, keys[0]!, keys[5]!, keys[1]!, keys[4]!, keys[3]!];
      const got = await Promise.all(order.map(async (k) => [k, await text(await reader.get(k))] as const));
      for (const [k, bytes] of got) expect(bytes.equals(entries.get(k)!), k).toBe(true);
      // And sequential reads in archive order still work after that.
      for (const k of keys) expect((await text(await reader.get(k))).equals(entries.get(k)!)).toBe(true);
    } finally {
      reader.close();
    }
  });
});
