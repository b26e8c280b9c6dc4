import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { BlobStore, PutOptions } from '../../../../src/application/ports/blob-store.js';
import { PartDestination, PartWriter } from '../../../../src/application/pipeline/part-writer.js';
import { Tee } from '../../../../src/application/pipeline/tee.js';
import { RestoreBackup } from '../../../../src/application/use-cases/restore-backup.js';
import { RunBackup, type RunBackupInput } from '../../../../src/application/use-cases/run-backup.js';
import { MapCodecRegistry } from '../../../../src/adapters/compression/codec-registry.js';
import { NoneCodec } from '../../../../src/adapters/compression/none-codec.js';
import { ZstdCodec } from '../../../../src/adapters/compression/zstd-codec.js';
import { MapConnectorRegistry } from '../../../../src/adapters/connectors/connector-registry.js';
import { ChunkedAesGcm } from '../../../../src/adapters/encryption/chunked-aead.js';
import { PassphraseKey } from '../../../../src/adapters/encryption/key-encryption-keys.js';
import { DbBackupError } from '../../../../src/domain/errors.js';
import { parseManifest } from '../../../../src/domain/manifest.js';
import { NullProgress } from '../../../../src/infrastructure/progress.js';
import { FakeConnector, fixedClock, MemoryCatalog, MemoryOpenerMap, silentLogger } from '../../../helpers/fakes.js';
import { MemoryBlobStore } from '../../../helpers/memory-blob-store.js';

const codecs = new MapCodecRegistry([new ZstdCodec(), new NoneCodec()]);
const ID = '20261125T020000Z-full-abcd';
const signal = () => new AbortController().signal;

async function collect(stream: Readable, delayMs = 0): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) {
    chunks.push(c);
    if (delayMs) await sleep(delayMs);
  }
  return Buffer.concat(chunks);
}

/** A store that reads slowly, or fails after some bytes, and records how much it buffered. */
class SlowStore extends MemoryBlobStore {
  /** Bytes taken from the pipeline so far. */
  received = 0;
  constructor(
    location: string,
    private readonly delayMs: number,
  ) {
    super(location);
  }
  override async put(key: string, body: Readable, options?: PutOptions) {
    const slowed = new Readable({ read() {} });
    void (async () => {
      for await (const c of body as AsyncIterable<Buffer>) {
        await sleep(this.delayMs);
        this.received += c.length;
        slowed.push(c);
      }
      slowed.push(null);
    })().catch((err: unknown) => slowed.destroy(err as Error));
    return super.put(key, slowed, options);
  }
}

