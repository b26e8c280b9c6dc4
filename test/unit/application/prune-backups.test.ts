import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { OpenedRepository, RepositoryOpener } from '../../../src/application/ports/repository-opener.js';
import { PIN_NAME, PinBackup } from '../../../src/application/use-cases/pin-backup.js';
import { PruneBackups } from '../../../src/application/use-cases/prune-backups.js';
import { ensureMarker, scanRepository, writeJson } from '../../../src/application/services/backup-repository.js';
import type { BackupKind } from '../../../src/domain/backup-kind.js';
import type { Manifest } from '../../../src/domain/manifest.js';
import { MemoryCatalog, MemoryOpener, silentLogger } from '../../helpers/fakes.js';
import { MemoryBlobStore } from '../../helpers/memory-blob-store.js';

const NOW = new Date('2026-11-25T12:00:00Z');
const clock = { now: () => NOW };
const signal = () => new AbortController().signal;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Writes a complete backup the way RunBackup does: parts first, manifest last. */
async function writeBackup(store: MemoryBlobStore, source: string, iso: string, kind: BackupKind = 'full', parent: string | null = null): Promise<Manifest> {
  const id = `${iso.replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')}-${kind}-${source.slice(0, 4).padEnd(4, 'x')}`;
  const parts: Manifest['parts'] = [];
  for (const name of ['schema.sql', 'data/t.0.txt', 'data/t.1.txt']) {
    const bytes = Buffer.from(`${id} ${name}\n`.repeat(10));
    await store.put(`${source}/${id}/${name}`, Readable.from([bytes]));
    parts.push({ name, role: name === 'schema.sql' ? 'schema' : 'data', codecs: [], rawSize: bytes.length, storedSize: bytes.length, rawSha256: sha(bytes), sha256: sha(bytes) });
  }
  const manifest: Manifest = {
    formatVersion: 1,
    id,
    source,
    engine: 'sqlite',
    serverVersion: '3',
    kind,
    parent,
    baseFull: parent,
    startedAt: iso,
    finishedAt: iso,
    consistentAt: iso,
    logPosition: null,
    objects: [{ name: 't', type: 'table', rows: 1 }],
    parts,
    warnings: [],
    toolVersion: 'test',
    engineInfo: {},
  };
  await writeJson(store, `${source}/${id}/manifest.json`, manifest);
  return manifest;
}

async function setup(days = 10) {
  const store = new MemoryBlobStore();
  await ensureMarker(store, NOW);
  const backups: Manifest[] = [];
  for (let d = 1; d <= days; d++) backups.push(await writeBackup(store, 'app', `2026-11-${String(d).padStart(2, '0')}T02:00:00Z`));
  const other = await writeBackup(store, 'other', '2026-11-01T03:00:00Z');
  const catalog = new MemoryCatalog();
  await catalog.replaceRepository(store.location, [...backups, other]);
  const deps = { opener: new MemoryOpener(store), catalog, clock, logger: silentLogger };
  return { store, backups, other, catalog, prune: new PruneBackups(deps), pin: new PinBackup(deps) };
}

const keysOf = (store: MemoryBlobStore, prefix: string) => [...store.objects.keys()].filter((k) => k.startsWith(prefix)).sort();

