import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAP_WINDOW, type MapFile, storePageMap } from '../../../src/adapters/connectors/sqlite/sqlite-map-file.js';
import { OwnerFile } from '../../../src/adapters/connectors/sqlite/sqlite-owner-file.js';
import { HASH_BYTES } from '../../../src/adapters/connectors/sqlite/sqlite-page-map.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbbackup-owner-file-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The entry of page `pgno` in the map of state `state`: the page number and the state that last changed it. */
type Version = (pgno: number) => number;

/** A whole map part of `pageCount` pages, generated a piece at a time as it is read (never whole in memory). */
function mapPart(pageCount: number, version: Version): Readable {
  async function* part(): AsyncGenerator<Buffer> {
    const header = Buffer.alloc(16);
    header.write('DBBPMAP1', 0, 'latin1');
    header.writeUInt32BE(4096, 8);
    header.writeUInt32BE(pageCount, 12);
    yield header;
    for (let first = 1; first <= pageCount; first += 8192) {
      const n = Math.min(8192, pageCount - first + 1);
      const chunk = Buffer.alloc(n * HASH_BYTES);
      for (let k = 0; k < n; k++) {
        chunk.writeUInt32BE(first + k, k * HASH_BYTES);
        chunk.writeUInt32BE(version(first + k), k * HASH_BYTES + 4);
      }
      yield chunk;
    }
  }
  return Readable.from(part(), { highWaterMark: 1 });
}

describe('SQLite chain restore owner table (scratch file)', () => {
  it('finds the owner of every page of a simulated 3 M-page chain while holding at most a window of entries', async () => {
    // 3 Mi pages (a 12 GiB database at 4 KiB a page): maps of 48 MiB, an owner table of 6 MiB; none held whole.
    const full = 3 << 20;
    const changedBy1 = (p: number) => p % 1000 === 7 || (p > MAP_WINDOW && p <= MAP_WINDOW + 3);
    const changedBy2 = (p: number) => p % 4096 === 1;
    const states: { pageCount: number; version: Version }[] = [
      { pageCount: full, version: () => 0 },
      { pageCount: full - 100_000, version: (p) => (changedBy1(p) ? 1 : 0) }, // cut by 100,000 pages
      { pageCount: full + 5, version: (p) => (changedBy2(p) ? 2 : p > full - 100_000 ? 2 : changedBy1(p) ? 1 : 0) }, // grown again
    ];
    const maps: MapFile[] = [];
    for (const [i, s] of states.entries()) maps.push(await storePageMap(mapPart(s.pageCount, s.version), `map ${i}`, join(dir, `map-${i}`)));
    const owners = await OwnerFile.create(join(dir, 'owners'), states.length);
    try {
      const signal = new AbortController().signal;
      await owners.markChanged(maps[0]!, maps[1]!, 1, signal);
      await owners.markChanged(maps[1]!, maps[2]!, 2, signal);
      const last = states[2]!;
      // Expected: the state of the last version of each page (what the last map's entry says).
      const expected = new Array<number>(3).fill(0);
      for (let p = 1; p <= last.pageCount; p++) expected[last.version(p)]!++;
      expect(await owners.owned(3)).toEqual(expected);
      expect(expected[1]).toBeGreaterThan(3000);
      const reader = owners.reader();
      for (let p = 1; p <= last.pageCount; p += p < MAP_WINDOW + 10 ? 1 : 997) {
        if (!reader.has(p)) await reader.load(p);
        if (reader.get(p) !== last.version(p)) expect(`page ${p}: owner ${reader.get(p)}`).toBe(`page ${p}: owner ${last.version(p)}`);
      }
      // Bounded: the maps and the table were held a window at a time, not whole (3 Mi entries each).
      expect(owners.largestWindow).toBeLessThanOrEqual(MAP_WINDOW);
    } finally {
      await owners.close();
    }
  });
});
