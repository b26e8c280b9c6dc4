import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBlobStore } from '../../../src/adapters/storage/local/local-blob-store.js';
import { HashPool, hashSmallFile, INLINE_HASH_MAX } from '../../../src/infrastructure/hash-pool.js';
import { tempDir } from '../../helpers/temp.js';

let dir: { path: string; cleanup(): Promise<void> };
const files: { path: string; bytes: Buffer }[] = [];
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  dir = await tempDir('dbb-hash-');
  // Sizes around the threads' 1 MiB read buffer, and an empty file.
  for (const [i, size] of [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3_000_017].entries()) {
    const bytes = randomBytes(size);
    const path = join(dir.path, `f${i}`);
    writeFileSync(path, bytes);
    files.push({ path, bytes });
  }
});

afterAll(async () => {
  await dir?.cleanup();
});

describe('HashPool (sha256 of files on worker threads)', () => {
  it('hashes many files at once, more than it has threads, each exactly', async () => {
    const pool = new HashPool(2);
    try {
      const got = await Promise.all([...files, ...files].map((f) => pool.hashFile(f.path)));
      expect(got).toEqual([...files, ...files].map((f) => ({ size: f.bytes.length, sha256: sha(f.bytes) })));
    } finally {
      await pool.close();
    }
  });

  it('rejects a missing file with its errno code, and keeps working', async () => {
    const pool = new HashPool(1);
    try {
      await expect(pool.hashFile(join(dir.path, 'nope'))).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(pool.hashFile(files[1]!.path)).resolves.toEqual({ size: 1, sha256: sha(files[1]!.bytes) });
    } finally {
      await pool.close();
    }
  });

  it('an abort fails the job at once (queued or running), and the pool still serves the next', async () => {
    const pool = new HashPool(1);
    try {
      const ac = new AbortController();
      const running = pool.hashFile(files[5]!.path, ac.signal);
      const queued = pool.hashFile(files[4]!.path, ac.signal);
      ac.abort(new Error('stop'));
      await expect(running).rejects.toThrow('stop');
      await expect(queued).rejects.toThrow('stop');
      await expect(pool.hashFile(files[3]!.path)).resolves.toMatchObject({ size: 1 << 20 });
    } finally {
      await pool.close();
    }
  });
});

describe('LocalBlobStore.digest', () => {
  it('gives the size and sha256 of an object, and undefined for a missing key or a folder', async () => {
    const store = new LocalBlobStore(dir.path);
    mkdirSync(join(dir.path, 'sub'), { recursive: true });
    writeFileSync(join(dir.path, 'sub', 'obj'), files[5]!.bytes);
    expect(await store.digest('sub/obj')).toEqual({ size: files[5]!.bytes.length, sha256: sha(files[5]!.bytes) });
    // Either side of the size up to which it hashes on the event loop instead of a thread.
    for (const f of files.slice(2, 5)) {
      writeFileSync(join(dir.path, 'sub', 'edge'), f.bytes);
      expect(f.bytes.length - INLINE_HASH_MAX).toBeLessThanOrEqual(1);
      expect(await store.digest('sub/edge')).toEqual({ size: f.bytes.length, sha256: sha(f.bytes) });
    }
    expect(await store.digest('sub/missing')).toBeUndefined();
    expect(await store.digest('sub')).toBeUndefined();
  });
});

describe('hashSmallFile (sha256 on the event loop, in bounded reads)', () => {
  it('hashes files of every size exactly, across its 256 KiB reads', async () => {
    const extra = [(256 << 10) - 1, 256 << 10, (256 << 10) + 1].map((size, i) => {
      const bytes = randomBytes(size);
      const path = join(dir.path, `s${i}`);
      writeFileSync(path, bytes);
      return { path, bytes };
    });
    for (const f of [...files, ...extra]) expect(await hashSmallFile(f.path)).toEqual({ size: f.bytes.length, sha256: sha(f.bytes) });
  });

  it('rejects a missing file with its errno code, and an aborted signal at once', async () => {
    await expect(hashSmallFile(join(dir.path, 'nope'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(hashSmallFile(files[1]!.path, AbortSignal.abort(new Error('stop')))).rejects.toThrow('stop');
  });
});
