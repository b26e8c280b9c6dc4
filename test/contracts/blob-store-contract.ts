import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { BlobStore } from '../../src/application/ports/blob-store.js';
import { isAbortError, isDbBackupError } from '../../src/domain/errors.js';

export interface ContractTarget {
  /** A store over an empty place (a fresh prefix), with a tiny list page size and part size. */
  store: BlobStore;
  cleanup?(): Promise<void>;
}

export interface ContractOptions {
  /** Size of the large streamed object (≥ 64 MiB). */
  largeBytes?: number;
  /** Upper bound on the growth of live Buffer memory while the large object streams (default 24 MiB). */
  maxBufferGrowth?: number;
}

const MiB = 1 << 20;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * The one BlobStore conformance suite (restic's backend/test): every adapter, against a real
 * server, must pass it. Registers vitest tests under `describe(name)`.
 */
export function blobStoreContract(name: string, factory: () => Promise<ContractTarget>, options: ContractOptions = {}): void {
  const largeBytes = options.largeBytes ?? 64 * MiB;

  async function withStore(fn: (store: BlobStore) => Promise<void>): Promise<void> {
    const target = await factory();
    try {
      await fn(target.store);
    } finally {
      await target.cleanup?.();
    }
  }

  describe(`BlobStore contract: ${name}`, () => {
    it('put then get returns the same bytes; stat reports the size', () =>
      withStore(async (store) => {
        const bytes = Buffer.from('hello, storage — ünïcødé\n'.repeat(100));
        const key = 'src/20260101T000000Z-full-abcd/data/a table+ü.0.bin';
        const info = await store.put(key, Readable.from([bytes]));
        expect(info).toMatchObject({ key, size: bytes.length });
        expect((await readAll(await store.get(key))).equals(bytes)).toBe(true);
        const st = await store.stat(key);
        expect(st).toMatchObject({ key, size: bytes.length });
        expect(st!.modifiedAt).toBeInstanceOf(Date);
        expect(store.location).not.toMatch(/key|secret|sig=|password/i);
      }));

    it('batched puts closed by a plain put: every object is there and readable', () =>
      withStore(async (store) => {
        const parts = ['src/b/schema.sql', 'src/b/data/t.0.bin', 'src/b/data/t.1.bin'];
        for (const key of parts) await store.put(key, Readable.from([Buffer.from(key)]), { batched: true });
        await store.put('src/b/manifest.json', Readable.from([Buffer.from('{}')]));
        for (const key of parts) expect((await readAll(await store.get(key))).toString()).toBe(key);
        const listed: string[] = [];
        for await (const info of store.list('src/b/')) listed.push(info.key);
        expect(listed.sort()).toEqual([...parts, 'src/b/manifest.json'].sort());
      }));

    it('stores an empty object', () =>
      withStore(async (store) => {
        await store.put('empty', Readable.from([]));
        expect((await readAll(await store.get('empty'))).length).toBe(0);
        expect((await store.stat('empty'))?.size).toBe(0);
      }));

    it('reads byte ranges', () =>
      withStore(async (store) => {
        const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
        await store.put('ranged', Readable.from([bytes]));
        expect(await readAll(await store.get('ranged', { start: 10, end: 19 }))).toEqual(bytes.subarray(10, 20));
        expect(await readAll(await store.get('ranged', { start: 990 }))).toEqual(bytes.subarray(990));
        expect(await readAll(await store.get('ranged', { start: 0, end: 0 }))).toEqual(bytes.subarray(0, 1));
      }));

    it('lists by prefix across pages', () =>
      withStore(async (store) => {
        const keys = ['a/1', 'a/2', 'a/3', 'a/b/4', 'a/b/5', 'a/c/6', 'ab/7', 'b/8'];
        for (const k of keys) await store.put(k, Readable.from([Buffer.from(k)]));
        expect(await listKeys(store, '')).toEqual(keys);
        expect(await listKeys(store, 'a/')).toEqual(keys.slice(0, 6));
        expect(await listKeys(store, 'a/b/')).toEqual(['a/b/4', 'a/b/5']);
        expect(await listKeys(store, 'a')).toEqual(keys.slice(0, 7));
        expect(await listKeys(store, 'nothing/')).toEqual([]);
        const sizes = new Map<string, number>();
        for await (const info of store.list('a/')) sizes.set(info.key, info.size);
        expect(sizes.get('a/b/4')).toBe(5);
      }));

    it('reports missing keys: get rejects E_NOT_FOUND, stat undefined, delete is fine', () =>
      withStore(async (store) => {
        const err = await store.get('no/such/key').then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isDbBackupError(err, 'E_NOT_FOUND')).toBe(true);
        expect(await store.stat('no/such/key')).toBeUndefined();
        await expect(store.delete('no/such/key')).resolves.toBeUndefined();
      }));

    it('overwrites and deletes', () =>
      withStore(async (store) => {
        await store.put('k', Readable.from([Buffer.from('first version')]));
        await store.put('k', Readable.from([Buffer.from('two!')]));
        expect((await readAll(await store.get('k'))).toString()).toBe('two!');
        expect((await store.stat('k'))?.size).toBe(4);
        expect(await listKeys(store, '')).toEqual(['k']);
        await store.delete('k');
        expect(await store.stat('k')).toBeUndefined();
        expect(await listKeys(store, '')).toEqual([]);
      }));

    it(`streams a ${Math.round(largeBytes / MiB)} MiB object in small parts with bounded memory`, () =>
      withStore(async (store) => {
        const source = new PatternSource(largeBytes);
        // Live Buffer memory (after a GC), so garbage not yet collected does not count.
        const live = () => {
          gc();
          return process.memoryUsage().arrayBuffers;
        };
        const baseline = live();
        let peak = baseline;
        const sampler = setInterval(() => (peak = Math.max(peak, live())), 250);
        try {
          const info = await store.put('big/object.bin', source.stream());
          expect(info.size).toBe(largeBytes);
        } finally {
          clearInterval(sampler);
        }
        const growth = peak - baseline;
        console.log(`[${name}] ${largeBytes / MiB} MiB put: live Buffer memory grew by ${(growth / MiB).toFixed(1)} MiB at most`);
        // Well under the object's size proves it streamed; a tighter bound would measure the GC's timing.
        expect(growth).toBeLessThan(options.maxBufferGrowth ?? largeBytes * 0.75);
        expect((await store.stat('big/object.bin'))?.size).toBe(largeBytes);
        expect(await sha256(await store.get('big/object.bin'))).toBe(source.sha256());
        // A range that crosses part boundaries.
        const start = 5 * MiB - 100;
        const end = start + 3 * MiB;
        // (Buffer.equals: vitest's deep equality is very slow on MiB-sized buffers.)
        expect((await readAll(await store.get('big/object.bin', { start, end }))).equals(PatternSource.slice(start, end + 1))).toBe(true);
      }));

    it('an aborted upload leaves nothing, and keeps the object it would have replaced', () =>
      withStore(async (store) => {
        await store.put('victim', Readable.from([Buffer.from('old and complete')]));
        for (const key of ['fresh', 'victim']) {
          const controller = new AbortController();
          const body = new PatternSource(2 ** 40, () => controller.abort(new Error('test abort')), 24 * MiB).stream();
          const err = await store.put(key, body, { signal: controller.signal }).then(
            () => undefined,
            (e: unknown) => e,
          );
          // The cancellation itself (the signal's reason, an AbortError or E_INTERRUPTED), not some other failure.
          expect(err === controller.signal.reason || isAbortError(err), String(err)).toBe(true);
        }
        expect(await store.stat('fresh')).toBeUndefined();
        expect((await readAll(await store.get('victim'))).toString()).toBe('old and complete');
        expect(await listKeys(store, '')).toEqual(['victim']);
      }));
  });
}

