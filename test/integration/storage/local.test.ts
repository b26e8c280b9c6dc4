import { mkdir, readdir, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LocalBlobStore } from '../../../src/adapters/storage/local/local-blob-store.js';
import { blobStoreContract } from '../../contracts/blob-store-contract.js';
import { tempDir } from '../../helpers/temp.js';

blobStoreContract('local folder', async () => {
  const dir = await tempDir('dbb-store-');
  return { store: new LocalBlobStore(dir.path), cleanup: dir.cleanup };
});

describe('local folder: folders checked for links once per store', () => {
  it('a folder a delete removed is checked again: a link put in its place is refused', async () => {
    const dir = await tempDir('dbb-store-links-');
    try {
      const store = new LocalBlobStore(dir.path);
      const put = (key: string) => store.put(key, Readable.from([Buffer.from(key)]));
      await put('src/b1/data/a.bson');
      await put('src/b1/data/b.bson'); // src, b1 and data are now remembered as real folders
      await store.delete('src/b1/data/a.bson');
      await store.delete('src/b1/data/b.bson'); // empties, so removes, data/ and b1/
      const elsewhere = join(dir.path, 'elsewhere');
      await mkdir(elsewhere);
      await symlink(elsewhere, join(dir.path, 'src', 'b1'));
      await expect(put('src/b1/data/c.bson')).rejects.toMatchObject({ code: 'E_STORAGE', message: expect.stringMatching(/b1 is a symbolic link/) });
      expect(await readdir(elsewhere)).toEqual([]);
    } finally {
      await dir.cleanup();
    }
  });

  it('reports the size and time of the file it wrote', async () => {
    const dir = await tempDir('dbb-store-info-');
    try {
      const store = new LocalBlobStore(dir.path);
      const info = await store.put('s/b/data/p.bin', Readable.from([Buffer.alloc(12345, 7)]));
      const real = await stat(join(dir.path, 's', 'b', 'data', 'p.bin'));
      expect(info).toEqual({ key: 's/b/data/p.bin', size: 12345, modifiedAt: real.mtime });
      expect(real.mode & 0o777).toBe(0o600);
    } finally {
      await dir.cleanup();
    }
  });
});