describe('PruneBackups', () => {
  it('deletes what the policy does not keep, updates the catalog and reports bytes freed', async () => {
    const t = await setup();
    const before = [...t.store.objects.values()].reduce((n, o) => n + o.bytes.length, 0);
    const r = await t.prune.execute({ repository: 'mem', source: 'app', policy: { keepLast: 3 } }, signal());
    expect(r.kept).toBe(3);
    expect(r.deleted).toEqual(t.backups.slice(0, 7).map((b) => b.id).reverse());
    for (const b of t.backups.slice(0, 7)) expect(keysOf(t.store, `app/${b.id}/`)).toEqual([]);
    for (const b of t.backups.slice(7)) expect(keysOf(t.store, `app/${b.id}/`)).toHaveLength(4);
    expect(keysOf(t.store, `other/${t.other.id}/`)).toHaveLength(4);
    const after = [...t.store.objects.values()].reduce((n, o) => n + o.bytes.length, 0);
    expect(r.bytesFreed).toBe(before - after);
    expect((await t.catalog.list()).map((b) => b.id).sort()).toEqual([...t.backups.slice(7).map((b) => b.id), t.other.id].sort());
    expect(r.plan.decisions.filter((d) => d.action === 'keep').map((d) => d.reasons)).toEqual([['last'], ['last'], ['last']]);
  });

  it('--dry-run plans the same but deletes nothing and leaves the catalog alone', async () => {
    const t = await setup();
    const keys = [...t.store.objects.keys()].sort();
    const rows = await t.catalog.list();
    const r = await t.prune.execute({ repository: 'mem', source: 'app', policy: { keepLast: 3 }, dryRun: true }, signal());
    expect(r.dryRun).toBe(true);
    expect(r.deleted).toHaveLength(7);
    expect(r.bytesFreed).toBeGreaterThan(0);
    expect([...t.store.objects.keys()].sort()).toEqual(keys);
    expect(await t.catalog.list()).toEqual(rows);
  });

  it('deletes manifest.json first in each backup, and a dependant before its base', async () => {
    const t = await setup(0);
    const full = await writeBackup(t.store, 'app', '2026-11-01T02:00:00Z');
    const inc = await writeBackup(t.store, 'app', '2026-11-02T02:00:00Z', 'incremental', full.id);
    const keep = await writeBackup(t.store, 'app', '2026-11-03T02:00:00Z');
    const order: string[] = [];
    const del = t.store.delete.bind(t.store);
    t.store.delete = async (key) => {
      order.push(key);
      await del(key);
    };
    const r = await t.prune.execute({ repository: 'mem', source: 'app', policy: { keepLast: 1 } }, signal());
    expect(r.deleted).toEqual([inc.id, full.id]);
    expect(order[0]).toBe(`app/${inc.id}/manifest.json`);
    expect(order.slice(1, 4).every((k) => k.startsWith(`app/${inc.id}/`) && !k.endsWith('manifest.json'))).toBe(true);
    expect(order[4]).toBe(`app/${full.id}/manifest.json`);
    expect(order).toHaveLength(8);
    expect(keysOf(t.store, `app/${keep.id}/`)).toHaveLength(4);
  });

  it('a crash mid-prune leaves orphans only — never a listed backup with missing parts — and the next prune removes them', async () => {
    const t = await setup(5);
    const victim = t.backups[2]!;
    const del = t.store.delete.bind(t.store);
    t.store.delete = async (key) => {
      if (key === `app/${victim.id}/data/t.0.txt`) throw new Error('network down');
      await del(key);
    };
    await expect(t.prune.execute({ repository: 'mem', source: 'app', policy: { keepLast: 2 } }, signal())).rejects.toThrow('network down');
    const { manifests } = await scanRepository(t.store);
    for (const m of manifests) for (const p of m.parts) expect(t.store.objects.has(`${m.source}/${m.id}/${p.name}`)).toBe(true);
    expect(manifests.map((m) => m.id)).not.toContain(victim.id);
    expect((await t.catalog.list()).map((b) => b.id)).not.toContain(victim.id);
    expect(keysOf(t.store, `app/${victim.id}/`).length).toBeGreaterThan(0);

    t.store.delete = del;
    const fresh = await t.prune.execute({ repository: 'mem', source: 'app', policy: { keepLast: 2 } }, signal());
    expect(fresh.orphans).toEqual([]); // written just now: inside the 24 h grace period
    const later = new PruneBackups({ opener: new MemoryOpener(t.store), catalog: t.catalog, clock: { now: () => new Date(Date.now() + 25 * 3600e3) }, logger: silentLogger });
    const r = await later.execute({ repository: 'mem', source: 'app', policy: { keepLast: 2 } }, signal());
    expect(r.orphans.map((o) => o.prefix)).toEqual([`app/${victim.id}/`]);
    expect(keysOf(t.store, `app/${victim.id}/`)).toEqual([]);
  });

  it('removes orphan folders older than the grace period, and nothing else', async () => {
    const t = await setup(3);
    const old = new Date(NOW.getTime() - 30 * 3600e3);
    const put = async (key: string, modifiedAt: Date) => {
      await t.store.put(key, Readable.from([Buffer.from('partial data')]));
      t.store.objects.get(key)!.modifiedAt = modifiedAt;
    };
    await put('app/20261120T020000Z-full-dead/data/t.0.txt', old);
    await put('app/20261120T020000Z-full-dead/schema.sql', old);
    await put('app/20261124T020000Z-full-busy/data/t.0.txt', old);
    await put('app/20261124T020000Z-full-busy/data/t.1.txt', new Date(NOW.getTime() - 3600e3)); // still being written
    await put('app/not-a-backup/readme.txt', old);
    await put('other/20261120T020000Z-full-dead/data/t.0.txt', old);
    const r = await t.prune.execute({ repository: 'mem', source: 'app', policy: { keepLast: 10 } }, signal());
    expect(r.deleted).toEqual([]);
    expect(r.orphans).toEqual([{ prefix: 'app/20261120T020000Z-full-dead/', objects: 2, bytes: 24, newest: old.toISOString() }]);
    expect(r.bytesFreed).toBe(24);
    expect(keysOf(t.store, 'app/20261120T020000Z-full-dead/')).toEqual([]);
    expect(keysOf(t.store, 'app/20261124T020000Z-full-busy/')).toHaveLength(2);
    expect(keysOf(t.store, 'app/not-a-backup/')).toHaveLength(1);
    expect(keysOf(t.store, 'other/20261120T020000Z-full-dead/')).toHaveLength(1);
    const short = await t.prune.execute({ repository: 'mem', source: 'app', policy: { keepLast: 10 }, orphanGraceMs: 60_000 }, signal());
    expect(short.orphans.map((o) => o.prefix)).toEqual(['app/20261124T020000Z-full-busy/']);
  });

  it('never deletes a pinned backup or the backups it needs; unpin makes it prunable again', async () => {
    const t = await setup(0);
    const full = await writeBackup(t.store, 'app', '2026-11-01T02:00:00Z');
    const inc = await writeBackup(t.store, 'app', '2026-11-02T02:00:00Z', 'incremental', full.id);
    const newest = await writeBackup(t.store, 'app', '2026-11-03T02:00:00Z');
    await t.catalog.replaceRepository(t.store.location, [full, inc, newest]);
    const pinned = await t.pin.execute({ backup: inc.id.slice(0, 20), pinned: true, note: 'audit' }, signal());
    expect(pinned).toMatchObject({ backup: inc.id, source: 'app', repositories: [{ repository: 'memory://test', changed: true }] });
    expect(JSON.parse(t.store.objects.get(`app/${inc.id}/${PIN_NAME}`)!.bytes.toString())).toEqual({ pinnedAt: NOW.toISOString(), note: 'audit' });

    const r = await t.prune.execute({ repository: 'mem', source: 'app', policy: { keepLast: 1 } }, signal());
    expect(r.deleted).toEqual([]);
    expect(r.plan.decisions.map((d) => [d.id, d.reasons])).toEqual([
      [full.id, [`base of ${inc.id}`]],
      [inc.id, ['pinned']],
      [newest.id, ['last']],
    ]);

    const unpinned = await t.pin.execute({ repository: 'mem', backup: inc.id, pinned: false }, signal());
    expect(unpinned.repositories[0]!.changed).toBe(true);
    const again = await t.prune.execute({ repository: 'mem', source: 'app', policy: { keepLast: 1 } }, signal());
    expect(again.deleted).toEqual([inc.id, full.id]);
  });

  it('deletes nothing while a manifest of the source cannot be read (its chain is unknown); --dry-run still plans', async () => {
    const t = await setup(4);
    const broken = t.backups[3]!;
    await t.store.put(`app/${broken.id}/manifest.json`, Readable.from([Buffer.from('{ not json')]));
    const keys = [...t.store.objects.keys()].sort();
    await expect(t.prune.execute({ repository: 'mem', source: 'app', policy: { keepLast: 1 } }, signal())).rejects.toMatchObject({
      code: 'E_FOREIGN_ARCHIVE',
      message: expect.stringContaining('prune deletes nothing'),
    });
    expect([...t.store.objects.keys()].sort()).toEqual(keys);
    const dry = await t.prune.execute({ repository: 'mem', source: 'app', policy: { keepLast: 1 }, dryRun: true }, signal());
    expect(dry.warnings).toEqual([expect.stringContaining(`app/${broken.id}/manifest.json could not be read`)]);
    expect(dry.orphans).toEqual([]);
  });

  it('refuses an empty policy, an ambiguous source and archives with clear codes', async () => {
    const t = await setup(2);
    await expect(t.prune.execute({ repository: 'mem', source: 'app', policy: {} }, signal())).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(t.prune.execute({ repository: 'mem', policy: { keepLast: 1 } }, signal())).rejects.toMatchObject({
      code: 'E_USAGE',
      message: expect.stringContaining('app, other'),
    });
    await expect(t.prune.execute({ repository: 'mem', source: '../x', policy: { keepLast: 1 } }, signal())).rejects.toMatchObject({ code: 'E_USAGE' });
    const archive: RepositoryOpener = {
      open: async (): Promise<OpenedRepository> => ({ store: t.store, kind: 'archive', commit: async () => {}, abort: async () => {}, close: async () => {} }),
    };
    const onArchive = new PruneBackups({ opener: archive, catalog: t.catalog, clock, logger: silentLogger });
    await expect(onArchive.execute({ repository: 'b.tar.gz', source: 'app', policy: { keepLast: 1 } }, signal())).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
    expect(keysOf(t.store, 'app/')).toHaveLength(8);
  });
});

