import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FAST_HASH_BYTES, fastKeyBytes, FastPageHasher } from '../../../src/adapters/connectors/sqlite/sqlite-fast-hash.js';
import { encodeFastMap, encodePageMap, encodePageMapDelta, PageMapBuilder, readFastMap } from '../../../src/adapters/connectors/sqlite/sqlite-page-map.js';
import { isDbBackupError } from '../../../src/domain/errors.js';

/** The hash as sqlite-fast-hash.ts defines it, word by word in BigInt: what the WebAssembly must compute. */
function reference(page: Buffer, key: Buffer): Buffer {
  const M = (1n << 64n) - 1n;
  const W = 0xffffffffn;
  const u = (b: Buffer, at: number) => BigInt(b.readUInt32LE(at));
  let a = 0n;
  let b = 0n;
  for (let i = 0; i < page.length; i += 32) {
    for (let j = 0; j < 4; j++) {
      const x = u(page, i + 4 * j);
      const y = u(page, i + 16 + 4 * j);
      a = (a + ((x + u(key, i + 4 * j)) & W) * ((y + u(key, i + 16 + 4 * j)) & W)) & M;
      b = (b + ((x + u(key, i + 32 + 4 * j)) & W) * ((y + u(key, i + 48 + 4 * j)) & W)) & M;
    }
  }
  const out = Buffer.alloc(16);
  out.writeBigUInt64LE(a, 0);
  out.writeBigUInt64LE(b, 8);
  return out;
}

describe('SQLite fast page hash (NH in WebAssembly)', () => {
  it('computes the defined sums for every SQLite page size, pages hashed in one call or one by one', () => {
    for (const size of [512, 1024, 4096, 65536]) {
      const key = FastPageHasher.newKey(size);
      expect(key.length).toBe(fastKeyBytes(size));
      const hasher = new FastPageHasher(size, key);
      // Over a mebibyte of pages: the hasher works through its memory in several calls.
      const count = Math.max(3, Math.ceil((1 << 20) / size) + 2);
      const pages = randomBytes(size * count);
      pages.fill(0xff, 0, size); // all-ones words: the additions wrap
      pages.fill(0, size, 2 * size);
      const out = Buffer.alloc(count * FAST_HASH_BYTES);
      hasher.hashPages(pages, out);
      for (const p of [0, 1, 2, count - 1]) {
        const page = pages.subarray(p * size, (p + 1) * size);
        expect(out.subarray(p * 16, p * 16 + 16)).toEqual(reference(page, key));
        expect(hasher.hash(page)).toEqual(reference(page, key));
      }
    }
  });

  it('sees a one-bit change in every word of a page, and another key gives other hashes', () => {
    const size = 4096;
    const key = FastPageHasher.newKey(size);
    const hasher = new FastPageHasher(size, key);
    const page = randomBytes(size);
    const before = hasher.hash(page);
    // Every 32-bit word, a bit at a varying position: a word the hash skipped would go unseen here.
    const flipped = Buffer.alloc(size * (size / 4));
    for (let w = 0; w < size / 4; w++) {
      page.copy(flipped, w * size);
      flipped[w * size + w * 4 + (w % 4)]! ^= 1 << (w % 8);
    }
    const hashes = Buffer.alloc((size / 4) * FAST_HASH_BYTES);
    hasher.hashPages(flipped, hashes);
    const seen = new Set([before.toString('hex')]);
    for (let w = 0; w < size / 4; w++) seen.add(hashes.subarray(w * 16, w * 16 + 16).toString('hex'));
    expect(seen.size).toBe(size / 4 + 1);
    expect(new FastPageHasher(size, FastPageHasher.newKey(size)).hash(page)).not.toEqual(before);
    expect(() => new FastPageHasher(size, key.subarray(1))).toThrow();
  });

  it('a fast map part: built with the page map, read back whole or as a delta from its full, and refused when foreign', async () => {
    const size = 512;
    const key = FastPageHasher.newKey(size);
    const file = randomBytes(size * 40);
    const builder = new PageMapBuilder(size, key);
    // Chunks that split pages: the fast hashes are taken over whole pages only.
    for (let at = 0; at < file.length; at += 700) builder.push(file.subarray(at, at + 700));
    builder.finish();
    const full = builder.fastMap()!;
    expect(full.map.pageCount).toBe(40);
    const hasher = new FastPageHasher(size, key);
    expect(full.map.hashes.subarray(16 * 7, 16 * 8)).toEqual(hasher.hash(file.subarray(7 * size, 8 * size)));

    const read = await readFastMap(Readable.from(encodeFastMap(key, encodePageMap(full.map))), 'the map');
    expect(read.key).toEqual(key);
    expect(read.map.hashes).toEqual(full.map.hashes);

    // A link: page 3 changed, page 41 added; stored as a delta from the full's.
    const next = Buffer.concat([full.map.hashes, hasher.hash(randomBytes(size))]);
    hasher.hash(randomBytes(size)).copy(next, 16 * 2);
    const link = { pageSize: size, pageCount: 41, hashes: next };
    const delta = encodePageMapDelta(link, full.map)!;
    const back = await readFastMap(Readable.from(encodeFastMap(key, delta)), 'the link map', async () => full);
    expect(back.map.hashes).toEqual(next);

    const refused = async (body: Buffer | Buffer[], fullOf?: () => Promise<typeof full>) => {
      const err = await readFastMap(Readable.from(Array.isArray(body) ? body : [body]), 'the map', fullOf).catch((e: unknown) => e);
      expect(isDbBackupError(err) && err.code).toBe('E_FOREIGN_ARCHIVE');
    };
    await refused(encodePageMap(full.map)); // a page map, not a fast map
    await refused(encodeFastMap(key.subarray(0, 100), encodePageMap(full.map))); // a key of the wrong length
    await refused(encodeFastMap(key, delta)); // a delta without its full
    await refused(encodeFastMap(FastPageHasher.newKey(size), delta), async () => full); // a delta under another key than its full's
  });
});
