import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PartSource } from '../../../src/application/ports/parts.js';
import { buildChain } from '../../../src/adapters/connectors/sqlite/sqlite-chain-build.js';
import { mapFileOf } from '../../../src/adapters/connectors/sqlite/sqlite-map-file.js';
import { FastPageHasher } from '../../../src/adapters/connectors/sqlite/sqlite-fast-hash.js';
import { hashPage, HASH_BYTES, type PageMap, pageRecord, pagesHeader } from '../../../src/adapters/connectors/sqlite/sqlite-page-map.js';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { tempDir } from '../../helpers/temp.js';

const PAGE = 512;

/** A database state: its pages (1-based page i is pages[i - 1]). */
type State = Buffer[];

/** The state's page map (sha256), or its fast map under `key` (format 4 links record only that). */
function mapOf(state: State, key?: Buffer): PageMap {
  const hashes = Buffer.alloc(state.length * HASH_BYTES);
  const fast = key && new FastPageHasher(PAGE, key);
  state.forEach((p, i) => (fast ? fast.hash(p) : hashPage(p)).copy(hashes, i * HASH_BYTES, 0, HASH_BYTES));
  return { pageSize: PAGE, pageCount: state.length, hashes };
}

/** `bytes` in chunks of 700 and 333 bytes in turn, so that records straddle chunks. */
function chunked(bytes: Buffer): Readable {
  const out: Buffer[] = [];
  for (let i = 0, k = 0; i < bytes.length; k++) {
    const n = k % 2 ? 333 : 700;
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return Readable.from(out);
}

/** The next state: `state` cut or grown to `count` pages, with `changed` pages given new bytes. */
function next(state: State, count: number, changed: number[]): State {
  const out = Array.from({ length: count }, (_, i) => state[i] ?? randomBytes(PAGE));
  for (const p of changed) out[p - 1] = randomBytes(PAGE);
  return out;
}

/** The pages part of a link from `before` to `after` (the pages whose bytes differ, or that are new), minus `drop`. */
function pagesPart(before: State, after: State, drop: number[] = [], replace: Record<number, Buffer> = {}): Buffer {
  const parts = [pagesHeader(PAGE, after.length)];
  after.forEach((page, i) => {
    const pgno = i + 1;
    if (drop.includes(pgno) || (before[i] && before[i]!.equals(page))) return;
    parts.push(...pageRecord(pgno, replace[pgno] ?? page));
  });
  return Buffer.concat(parts);
}

let dir: { path: string; cleanup(): Promise<void> };
beforeAll(async () => {
  dir = await tempDir('dbb-chain-build-');
});
afterAll(async () => {
  await dir.cleanup();
});

/** Builds the chain of `states` (the full first) with the given pages parts; returns the file and which parts were read. */
async function build(states: State[], parts: Buffer[], name: string, window?: number, key?: Buffer) {
  const links = states.map((_, i) => ({ manifest: { id: `b${i}` } }) as unknown as PartSource);
  const opened: number[] = [];
  const file = join(dir.path, name);
  const handle = await open(file, 'w', 0o600);
  try {
    await buildChain(
      {
        links,
        storeMap: async (index, path) => {
          const map = mapOf(states[index]!, key);
          return { ...(await mapFileOf(map.hashes, map.pageSize, path)), ...(key ? { key } : {}) };
        },
        openFull: async () => {
          opened.push(0);
          return chunked(Buffer.concat(states[0]!));
        },
        openPages: async (link) => {
          const i = links.indexOf(link);
          opened.push(i);
          return chunked(parts[i - 1]!);
        },
        describe: (link) => `part of ${link.manifest.id}`,
      },
      handle,
      new AbortController().signal,
      await mkdtemp(join(dir.path, 'scratch-')),
      window,
    );
  } finally {
    await handle.close();
  }
  return { bytes: await readFile(file), opened: opened.sort() };
}

async function failure(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    return { code: isDbBackupError(err) ? err.code : undefined, message: (err as Error).message };
  }
  throw new Error('expected a failure');
}