describe('PruneBackups and unfinished uploads (S3 multipart)', () => {
  /** A store whose repository keeps unfinished uploads apart (as S3 does): records each sweep. */
  async function withUploads(fail = false) {
    const t = await setup(3);
    const sweeps: { prefix: string; before: string; dryRun: boolean }[] = [];
    const uploads = {
      sweep: async (prefix: string, before: Date, o: { dryRun?: boolean } = {}) => {
        if (fail) throw new Error('ListMultipartUploads: AccessDenied');
        sweeps.push({ prefix, before: before.toISOString(), dryRun: o.dryRun === true });
        return 2;
      },
    };
    const opener: RepositoryOpener = { open: async (): Promise<OpenedRepository> => ({ ...(await new MemoryOpener(t.store).open()), uploads }) };
    return { sweeps, prune: new PruneBackups({ opener, catalog: t.catalog, clock, logger: silentLogger }) };
  }

  it('aborts those of the source begun before the orphan grace, and says how many; --dry-run only counts', async () => {
    const u = await withUploads();
    const r = await u.prune.execute({ repository: 'mem', source: 'app', policy: { keepLast: 3 }, orphanGraceMs: 3600e3 }, signal());
    expect(r.incompleteUploads).toBe(2);
    const dry = await u.prune.execute({ repository: 'mem', source: 'app', policy: { keepLast: 3 }, dryRun: true }, signal());
    expect(dry.incompleteUploads).toBe(2);
    expect(u.sweeps).toEqual([
      { prefix: 'app/', before: '2026-11-25T11:00:00.000Z', dryRun: false },
      { prefix: 'app/', before: '2026-11-24T12:00:00.000Z', dryRun: true },
    ]);
  });

  it('a sweep that fails is a warning: the prune itself has done its work', async () => {
    const u = await withUploads(true);
    const r = await u.prune.execute({ repository: 'mem', source: 'app', policy: { keepLast: 1 } }, signal());
    expect(r.deleted).toHaveLength(2);
    expect(r.incompleteUploads).toBe(0);
    expect(r.warnings.join('\n')).toMatch(/unfinished uploads under app\/ could not be swept: ListMultipartUploads: AccessDenied/);
  });
});