/**
 * A deterministic byte stream: 1 MiB blocks, each a fixed pattern stamped with its index, so a
 * reordered, dropped or duplicated part changes the hash. `onAt` fires once `at` bytes went out.
 */
export class PatternSource {
  private static readonly base: Buffer = (() => {
    const seed = createHash('sha512').update('dbbackup').digest();
    const block = Buffer.alloc(MiB);
    for (let i = 0; i < MiB; i += seed.length) seed.copy(block, i);
    return block;
  })();
  private readonly hash = createHash('sha256');

  constructor(
    private readonly total: number,
    private readonly onAt?: () => void,
    private readonly at = Infinity,
  ) {}

  static block(index: number): Buffer {
    const block = Buffer.from(PatternSource.base);
    block.writeUInt32BE(index, 0);
    block.writeUInt32BE(index * 2654435761 >>> 0, MiB / 2);
    return block;
  }

  static slice(start: number, end: number): Buffer {
    const parts: Buffer[] = [];
    for (let b = Math.floor(start / MiB); b * MiB < end; b++) parts.push(PatternSource.block(b));
    const first = Math.floor(start / MiB) * MiB;
    return Buffer.concat(parts).subarray(start - first, end - first);
  }

  stream(): Readable {
    const self = this;
    let sent = 0;
    let fired = false;
    return Readable.from(
      (async function* () {
        for (let index = 0; sent < self.total; index++) {
          const block = PatternSource.block(index);
          const chunk = block.subarray(0, Math.min(MiB, self.total - sent));
          self.hash.update(chunk);
          sent += chunk.length;
          if (!fired && sent >= self.at) {
            fired = true;
            self.onAt?.();
          }
          yield chunk;
        }
      })(),
      { objectMode: false },
    );
  }

  sha256(): string {
    return this.hash.digest('hex');
  }
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

export async function sha256(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const c of stream as AsyncIterable<Buffer>) hash.update(c);
  return hash.digest('hex');
}

export async function listKeys(store: BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys.sort();
}
