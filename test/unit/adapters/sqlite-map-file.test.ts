import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAP_WINDOW, MapCursor, mapPartBody, storeFastMap, storePageMap } from '../../../src/adapters/connectors/sqlite/sqlite-map-file.js';
import { encodeFastMap, encodePageMap, encodePageMapDelta, HASH_BYTES, type PageMap, PageMapBuilder, readPageMap } from '../../../src/adapters/connectors/sqlite/sqlite-page-map.js';
import { isDbBackupError } from '../../../src/domain/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbbackup-map-file-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A map of `pageCount` random hashes. */
const randomMap = (pageCount: number): PageMap => ({ pageSize: 4096, pageCount, hashes: randomBytes(pageCount * HASH_BYTES) });

/** `bytes` in chunks of `size`. */
const chunks = (bytes: Buffer | Buffer[], size = 65536): Readable => {
  const all = Buffer.concat(Array.isArray(bytes) ? bytes : [bytes]);
  const out: Buffer[] = [];
  for (let i = 0; i < all.length; i += size) out.push(all.subarray(i, i + size));
  return Readable.from(out);
};

const collect = async (body: AsyncIterable<Buffer>, sizes?: number[]): Promise<Buffer> => {
  const out: Buffer[] = [];
  for await (const c of body) {
    sizes?.push(c.length);
    out.push(c);
  }
  return Buffer.concat(out);
};

