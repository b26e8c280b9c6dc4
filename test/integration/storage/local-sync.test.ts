import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalBlobStore } from '../../../src/adapters/storage/local/local-blob-store.js';
import { syncFolder } from '../../../src/infrastructure/files.js';
import { tempDir } from '../../helpers/temp.js';

// The local store's crash contract for a backup: parts are put batched (file fsynced, folder not),
// the manifest's put fsyncs every folder they touched once, BEFORE the manifest's name exists, then
// the manifest's folder. Recorded through the store's folder-sync hook, around the real fsync.
describe('LocalBlobStore folder syncs', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  async function recorded(failFirst = false) {
    const dir = await tempDir('dbb-sync-');
    cleanups.push(dir.cleanup);
    const root = join(dir.path, 'repo');
    const manifest = join(root, 'src', 'b1', 'manifest.json');
    const syncs: { dir: string; manifestSeen: boolean }[] = [];
    let fail = failFirst;
    const store = new LocalBlobStore(root, {
      syncFolder: async (folder) => {
        syncs.push({ dir: folder.slice(dir.path.length) || '/', manifestSeen: existsSync(manifest) });
        if (fail) {
          fail = false;
          throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
        }
        await syncFolder(folder);
      },
    });
    return { store, syncs, manifest };
  }
  const put = (store: LocalBlobStore, key: string, batched: boolean) => store.put(key, Readable.from([Buffer.from(key)]), { batched });

  it('syncs each folder of the batched parts once, before the manifest exists, then the manifest folder', async () => {
    const { store, syncs } = await recorded();
    for (const key of ['src/b1/schema.sql', 'src/b1/data/t.0', 'src/b1/data/t.1', 'src/b1/changes/a', 'src/b1/changes/b']) await put(store, key, true);
    expect(syncs).toEqual([]);
    await put(store, 'src/b1/manifest.json', false);
    const before = syncs.filter((s) => !s.manifestSeen).map((s) => s.dir);
    // Every folder a part's name is in, and every folder that got a new sub-folder (repo, src, b1 were created).
    expect(before.sort()).toEqual(['/', '/repo', '/repo/src', '/repo/src/b1', '/repo/src/b1/changes', '/repo/src/b1/data']);
    expect(syncs.filter((s) => s.manifestSeen).map((s) => s.dir)).toEqual(['/repo/src/b1']);
    // Nothing is left to sync: the next plain put syncs only its own folder.
    syncs.length = 0;
    await put(store, 'src/b1/note', false);
    expect(syncs.map((s) => s.dir)).toEqual(['/repo/src/b1']);
  });

  it('a failed folder sync fails the manifest put, leaves no manifest, and is retried by the next put', async () => {
    const { store, syncs, manifest } = await recorded(true);
    await put(store, 'src/b1/data/t.0', true);
    await expect(put(store, 'src/b1/manifest.json', false)).rejects.toMatchObject({ code: 'E_STORAGE' });
    expect(existsSync(manifest)).toBe(false);
    syncs.length = 0;
    await put(store, 'src/b1/manifest.json', false);
    expect(existsSync(manifest)).toBe(true);
    expect(syncs.filter((s) => !s.manifestSeen).map((s) => s.dir).sort()).toEqual(['/', '/repo', '/repo/src', '/repo/src/b1', '/repo/src/b1/data']);
  });

  it('a plain put syncs its folder after the rename, and the parents of folders it created', async () => {
    const { store, syncs } = await recorded();
    await put(store, 'dbbackup-repo.json', false);
    expect(syncs.map((s) => s.dir).sort()).toEqual(['/', '/repo']);
  });
});
