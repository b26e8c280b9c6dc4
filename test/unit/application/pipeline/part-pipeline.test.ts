import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { PartReader } from '../../../../src/application/pipeline/part-reader.js';
import { PartWriter } from '../../../../src/application/pipeline/part-writer.js';
import { MapCodecRegistry } from '../../../../src/adapters/compression/codec-registry.js';
import { GzipCodec } from '../../../../src/adapters/compression/gzip-codec.js';
import { NoneCodec } from '../../../../src/adapters/compression/none-codec.js';
import { ZstdCodec } from '../../../../src/adapters/compression/zstd-codec.js';
import type { Manifest, PartEntry } from '../../../../src/domain/manifest.js';
import { NullProgress } from '../../../../src/infrastructure/progress.js';
import { MemoryBlobStore } from '../../../helpers/memory-blob-store.js';

const codecs = new MapCodecRegistry([new ZstdCodec(), new GzipCodec(), new NoneCodec()]);
const ID = '20261125T020000Z-full-abcd';

function manifestWith(parts: PartEntry[]): Manifest {
  return {
    formatVersion: 1, id: ID, source: 'src', engine: 'sqlite', serverVersion: '', kind: 'full', parent: null, baseFull: null,
    startedAt: '', finishedAt: '', consistentAt: '', logPosition: null, objects: [], parts, warnings: [], toolVersion: '', engineInfo: {},
  };
}

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(stream, new Writable({ write: (c, _e, cb) => (chunks.push(c), cb()) }));
  return Buffer.concat(chunks);
}

// Compressible but not trivial: random words.
function sample(bytes: number): Buffer {
  const words = Array.from({ length: 500 }, () => randomBytes(4).toString('hex'));
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    const w = words[Math.floor(Math.random() * words.length)]!;
    parts.push(w);
    n += w.length + 1;
  }
  return Buffer.from(parts.join(' ')).subarray(0, bytes);
}

