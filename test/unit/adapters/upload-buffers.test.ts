import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { BlockPool, TaskPool, fixedChunks, growingChunks, growingPartSize } from '../../../src/adapters/storage/cloud/fixed-chunks.js';
import { UploadDigest } from '../../../src/adapters/storage/cloud/upload-digest.js';
import { UploadBudget } from '../../../src/adapters/storage/cloud/upload-budget.js';

const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

describe('growing parts (any object fits in a part count limit)', () => {
  it('doubles the part size every `every` parts up to the maximum', () => {
    const at = growingPartSize(8, 3, 40);
    expect(Array.from({ length: 13 }, (_, i) => at(i))).toEqual([8, 8, 8, 16, 16, 16, 32, 32, 32, 40, 40, 40, 40]);
  });

  it('re-slices a stream into blocks of the schedule, and the digest computes the multipart ETag of exactly those blocks', async () => {
    const input = Array.from({ length: 40 }, (_, i) => bytes(1 + ((i * 7) % 23), i));
    const at = growingPartSize(4, 2, 1 << 20);
    const digest = new UploadDigest(at);
    const out: Buffer[] = [];
    for await (const { block, pool } of growingChunks(digest.tap(Readable.from(input)), at)) {
      expect(pool.size).toBe(at(out.length));
      out.push(Buffer.from(block));
      pool.give(block);
    }
    const total = Buffer.concat(input);
    expect(Buffer.concat(out)).toEqual(total);
    expect(out.slice(0, -1).map((b) => b.length)).toEqual(out.slice(0, -1).map((_, i) => at(i)));
    const md5 = (b: Buffer) => createHash('md5').update(b).digest();
    const etag = `${createHash('md5').update(Buffer.concat(out.map(md5))).digest('hex')}-${out.length}`;
    expect(digest.multipartEtag()).toBe(etag);
    expect(digest.md5Hex()).toBe(md5(total).toString('hex'));
  });
});

describe('pooled fixed chunks', () => {
  it('re-slices any chunking into blocks of the pool size, reusing given-back blocks', async () => {
    const input = [bytes(3, 1), bytes(10, 2), bytes(1, 3), bytes(17, 4), bytes(0, 5), bytes(5, 6)];
    const pool = new BlockPool(8);
    const seen = new Set<ArrayBufferLike>();
    const out: Buffer[] = [];
    for await (const block of fixedChunks(Readable.from(input), 8, pool)) {
      out.push(Buffer.from(block));
      seen.add(block.buffer);
      pool.give(block);
    }
    expect(Buffer.concat(out)).toEqual(Buffer.concat(input));
    expect(out.map((b) => b.length)).toEqual([8, 8, 8, 8, 4]);
    expect(seen.size).toBe(1);
  });

  it('yields nothing for an empty stream', async () => {
    const out: Buffer[] = [];
    for await (const block of fixedChunks(Readable.from([]), 8, new BlockPool(8))) out.push(block);
    expect(out).toEqual([]);
  });
});

describe('UploadBudget', () => {
  it('keeps the bytes in flight of several pools within the shared limit', async () => {
    const budget = new UploadBudget(10);
    let inFlight = 0;
    let peak = 0;
    const task = async () => {
      inFlight += 4;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight -= 4;
    };
    const feed = async (pool: TaskPool) => {
      for (let i = 0; i < 6; i++) await pool.add(task, 4);
      await pool.drain();
    };
    await Promise.all([feed(new TaskPool(4, budget)), feed(new TaskPool(4, budget))]);
    expect(peak).toBe(8);
  });

  it('lets one request larger than the limit go when nothing else is in flight', async () => {
    const budget = new UploadBudget(10);
    const release = await budget.take(50);
    let second = false;
    const waiting = budget.take(1).then((r) => ((second = true), r));
    await new Promise((r) => setImmediate(r));
    expect(second).toBe(false);
    release();
    (await waiting)();
    expect(second).toBe(true);
  });

  it('stops waiting when its signal aborts', async () => {
    const budget = new UploadBudget(10);
    await budget.take(10);
    const controller = new AbortController();
    const waiting = budget.take(1, controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
  });
});
