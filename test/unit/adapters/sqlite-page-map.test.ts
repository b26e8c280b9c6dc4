import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  encodePageMap,
  encodePageMapDelta,
  hashAt,
  PageMapBuilder,
  pageRecord,
  pagesHeader,
  readPageMap,
  readPages,
} from '../../../src/adapters/connectors/sqlite/sqlite-page-map.js';
import { isDbBackupError } from '../../../src/domain/errors.js';

/** `bytes` cut into chunks of the given sizes, cycling (so pages straddle chunk boundaries). */
function chunked(bytes: Buffer, sizes: number[]): Readable {
  const out: Buffer[] = [];
  for (let i = 0, k = 0; i < bytes.length; k++) {
    const n = sizes[k % sizes.length]!;
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return Readable.from(out);
}

describe('SQLite page maps and pages parts', () => {
  it('hashes the same pages to the same map whatever the chunking, and a changed page differs only there', () => {
    const file = randomBytes(512 * 37);
    const whole = new PageMapBuilder(512);
    whole.push(file);
    const pieces = new PageMapBuilder(512);
    for (let i = 0; i < file.length; i += 700) pieces.push(file.subarray(i, i + 700));
    const [a, b] = [whole.finish(), pieces.finish()];
    expect(a.pageCount).toBe(37);
    expect(b.hashes.equals(a.hashes)).toBe(true);
    file[512 * 5 + 3]! ^= 1;
    const changed = new PageMapBuilder(512);
    changed.push(file);
    const c = changed.finish();
    const differing = Array.from({ length: 37 }, (_, i) => i + 1).filter((p) => !hashAt(a, p)!.equals(hashAt(c, p)!));
    expect(differing).toEqual([6]);
    expect(hashAt(a, 0)).toBeUndefined();
    expect(hashAt(a, 38)).toBeUndefined();
  });

  it('stores a map as its delta from the full while that is small, and reads it back only with that full', async () => {
    const mapOf = (bytes: Buffer) => {
      const b = new PageMapBuilder(512);
      b.push(bytes);
      return b.finish();
    };
    const fullFile = randomBytes(512 * 100);
    const full = mapOf(fullFile);
    // Pages 3 and 50 changed, two pages added, the file otherwise the same.
    const linkFile = Buffer.concat([fullFile, randomBytes(512 * 2)]);
    randomBytes(512).copy(linkFile, 2 * 512);
    randomBytes(512).copy(linkFile, 49 * 512);
    const link = mapOf(linkFile);
    const delta = encodePageMapDelta(link, full)!;
    expect(delta.length).toBe(16 + 4 * 20);
    const back = await readPageMap(Readable.from([delta]), 'delta', async () => full);
    expect(back.pageCount).toBe(102);
    expect(back.hashes.equals(link.hashes)).toBe(true);
    // A shrunk file: only the count changes.
    const shrunk = mapOf(fullFile.subarray(0, 512 * 60));
    expect((await readPageMap(Readable.from([encodePageMapDelta(shrunk, full)!]), 'delta', async () => full)).hashes.equals(shrunk.hashes)).toBe(true);
    // Most pages changed: no delta (the caller stores the whole map).
    expect(encodePageMapDelta(mapOf(randomBytes(512 * 100)), full)).toBeUndefined();

    const refused = async (bytes: Buffer, withFull = true) =>
      readPageMap(Readable.from([bytes]), 'delta', withFull ? async () => full : undefined).then(
        () => 'read',
        (e: unknown) => (isDbBackupError(e, 'E_FOREIGN_ARCHIVE') ? 'refused' : String(e)),
      );
    expect(await refused(delta, false)).toBe('refused');
    const unordered = Buffer.from(delta);
    unordered.writeUInt32BE(60, 16 + 20); // 3, 60, 101, 102: out of order after 50 is replaced
    unordered.writeUInt32BE(40, 16 + 40);
    expect(await refused(unordered)).toBe('refused');
    expect(await refused(delta.subarray(0, delta.length - 20))).toBe('refused'); // page 102 missing
    expect(await refused(delta.subarray(0, delta.length - 3))).toBe('refused');
  });

  it('refuses a snapshot that does not end on a page boundary', () => {
    const b = new PageMapBuilder(512);
    b.push(randomBytes(700));
    expect(() => b.finish()).toThrow(/page boundary/);
  });

  it('round-trips a map through its part, and refuses one that is not a map', async () => {
    const builder = new PageMapBuilder(1024);
    builder.push(randomBytes(1024 * 9));
    const map = builder.finish();
    const read = await readPageMap(chunked(encodePageMap(map), [5, 100]), 'the map');
    expect(read).toMatchObject({ pageSize: 1024, pageCount: 9 });
    expect(read.hashes.equals(map.hashes)).toBe(true);
    const short = encodePageMap(map).subarray(0, 40);
    const err = await readPageMap(Readable.from([short]), 'the map').catch((e: unknown) => e);
    expect(isDbBackupError(err, 'E_FOREIGN_ARCHIVE')).toBe(true);
  });

  it('reads the pages of a pages part in order across any chunking, and refuses malformed ones', async () => {
    const pages = [3, 4, 9].map((pgno) => ({ pgno, page: randomBytes(512) }));
    const part = Buffer.concat([pagesHeader(512, 10), ...pages.flatMap((p) => pageRecord(p.pgno, p.page))]);
    const seen: { pgno: number; page: Buffer }[] = [];
    const header = await readPages(chunked(part, [7, 333, 1000]), 'the part', async (pgno, page) => {
      seen.push({ pgno, page: Buffer.from(page) });
    });
    expect(header).toEqual({ pageSize: 512, pageCount: 10, pages: 3 });
    expect(seen).toEqual(pages);
    const beyond = Buffer.concat([pagesHeader(512, 2), ...pageRecord(3, randomBytes(512))]);
    const e1 = await readPages(Readable.from([beyond]), 'the part', async () => {}).catch((e: unknown) => e);
    expect(isDbBackupError(e1, 'E_FOREIGN_ARCHIVE')).toBe(true);
    const cut = part.subarray(0, part.length - 10);
    const e2 = await readPages(Readable.from([cut]), 'the part', async () => {}).catch((e: unknown) => e);
    expect((e2 as Error).message).toMatch(/ends inside a page/);
  });
});