describe('SQLite chain build (each page once, from the newest backup holding it)', () => {
  it('rebuilds the last state; a link whose pages were all changed again later is not read', async () => {
    const full = next([], 40, []);
    const s1 = next(full, 40, [3, 5]);
    const s2 = next(s1, 42, [3, 5, 7]); // supersedes every page of s1's link, adds 41 and 42
    const s3 = next(s2, 42, [1, 40]);
    const states = [full, s1, s2, s3];
    const parts = [pagesPart(full, s1), pagesPart(s1, s2), pagesPart(s2, s3)];
    const { bytes, opened } = await build(states, parts, 'a.db');
    expect(bytes.equals(Buffer.concat(s3))).toBe(true);
    expect(opened).toEqual([0, 2, 3]);
  });

  it('gives the same result when maps and owners are read through windows of a few pages (the scratch files crossed window by window)', async () => {
    const full = next([], 40, []);
    const s1 = next(full, 33, [3, 5, 6, 7, 20]); // cut, so the owner table shrinks across a window edge
    const s2 = next(s1, 45, [1, 6, 32]); // grown again past the full
    const s3 = next(s2, 45, [2, 44, 45]);
    const states = [full, s1, s2, s3];
    const parts = [pagesPart(full, s1), pagesPart(s1, s2), pagesPart(s2, s3)];
    for (const window of [1, 3, 7]) {
      const { bytes } = await build(states, parts, `w${window}.db`, window);
      expect(bytes.equals(Buffer.concat(s3))).toBe(true);
    }
    const forged = await failure(build(states, [pagesPart(full, s1), pagesPart(s1, s2, [], { 32: randomBytes(PAGE) }), pagesPart(s2, s3)], 'w-forged.db', 3));
    expect(forged.message).toContain('page 32, from b2');
  });

  it('follows a database that shrank and grew again, and skips the full when links hold every page', async () => {
    const full = next([], 20, []);
    const s1 = next(full, 12, [2]); // cut to 12 pages
    const s2 = next(s1, 16, []); // pages 13..16 are new again
    const shrunk = await build([full, s1, s2], [pagesPart(full, s1), pagesPart(s1, s2)], 'b.db');
    expect(shrunk.bytes.equals(Buffer.concat(s2))).toBe(true);

    const small = next([], 3, []);
    const all = next(small, 3, [1, 2, 3]);
    const replaced = await build([small, all], [pagesPart(small, all)], 'c.db');
    expect(replaced.bytes.equals(Buffer.concat(all))).toBe(true);
    expect(replaced.opened).toEqual([1]);
  });

  it('fails when a link lacks a page its map says it changed, or holds other bytes than its map says', async () => {
    const full = next([], 30, []);
    const s1 = next(full, 30, [4, 9]);
    const s2 = next(s1, 30, [9, 12]);
    const lacking = await failure(build([full, s1, s2], [pagesPart(full, s1), pagesPart(s1, s2, [12])], 'd.db'));
    expect(lacking.code).toBe('E_FOREIGN_ARCHIVE');
    expect(lacking.message).toContain('part of b2 lacks pages');

    const forged = await failure(build([full, s1, s2], [pagesPart(full, s1, [], { 4: randomBytes(PAGE) }), pagesPart(s1, s2)], 'e.db'));
    expect(forged.code).toBe('E_CHECKSUM');
    expect(forged.message).toContain('page 4, from b1');
  });

  it('fails on a pages part out of page order or cut inside a page', async () => {
    const full = next([], 10, []);
    const s1 = next(full, 10, [2, 6]);
    const good = pagesPart(full, s1);
    const record = 4 + PAGE;
    const swapped = Buffer.concat([good.subarray(0, 16), good.subarray(16 + record), good.subarray(16, 16 + record)]);
    expect((await failure(build([full, s1], [swapped], 'f.db'))).message).toContain('out of order');
    expect((await failure(build([full, s1], [good.subarray(0, good.length - 10)], 'g.db'))).message).toContain('ends inside a page');
  });

  it('proves a chain by its keyed fast maps when the links record no page map: rebuilt alike, a forged page still caught', async () => {
    const key = FastPageHasher.newKey(PAGE);
    const full = next([], 40, []);
    const s1 = next(full, 40, [4, 9]);
    const s2 = next(s1, 44, [9, 12, 43]);
    const parts = [pagesPart(full, s1), pagesPart(s1, s2)];
    const { bytes, opened } = await build([full, s1, s2], parts, 'fast.db', 3, key);
    expect(bytes.equals(Buffer.concat(s2))).toBe(true);
    expect(opened).toEqual([0, 1, 2]);
    // A page whose bytes are not the ones the last fast map holds (as if its part's checksum had been forged too).
    const forged = await failure(build([full, s1, s2], [pagesPart(full, s1, [], { 4: randomBytes(PAGE) }), pagesPart(s1, s2)], 'fast-forged.db', 3, key));
    expect(forged.code).toBe('E_CHECKSUM');
    expect(forged.message).toContain('page 4, from b1');
    // One bit flipped in a page of the last link.
    const flipped = Buffer.from(s2[11]!);
    flipped[100]! ^= 1;
    const bit = await failure(build([full, s1, s2], [pagesPart(full, s1), pagesPart(s1, s2, [], { 12: flipped })], 'fast-bit.db', 3, key));
    expect(bit.message).toContain('page 12, from b2');
  });
});