describe('Tee', () => {
  it('feeds every branch all bytes, paced by the slowest, buffering at most a high-water mark each', async () => {
    const tee = new Tee(2, 64 * 1024);
    const data = randomBytes(8 << 20);
    let maxBuffered = 0;
    const watch = setInterval(() => {
      for (const b of tee.branches) maxBuffered = Math.max(maxBuffered, b.stream.readableLength + b.stream.writableLength);
    }, 1);
    const [, fast, slow] = await Promise.all([
      pipeline(Readable.from(chunksOf(data, 16 * 1024)), tee),
      collect(tee.branches[0]!.stream),
      collect(tee.branches[1]!.stream, 1),
    ]);
    clearInterval(watch);
    expect(fast.equals(data)).toBe(true);
    expect(slow.equals(data)).toBe(true);
    expect(maxBuffered).toBeLessThanOrEqual(3 * 64 * 1024);
  });

  it('drops a branch whose reader fails and keeps feeding the others; fails once all are gone', async () => {
    const tee = new Tee(2, 1024);
    const data = randomBytes(1 << 20);
    const first = collect(tee.branches[0]!.stream);
    tee.branches[1]!.stream.once('data', () => tee.drop(tee.branches[1]!, new Error('disk full')));
    await pipeline(Readable.from(chunksOf(data, 4096)), tee);
    expect((await first).equals(data)).toBe(true);

    const lonely = new Tee(1, 1024);
    lonely.branches[0]!.stream.once('data', () => lonely.drop(lonely.branches[0]!, new Error('gone')));
    await expect(pipeline(Readable.from(chunksOf(data, 4096)), lonely)).rejects.toThrow('gone');
  });

  it('a source failing before any branch has a reader is an error for the readers, not an unhandled event', async () => {
    const unhandled: unknown[] = [];
    const onUncaught = (err: unknown) => unhandled.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const tee = new Tee(2, 1024);
      const failing = new Readable({ read() { this.destroy(new Error('permission denied for table t')); } });
      await expect(pipeline(failing, tee)).rejects.toThrow('permission denied');
      await sleep(10);
      // A reader that attaches late sees the failure, and its signal says why.
      await expect(collect(tee.branches[0]!.stream)).rejects.toThrow();
      expect(tee.branches[1]!.signal.aborted).toBe(true);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});

describe('PartWriter with several destinations', () => {
  it('encodes once, stores identical bytes everywhere, and drops a failing destination', async () => {
    const a = new MemoryBlobStore('a');
    const b = new MemoryBlobStore('b');
    const c = new MemoryBlobStore('c');
    b.failAfterBytes = 100_000;
    const dests = [a, b, c].map((s) => new PartDestination(s));
    const dropped: string[] = [];
    const writer = new PartWriter(dests, 'src', ID, [{ codec: codecs.get('zstd') }], new NullProgress(), signal(), undefined, (d) =>
      dropped.push(d.store.location),
    );
    const data = randomBytes(2 << 20);
    const entry = await writer.write({ name: 'data/t.0.txt', role: 'data', object: 't' }, Readable.from(chunksOf(data, 64 * 1024)));
    const key = `src/${ID}/${entry.name}`;
    expect(a.objects.get(key)!.bytes.equals(c.objects.get(key)!.bytes)).toBe(true);
    expect(a.objects.get(key)!.bytes.length).toBe(entry.storedSize);
    expect(b.objects.has(key)).toBe(false);
    expect(dests.map((d) => d.failed)).toEqual([false, true, false]);
    expect(dropped).toEqual(['b']);
    // The next part skips the failed destination altogether.
    await writer.write({ name: 'data/u.0.txt', role: 'data', object: 'u' }, Readable.from([Buffer.from('x')]));
    expect([...b.objects.keys()].some((k) => k.includes('/data/u'))).toBe(false);
    expect(dests[1]!.written).toEqual([key]);
  });

  it('fails the part with the store error when every destination fails', async () => {
    const a = new MemoryBlobStore('a');
    a.failAfterBytes = 10;
    const writer = new PartWriter([new PartDestination(a)], 'src', ID, [], new NullProgress(), signal());
    await expect(writer.write({ name: 'x', role: 'data' }, Readable.from([randomBytes(1000)]))).rejects.toMatchObject({ code: 'E_STORAGE' });
  });
});

function chunksOf(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

describe('RunBackup into several targets', () => {
  const tables = { users: Array.from({ length: 5000 }, (_, i) => `${i}\tuser-${i}\t${randomBytes(8).toString('hex')}`), orders: ['10\t1\t9.99'] };

  function setup(urls: string[], forced: Record<string, string[]> = {}) {
    const stores = Object.fromEntries(urls.map((u) => [u, new MemoryBlobStore(u)]));
    const opener = new MemoryOpenerMap(stores, forced);
    const connector = new FakeConnector(tables);
    const catalog = new MemoryCatalog();
    const deps = { connectors: new MapConnectorRegistry([connector]), opener, codecs, catalog, clock: fixedClock(), logger: silentLogger, progress: new NullProgress() };
    return { stores, opener, connector, catalog, deps, backup: new RunBackup({ ...deps, toolVersion: 't', cipher: new ChunkedAesGcm() }), restore: new RestoreBackup({ ...deps, cipher: new ChunkedAesGcm() }) };
  }
  const input = (repository: string[], extra: Partial<RunBackupInput> = {}): RunBackupInput => ({
    target: { engine: 'postgres', database: 'app' },
    repository,
    kind: 'full',
    compression: { codec: 'zstd' },
    parallel: 1,
    ...extra,
  });
  const manifestIn = (store: MemoryBlobStore) => {
    const key = [...store.objects.keys()].find((k) => k.endsWith('/manifest.json'));
    return key ? parseManifest(JSON.parse(store.objects.get(key)!.bytes.toString()), key) : undefined;
  };

  it('dumps once into every target under one id; each restores on its own', async () => {
    const t = setup(['one', 'two', 'arch'], { arch: [] });
    const result = await t.backup.execute(input(['one', 'two', 'arch']), signal());
    expect(t.connector.dumpCalls).toBe(1);
    expect(result.targets.map((x) => x.ok)).toEqual([true, true, true]);
    const [m1, m2, m3] = ['one', 'two', 'arch'].map((u) => manifestIn(t.stores[u]!)!);
    expect(new Set([m1!.id, m2!.id, m3!.id]).size).toBe(1);
    expect(m1!.parts).toEqual(m2!.parts);
    expect(m3!.parts.map((p) => p.codecs)).toEqual([[], []]);
    // Stored as is, the archive's parts carry the raw hash (= the stored one); zstd's checksum proves the others.
    expect(m3!.parts.map((p) => p.rawSha256)).toEqual(m3!.parts.map((p) => p.sha256));
    expect(m3!.parts.map((p) => p.rawSize)).toEqual(m1!.parts.map((p) => p.rawSize));
    expect(m1!.parts.map((p) => p.rawSha256)).toEqual([undefined, undefined]);
    expect(m1!.targets?.map((x) => x.ok)).toEqual([true, true, true]);
    for (const url of ['one', 'two', 'arch']) {
      t.connector.restored = undefined;
      await t.restore.execute({ repository: url, backup: 'latest', target: { engine: 'postgres', database: 'copy' }, clean: false }, signal());
      expect(t.connector.restored).toEqual(tables);
    }
    expect(await t.catalog.outcomes(m1!.source, m1!.id)).toEqual(['one', 'two', 'arch'].map((repository) => ({ repository, ok: true })));
  });

  it('carries on when one target fails mid-upload: exit 5 (E_PARTIAL), nothing left in the failed one', async () => {
    const t = setup(['one', 'bad', 'two']);
    (t.stores.bad as MemoryBlobStore).failAfterBytes = 1000;
    const err = await t.backup.execute(input(['one', 'bad', 'two']), signal()).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(DbBackupError);
    expect((err as DbBackupError).code).toBe('E_PARTIAL');
    expect((err as DbBackupError).message).toMatch(/2 of 3 targets.*bad \(E_STORAGE/);
    expect(t.connector.dumpCalls).toBe(1);
    expect(manifestIn(t.stores.one!)).toBeDefined();
    expect(manifestIn(t.stores.two!)!.targets?.map((x) => [x.location, x.ok])).toEqual([['one', true], ['bad', false], ['two', true]]);
    expect([...(t.stores.bad as MemoryBlobStore).objects.keys()]).toEqual(['dbbackup-repo.json']);
    const id = manifestIn(t.stores.one!)!.id;
    expect((await t.catalog.outcomes('fake', id)).map((o) => [o.repository, o.ok, o.errorCode])).toEqual([
      ['one', true, undefined],
      ['bad', false, 'E_STORAGE'],
      ['two', true, undefined],
    ]);
  });

  it('fails cleanly (the first error, no manifest anywhere) when every target fails', async () => {
    const t = setup(['x', 'y']);
    (t.stores.x as MemoryBlobStore).failAfterBytes = 10;
    (t.stores.y as MemoryBlobStore).failAfterBytes = 10;
    await expect(t.backup.execute(input(['x', 'y']), signal())).rejects.toMatchObject({ code: 'E_STORAGE' });
    expect(manifestIn(t.stores.x!)).toBeUndefined();
    expect(manifestIn(t.stores.y!)).toBeUndefined();
  });

  it('a database failure fails every target and leaves no parts behind', async () => {
    const t = setup(['x', 'y']);
    t.connector.failOn = 'users';
    await expect(t.backup.execute(input(['x', 'y']), signal())).rejects.toMatchObject({ code: 'E_BACKUP_FAILED' });
    for (const u of ['x', 'y']) expect([...(t.stores[u] as MemoryBlobStore).objects.keys()]).toEqual(['dbbackup-repo.json']);
  });

  it('shares one data key across targets, each wrapping it for its own repository', async () => {
    const t = setup(['one', 'two']);
    const encryption = new PassphraseKey('correct horse battery staple', 'passphrase', 10);
    await t.backup.execute(input(['one', 'two'], { encryption }), signal());
    const [m1, m2] = ['one', 'two'].map((u) => manifestIn(t.stores[u]!)!);
    expect(m1!.parts).toEqual(m2!.parts);
    for (const url of ['one', 'two']) {
      t.connector.restored = undefined;
      await t.restore.execute({ repository: url, backup: 'latest', target: { engine: 'postgres', database: 'c' }, clean: false, keys: [encryption] }, signal());
      expect(t.connector.restored).toEqual(tables);
    }
  });

  it('sequential: dumps into the first, copies verified bytes to the rest, and catches a damaged copy source', async () => {
    const t = setup(['one', 'two', 'three']);
    const result = await t.backup.execute(input(['one', 'two', 'three'], { fanout: 'sequential' }), signal());
    expect(t.connector.dumpCalls).toBe(1);
    expect(result.targets.every((x) => x.ok)).toBe(true);
    const [m1, m2] = ['one', 'two'].map((u) => manifestIn(t.stores[u]!)!);
    expect(m2!.parts).toEqual(m1!.parts);
    expect(m2!.copiedFrom).toBe('one');
    t.connector.restored = undefined;
    await t.restore.execute({ repository: 'three', backup: 'latest', target: { engine: 'postgres', database: 'c' }, clean: false }, signal());
    expect(t.connector.restored).toEqual(tables);

    // The primary's part is damaged after it was written: the copy must refuse it.
    const u = setup(['one', 'two']);
    const store = u.stores.one as MemoryBlobStore;
    const put = store.put.bind(store);
    store.put = async (key, body, o) => {
      const info = await put(key, body, o);
      if (key.includes('/data/users')) store.objects.get(key)!.bytes[5]! ^= 0xff;
      return info;
    };
    const err = await u.backup.execute(input(['one', 'two'], { fanout: 'sequential' }), signal()).then(() => undefined, (e: unknown) => e);
    expect((err as DbBackupError).code).toBe('E_PARTIAL');
    expect((err as DbBackupError).message).toMatch(/two \(E_CHECKSUM/);
    expect(manifestIn(u.stores.two!)).toBeUndefined();
  });

  it('a slow target gets every byte; the fast one waits for it', async () => {
    const slow = new SlowStore('slow', 2);
    // The fast target notes how far ahead of the slow one it ever got.
    let lead = 0;
    const fast = new (class extends MemoryBlobStore {
      override async put(key: string, body: Readable, options?: PutOptions) {
        let got = 0;
        const watched = new Readable({ read() {} });
        void (async () => {
          for await (const c of body as AsyncIterable<Buffer>) {
            got += c.length;
            lead = Math.max(lead, got - slow.received);
            watched.push(c);
          }
          watched.push(null);
        })().catch((err: unknown) => watched.destroy(err as Error));
        return super.put(key, watched, options);
      }
    })('fast');
    const stores: Record<string, BlobStore> = { fast, slow };
    const opener = new MemoryOpenerMap(stores);
    const big = { big: Array.from({ length: 200_000 }, (_, i) => `${i}\t${randomBytes(24).toString('hex')}`) };
    const connector = new FakeConnector(big);
    const deps = { connectors: new MapConnectorRegistry([connector]), opener, codecs, catalog: new MemoryCatalog(), clock: fixedClock(), logger: silentLogger, progress: new NullProgress() };
    const r = await new RunBackup({ ...deps, toolVersion: 't' }).execute(input(['fast', 'slow'], { compression: { codec: 'none' } }), signal());
    expect(r.targets.map((x) => x.ok)).toEqual([true, true]);
    const key = `fake/${r.manifest.id}/${r.manifest.parts[0]!.name}`;
    const size = (stores.fast as MemoryBlobStore).objects.get(key)!.bytes.length;
    expect(slow.objects.get(key)!.bytes.equals((stores.fast as MemoryBlobStore).objects.get(key)!.bytes)).toBe(true);
    // ~11 MB in all: the fast target never ran more than a few buffers ahead of the slow one.
    expect(size).toBeGreaterThan(10_000_000);
    expect(lead).toBeLessThan(size / 3);
  });

  it("restore reads the source's other targets when the first is down, and takes the newest latest", async () => {
    const t = setup(['one', 'two']);
    await t.backup.execute(input(['one', 'two']), signal());
    // The next run reaches only `two`, so `one` holds an older latest.
    (t.stores.one as MemoryBlobStore).failAfterBytes = 10;
    t.connector.tables = { ...tables, extra: ['new'] };
    await expect(t.backup.execute(input(['one', 'two']), signal())).rejects.toMatchObject({ code: 'E_PARTIAL' });
    const target = { engine: 'postgres' as const, database: 'c' };
    const r = await t.restore.execute({ repository: 'one', fallbacks: ['two'], backup: 'latest', target, clean: false }, signal());
    expect(t.connector.restored).toEqual({ ...tables, extra: ['new'] });
    expect(r.manifest.objects.map((o) => o.name)).toContain('extra');

    // `one` unreachable altogether: the restore still works from `two`.
    (t.stores.one as MemoryBlobStore).get = async () => {
      throw new DbBackupError('E_STORAGE', 'connection refused');
    };
    (t.stores.one as MemoryBlobStore).list = async function* () {
      throw new DbBackupError('E_STORAGE', 'connection refused');
    };
    t.connector.restored = undefined;
    await t.restore.execute({ repository: 'one', fallbacks: ['two'], backup: r.manifest.id, target, clean: false }, signal());
    expect(t.connector.restored).toEqual({ ...tables, extra: ['new'] });
    // Without fallbacks the first target's error stands.
    await expect(t.restore.execute({ repository: 'one', backup: 'latest', target, clean: false }, signal())).rejects.toMatchObject({ code: 'E_STORAGE' });
  });

  it('an interrupt mid-dump removes what every target got and records nothing', async () => {
    const stores: Record<string, BlobStore> = { a: new SlowStore('a', 5), b: new MemoryBlobStore('b') };
    const connector = new FakeConnector({ big: Array.from({ length: 20_000 }, (_, i) => `${i}\t${randomBytes(24).toString('hex')}`) });
    const catalog = new MemoryCatalog();
    const deps = { connectors: new MapConnectorRegistry([connector]), opener: new MemoryOpenerMap(stores), codecs, catalog, clock: fixedClock(), logger: silentLogger, progress: new NullProgress() };
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('SIGINT')), 50);
    await expect(new RunBackup({ ...deps, toolVersion: 't' }).execute(input(['a', 'b']), controller.signal)).rejects.toMatchObject({ code: 'E_INTERRUPTED' });
    for (const s of Object.values(stores)) expect([...(s as MemoryBlobStore).objects.keys()]).toEqual(['dbbackup-repo.json']);
    expect(catalog.rows).toEqual([]);
  });

  it('drops a whole codec chain when its only target fails mid-part; the other chain completes', async () => {
    const t = setup(['one', 'arch'], { arch: [] });
    (t.stores.arch as MemoryBlobStore).failAfterBytes = 5000;
    const err = await t.backup.execute(input(['one', 'arch']), signal()).then(() => undefined, (e: unknown) => e);
    expect((err as DbBackupError).code).toBe('E_PARTIAL');
    expect(t.connector.dumpCalls).toBe(1);
    expect(manifestIn(t.stores.one!)!.parts.map((p) => p.codecs)).toEqual([['zstd'], ['zstd']]);
    expect([...(t.stores.arch as MemoryBlobStore).objects.keys()]).toEqual(['dbbackup-repo.json']);
    await t.restore.execute({ repository: 'one', backup: 'latest', target: { engine: 'postgres', database: 'c' }, clean: false }, signal());
    expect(t.connector.restored).toEqual(tables);
  });

  it('reports progress once per raw byte, however many codec chains there are', async () => {
    const t = setup(['one', 'two', 'arch'], { arch: [] });
    let advanced = 0;
    const progress = { start: () => undefined, stop: () => undefined, expect: () => undefined, advance: (n: number) => void (advanced += n) };
    const r = await new RunBackup({ ...t.deps, progress, toolVersion: 't' }).execute(input(['one', 'two', 'arch']), signal());
    expect(advanced).toBe(r.manifest.parts.reduce((n, p) => n + p.rawSize, 0));
  });
});