describe('SQLite page maps kept in files', () => {
  it('stores a whole map and a delta from its full as the in-memory reader does, and writes back the same parts', async () => {
    const full = randomMap(3 * MAP_WINDOW + 17);
    const link: PageMap = { pageSize: 4096, pageCount: full.pageCount + 5, hashes: Buffer.alloc((full.pageCount + 5) * HASH_BYTES) };
    full.hashes.copy(link.hashes);
    for (const pgno of [1, 2, 3, 700, MAP_WINDOW, MAP_WINDOW + 1, 2 * MAP_WINDOW + 9]) randomBytes(HASH_BYTES).copy(link.hashes, (pgno - 1) * HASH_BYTES);
    randomBytes(5 * HASH_BYTES).copy(link.hashes, full.pageCount * HASH_BYTES);

    const fullFile = await storePageMap(chunks(encodePageMap(full), 1000), 'the full map', join(dir, 'full.map'));
    expect(fullFile.pageCount).toBe(full.pageCount);
    expect((await readFile(fullFile.path)).equals(full.hashes)).toBe(true);

    const delta = encodePageMapDelta(link, full)!;
    const linkFile = await storePageMap(chunks(delta, 333), 'the link map', join(dir, 'link.map'), async () => fullFile);
    const expected = await readPageMap(Readable.from([delta]), 'the link map', async () => full);
    expect((await readFile(linkFile.path)).equals(expected.hashes)).toBe(true);

    // Written back: the same bytes as the in-memory encoders (old chains and new ones read alike).
    const asDelta = await mapPartBody(linkFile, fullFile, join(dir, 'delta'));
    expect(asDelta.delta).toBe(true);
    expect((await collect(asDelta.chunks)).equals(delta)).toBe(true);
    const whole = await mapPartBody(linkFile, undefined, join(dir, 'delta'));
    expect(whole.delta).toBe(false);
    expect((await collect(whole.chunks)).equals(encodePageMap(link))).toBe(true);
    // A map that changed everywhere is stored whole, as encodePageMapDelta decides.
    const other = await storePageMap(chunks(encodePageMap(randomMap(full.pageCount))), 'another map', join(dir, 'other.map'));
    expect((await mapPartBody(other, fullFile, join(dir, 'delta'))).delta).toBe(false);
  });

  it('writes the same delta as the in-memory encoder for a shrunk map and for one with more entries than a window', async () => {
    const full = randomMap(3 * MAP_WINDOW + 17);
    const fullFile = await storePageMap(chunks(encodePageMap(full)), 'the full map', join(dir, 'full2.map'));
    // Shrunk by a window and a half, a few pages changed (one in the last block of 32 entries, one at the new end).
    const shrunk: PageMap = { pageSize: 4096, pageCount: full.pageCount - MAP_WINDOW - 100, hashes: Buffer.from(full.hashes.subarray(0, (full.pageCount - MAP_WINDOW - 100) * HASH_BYTES)) };
    for (const pgno of [5, 33, MAP_WINDOW + 31, shrunk.pageCount]) randomBytes(HASH_BYTES).copy(shrunk.hashes, (pgno - 1) * HASH_BYTES);
    // 70,000 changed entries (every other page from page 2): more than one window of delta entries, under the half-map limit.
    const busy: PageMap = { ...full, hashes: Buffer.from(full.hashes) };
    for (let i = 0; i < 70000; i++) busy.hashes[(1 + 2 * i) * HASH_BYTES + (i % HASH_BYTES)]! ^= 1;
    for (const [name, map] of [['shrunk', shrunk], ['busy', busy]] as const) {
      const file = await storePageMap(chunks(encodePageMap(map)), name, join(dir, `${name}.map`));
      const body = await mapPartBody(file, fullFile, join(dir, 'delta'));
      expect(body.delta).toBe(true);
      expect((await collect(body.chunks)).equals(encodePageMapDelta(map, full)!)).toBe(true);
    }
  });

  it('stores fast maps with their key, and rejects a malformed or truncated part', async () => {
    const key = randomBytes(4096 + 32);
    const map = randomMap(1000);
    const file = await storeFastMap(chunks(encodeFastMap(key, encodePageMap(map)), 100), 'the fast map', join(dir, 'fast.map'));
    expect(file.key?.equals(key)).toBe(true);
    expect((await readFile(file.path)).equals(map.hashes)).toBe(true);
    const back = await mapPartBody(file, undefined, join(dir, 'delta'));
    expect((await collect(back.chunks)).equals(Buffer.concat(encodeFastMap(key, encodePageMap(map))))).toBe(true);
    for (const body of [encodePageMap(map).subarray(0, 100), Buffer.concat([encodePageMap(map), Buffer.alloc(1)]), Buffer.from('DBBPMAPX')]) {
      const err = await storePageMap(Readable.from([body]), 'the map', join(dir, 'bad.map')).catch((e: unknown) => e);
      expect(isDbBackupError(err) && err.code).toBe('E_FOREIGN_ARCHIVE');
    }
    const wrongKey = await storeFastMap(Readable.from(encodeFastMap(key.subarray(1), encodePageMap(map))), 'the fast map', join(dir, 'bad.map')).catch((e: unknown) => e);
    expect(isDbBackupError(wrongKey) && wrongKey.code).toBe('E_FOREIGN_ARCHIVE');
  });

  it('holds at most a window of a map whatever its page count: a simulated 4 M-page map streams through in bounded pieces', async () => {
    // 4 Mi pages (a 16 GiB database at 4 KiB a page): a 64 MiB map, generated as it is read, never held.
    const pageCount = 4 << 20;
    const entry = (pgno: number, into: Buffer, at: number) => into.writeUInt32BE(pgno, at);
    let produced = 0;
    let largestPull = 0;
    async function* part(): AsyncGenerator<Buffer> {
      const header = Buffer.alloc(16);
      header.write('DBBPMAP1', 0, 'latin1');
      header.writeUInt32BE(4096, 8);
      header.writeUInt32BE(pageCount, 12);
      yield header;
      for (let first = 1; first <= pageCount; first += 4096) {
        const chunk = Buffer.alloc(4096 * HASH_BYTES);
        for (let k = 0; k < 4096; k++) entry(first + k, chunk, k * HASH_BYTES);
        produced += chunk.length;
        yield chunk;
      }
    }
    const body = Readable.from(part(), { highWaterMark: 1 });
    const file = await storePageMap(body, 'the big map', join(dir, 'big.map'));
    expect(produced).toBe(pageCount * HASH_BYTES);
    // The cursor reads it forward a window at a time: never more than MAP_WINDOW entries held.
    const cursor = await MapCursor.open(file);
    try {
      for (let pgno = 1; pgno <= pageCount; pgno += 9973) {
        if (!cursor.has(pgno)) await cursor.load(pgno);
        expect(cursor.get(pgno)!.readUInt32BE(0)).toBe(pgno);
        largestPull = Math.max(largestPull, cursor.windowEntries);
      }
    } finally {
      await cursor.close();
    }
    expect(largestPull).toBeLessThanOrEqual(MAP_WINDOW);
    // Written back as a part: in pieces of at most a window, whatever the map's size.
    const sizes: number[] = [];
    const back = await mapPartBody(file, undefined, join(dir, 'delta'));
    let total = 0;
    for await (const c of back.chunks) {
      sizes.push(c.length);
      total += c.length;
    }
    expect(total).toBe(16 + pageCount * HASH_BYTES);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAP_WINDOW * HASH_BYTES);
    await rm(file.path);
  });

  it('a full builds its maps into files, in pieces, with the same hashes as in memory', async () => {
    // 2 × 65536 + 5 pages of 512 bytes fed in chunks that straddle pages and the builder's spill size.
    const pageCount = 2 * 65536 + 5;
    const file = Buffer.alloc(pageCount * 512);
    for (let p = 0; p < pageCount; p++) file.writeUInt32BE(p * 2654435761 >>> 0, p * 512 + (p % 500));
    const key = randomBytes(512 + 32);
    const inMemory = new PageMapBuilder(512, key);
    const spilled = new PageMapBuilder(512, key, dir);
    for (let at = 0; at < file.length; at += 777_777) {
      inMemory.push(file.subarray(at, at + 777_777));
      spilled.push(file.subarray(at, at + 777_777));
    }
    const { map, fast } = spilled.finishFiles();
    expect(map.pageCount).toBe(pageCount);
    expect((await readFile(map.path)).equals(inMemory.finish().hashes)).toBe(true);
    expect((await readFile(fast!.path)).equals(inMemory.fastMap()!.map.hashes)).toBe(true);
    expect(fast!.key!.equals(key)).toBe(true);
    // A snapshot that does not end on a page boundary is refused, as in memory.
    const torn = new PageMapBuilder(512, undefined, dir);
    torn.push(file.subarray(0, 1000));
    expect(() => torn.finishFiles()).toThrow(/page boundary/);
  });
});