describe('part pipeline', () => {
  for (const codec of ['zstd', 'gzip', 'none']) {
    it(`round-trips through ${codec} with both checksums recorded`, async () => {
      const store = new MemoryBlobStore();
      const steps = codec === 'none' ? [] : [{ codec: codecs.get(codec) }];
      const writer = new PartWriter(store, 'src', ID, steps, new NullProgress(), new AbortController().signal);
      const data = sample(3 << 20);
      const entry = await writer.write({ name: 'data/t.0.txt', role: 'data', object: 't' }, Readable.from([data.subarray(0, 1000), data.subarray(1000)]));
      expect(entry.rawSize).toBe(data.length);
      expect(entry.name).toBe(codec === 'none' ? 'data/t.0.txt' : `data/t.0.txt.${codecs.get(codec).extension}`);
      expect(entry.codecs).toEqual(codec === 'none' ? [] : [codec]);
      if (codec !== 'none') expect(entry.storedSize).toBeLessThan(entry.rawSize);
      const stored = store.objects.get(`src/${ID}/${entry.name}`)!.bytes;
      expect(stored.length).toBe(entry.storedSize);
      const reader = new PartReader(store, manifestWith([entry]), codecs);
      expect((await drain(await reader.open(entry))).equals(data)).toBe(true);
    });
  }

  it('fails a read with E_CHECKSUM when one stored byte flips, wherever it is', async () => {
    const store = new MemoryBlobStore();
    const writer = new PartWriter(store, 'src', ID, [{ codec: codecs.get('zstd') }], new NullProgress(), new AbortController().signal);
    const entry = await writer.write({ name: 'data/t.0.txt', role: 'data' }, Readable.from([sample(200_000)]));
    const key = `src/${ID}/${entry.name}`;
    const original = Buffer.from(store.objects.get(key)!.bytes);
    for (const at of [0, 5, Math.floor(original.length / 2), original.length - 1]) {
      const bad = Buffer.from(original);
      bad[at] = bad[at]! ^ 0x01;
      store.objects.set(key, { bytes: bad, modifiedAt: new Date() });
      const reader = new PartReader(store, manifestWith([entry]), codecs);
      await expect(drain(await reader.open(entry))).rejects.toMatchObject({ code: 'E_CHECKSUM' });
    }
  });

  it('fails a read with E_TRUNCATED when the stored part is cut short', async () => {
    const store = new MemoryBlobStore();
    const writer = new PartWriter(store, 'src', ID, [], new NullProgress(), new AbortController().signal);
    const entry = await writer.write({ name: 'data/t.0.txt', role: 'data' }, Readable.from([sample(100_000)]));
    const key = `src/${ID}/${entry.name}`;
    store.objects.set(key, { bytes: store.objects.get(key)!.bytes.subarray(0, 50_000), modifiedAt: new Date() });
    const reader = new PartReader(store, manifestWith([entry]), codecs);
    await expect(drain(await reader.open(entry))).rejects.toMatchObject({ code: 'E_TRUNCATED' });
  });

  it('propagates a storage failure and remembers the key for cleanup', async () => {
    const store = new MemoryBlobStore();
    store.failAfterBytes = 10;
    const writer = new PartWriter(store, 'src', ID, [], new NullProgress(), new AbortController().signal);
    await expect(writer.write({ name: 'data/t.0.txt', role: 'data' }, Readable.from([sample(100_000)]))).rejects.toMatchObject({ code: 'E_STORAGE' });
    expect(writer.written).toEqual([`src/${ID}/data/t.0.txt`]);
    expect(writer.partsWritten()).toEqual([]);
  });

  it("restore's 'when-needed' raw check leans on the codec's own checksum; 'always' rehashes", async () => {
    const store = new MemoryBlobStore();
    const writer = new PartWriter(store, 'src', ID, [{ codec: codecs.get('zstd') }], new NullProgress(), new AbortController().signal);
    const data = sample(1 << 20);
    const entry = await writer.write({ name: 'data/t.0.txt', role: 'data' }, Readable.from([data]));
    // A manifest whose raw hash is wrong: only a rehash of the decoded bytes can notice.
    const lying = { ...entry, rawSha256: '0'.repeat(64) };
    await expect(drain(await new PartReader(store, manifestWith([lying]), codecs).open(lying))).rejects.toMatchObject({ code: 'E_CHECKSUM' });
    const trusting = new PartReader(store, manifestWith([lying]), codecs, undefined, undefined, 'when-needed');
    expect((await drain(await trusting.open(lying))).equals(data)).toBe(true);
    // A flipped stored byte still fails it: the stored sha256 is always checked.
    const key = `src/${ID}/${entry.name}`;
    store.objects.get(key)!.bytes[100]! ^= 1;
    await expect(drain(await trusting.open(lying))).rejects.toMatchObject({ code: 'E_CHECKSUM' });
  });

  it('hashes the raw bytes only when no codec proves them on reading; a wrong raw size still fails', async () => {
    const store = new MemoryBlobStore();
    const data = sample(300_000);
    const zstd = await new PartWriter(store, 'src', ID, [{ codec: codecs.get('zstd') }], new NullProgress(), new AbortController().signal).write({ name: 'data/z.0.txt', role: 'data' }, Readable.from([data]));
    expect(zstd.rawSha256).toBeUndefined();
    expect(zstd.rawSize).toBe(data.length);
    const plain = await new PartWriter(store, 'src', ID, [], new NullProgress(), new AbortController().signal).write({ name: 'data/p.0.txt', role: 'data' }, Readable.from([data]));
    expect(plain.rawSha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect(plain.sha256).toBe(plain.rawSha256);
    // 'always' still checks the decoded size of a part without a raw hash.
    const short = { ...zstd, rawSize: data.length + 1 };
    await expect(drain(await new PartReader(store, manifestWith([short]), codecs).open(short))).rejects.toMatchObject({ code: 'E_TRUNCATED' });
    const long = { ...zstd, rawSize: data.length - 1 };
    await expect(drain(await new PartReader(store, manifestWith([long]), codecs).open(long))).rejects.toMatchObject({ code: 'E_CHECKSUM' });
    expect((await drain(await new PartReader(store, manifestWith([zstd]), codecs).open(zstd))).equals(data)).toBe(true);
  });
});

