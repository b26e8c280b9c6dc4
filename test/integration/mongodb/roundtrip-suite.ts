import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BSON, type Document, Int32, type MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongodbConnector } from '../../../src/adapters/connectors/mongodb/mongodb-connector.js';
import type { ConnectionTarget } from '../../../src/application/ports/connection-target.js';
import type { PartSource } from '../../../src/application/ports/parts.js';
import type { Manifest, PartEntry } from '../../../src/domain/manifest.js';
import { appServices, type AppServices, buildContainer } from '../../../src/bootstrap/container.js';
import { tempDir } from '../../helpers/temp.js';
import { anyDb, EXACT, orderedRawDocument, seed, snapshot, typedDocuments } from './fixtures.js';

export interface MongoUnderTest {
  /** Connection string without a database path. */
  url: string;
  client: MongoClient;
  /** CongoDB: no snapshots, time-series buckets seeded directly. */
  congodb: boolean;
  stop(): Promise<void>;
}

const signal = () => new AbortController().signal;

/**
 * The checks both MongoDB suites run: the CongoDB one always, the real-server one when MONGODB_URI
 * is set. Databases are prefixed with a random run id and dropped afterwards, so a shared server
 * keeps nothing of ours.
 */
export function mongoRoundTripSuite(label: string, start: () => Promise<MongoUnderTest>): void {
  describe(label, () => {
    const run = `dbb${randomBytes(3).toString('hex')}`;
    const dbs = { main: `${run}_main`, second: `${run}_second`, copy: `${run}_copy` };
    let server: MongoUnderTest;
    let dir: { path: string; cleanup(): Promise<void> };
    let app: AppServices;
    let original: Record<string, Awaited<ReturnType<typeof snapshot>>>;
    const target = (extra: Partial<ConnectionTarget> = {}): ConnectionTarget => ({ engine: 'mongodb', url: server.url, ...extra });
    const both = () => target({ database: `${dbs.main},${dbs.second}` });
    const repo = () => join(dir.path, 'repo');

    beforeAll(async () => {
      server = await start();
      dir = await tempDir('dbb-mongo-');
      app = appServices(buildContainer({ dataDir: join(dir.path, 'data'), logLevel: 'error', json: false, progress: false, toolVersion: 'test' }));
      await seed(server.client, dbs, { congodb: server.congodb });
      original = { main: await snapshot(server.client, dbs.main), second: await snapshot(server.client, dbs.second) };
    });

    afterAll(async () => {
      for (const db of Object.values(dbs)) await server?.client.db(db).dropDatabase().catch(() => undefined);
      await server?.stop();
      app?.close();
      await dir?.cleanup();
    });

    it('round-trips every BSON type, collection option and index of two databases', async () => {
      const { manifest } = await app.runBackup.execute({ target: both(), repository: repo(), kind: 'full', compression: { codec: 'zstd' }, parallel: 3 }, signal());
      const byName = Object.fromEntries(manifest.objects.map((o) => [o.name, o]));
      expect(byName[`${dbs.main}.types`]).toMatchObject({ type: 'collection', rows: typedDocuments().length + 1 });
      expect(byName[`${dbs.main}.view_a`]).toEqual({ name: `${dbs.main}.view_a`, type: 'view' });
      expect(byName[`${dbs.main}.ts`]?.type).toBe('timeseries');
      expect(byName[`${dbs.second}.things`]?.rows).toBe(50);
      expect(byName[`${dbs.main}.big`]?.rawBytes).toBeGreaterThan(16 * 1024 * 1024 - 2048);
      expect(manifest.engineInfo).toMatchObject({ layout: 'mongodump' });
      expect(manifest.logPosition).toHaveProperty('clusterTime');
      if (server.congodb) {
        expect(manifest.logPosition).toMatchObject({ snapshot: false });
        expect(manifest.warnings.join(' ')).toMatch(/not point-in-time consistent/);
      }
      await server.client.db(dbs.main).dropDatabase();
      await server.client.db(dbs.second).dropDatabase();
      const r = await app.restoreBackup.execute({ repository: repo(), backup: 'latest', target: both(), clean: false }, signal());
      expect(r.outcome?.rows).toBe(manifest.objects.reduce((n, o) => n + (o.rows ?? 0), 0));
      expect(await snapshot(server.client, dbs.main)).toEqual(original.main);
      expect(await snapshot(server.client, dbs.second)).toEqual(original.second);
      // The content hash each collection's dump recorded is what the restored collection gives back (its
      // documents' bytes, as inserted). CongoDB keeps documents as JS objects (not their field order), so
      // there the collection holding a document of an order no JS object can hold differs.
      const session = await new MongodbConnector().connect(both(), 'backup');
      try {
        const digests = await session.contents!.digest({}, signal());
        expect(digests.map((d) => d.table).sort()).toEqual(manifest.objects.filter((o) => o.type !== 'view').map((o) => o.name).sort());
        for (const d of digests) {
          expect(byName[d.table]).toMatchObject({ rows: d.rows, contentHash: expect.stringMatching(/^[0-9a-f]{16}$/) });
          if (!server.congodb || d.table !== `${dbs.main}.types`) expect(d.hash, d.table).toBe(byName[d.table]!.contentHash);
        }
        await server.client.db(dbs.second).collection('things').updateOne({}, { $set: { changed: true } });
        const changed = await session.contents!.digest({ tables: [`${dbs.second}.things`] }, signal());
        expect(changed[0]!.rows).toBe(byName[`${dbs.second}.things`]!.rows);
        expect(changed[0]!.hash).not.toBe(byName[`${dbs.second}.things`]!.contentHash);
        await server.client.db(dbs.second).collection('things').updateOne({ changed: true }, { $unset: { changed: '' } });
      } finally {
        await session.close();
      }
      // Not only equal to what the server held: equal, type for type, to what the test wrote.
      const restored = (await server.client.db(dbs.main).collection('types').find({}, { raw: true }).toArray()) as unknown as Buffer[];
      const canonical = (d: unknown) => BSON.EJSON.stringify(d as Document, { relaxed: false });
      const got = new Map(restored.map((b) => BSON.deserialize(b, EXACT)).map((d) => [canonical(d._id), canonical(d)]));
      for (const doc of typedDocuments()) expect(got.get(canonical(doc._id))).toBe(canonical(doc));
      // Field order that no JS object can hold survives on a real server (CongoDB stores JS objects, so it cannot keep it).
      const ordered = restored.find((b) => BSON.deserialize(b)._id === 'ordered')!;
      if (!server.congodb) expect(ordered.equals(orderedRawDocument())).toBe(true);
    });

    it('verify --deep: restores a one-database backup into a scratch database, checks every collection by count and content hash, drops it', async () => {
      const out = join(dir.path, 'deep');
      const { manifest } = await app.runBackup.execute({ target: target({ database: dbs.second }), repository: out, kind: 'full', compression: { codec: 'zstd' }, parallel: 2 }, signal());
      const scratchDbs = async () => (await server.client.db('admin').admin().listDatabases()).databases.map((d) => d.name).filter((n) => n.startsWith('dbbackup_verify_'));
      const ok = await app.verifyRestore.execute({ repository: out, manifest, scratch: { url: server.url } }, signal());
      expect(ok.tables.map((t) => t.table)).toContain(`${dbs.second}.things`);
      for (const t of ok.tables) expect(t).toMatchObject({ ok: true, rows: t.expectedRows, hash: t.expectedHash, expectedHash: expect.stringMatching(/^[0-9a-f]{16}$/) });
      expect(await scratchDbs()).toEqual([]);
      // A backup whose recorded hash is of other contents fails naming the collection; the scratch still goes.
      const edited = structuredClone(manifest);
      edited.objects.find((o) => o.name === `${dbs.second}.things`)!.contentHash = '0123456789abcdef';
      await expect(app.verifyRestore.execute({ repository: out, manifest: edited, scratch: { url: server.url } }, signal())).rejects.toMatchObject({
        code: 'E_DIFFERENT',
        message: expect.stringContaining(`${dbs.second}.things holds other contents (hash ${ok.tables.find((t) => t.table === `${dbs.second}.things`)!.hash}, the backup recorded 0123456789abcdef)`),
      });
      expect(await scratchDbs()).toEqual([]);
    });

    it('writes mongodump files: raw BSON exactly as the server returned it, and metadata.json', async () => {
      const out = join(dir.path, 'plain');
      const { manifest } = await app.runBackup.execute(
        { target: target({ database: dbs.main }), repository: out, kind: 'full', compression: { codec: 'none' }, parallel: 2, tables: ['types', 'we ird/na%me.x', 'view_a', 'ts'] },
        signal(),
      );
      const folder = join(out, manifest.source, manifest.id, 'data', dbs.main);
      expect((await readdir(folder)).sort()).toEqual(
        ['system.buckets.ts.bson', 'ts.metadata.json', 'types.bson', 'types.metadata.json', 'view_a.metadata.json', 'we%20ird%2Fna%25me.x.bson', 'we%20ird%2Fna%25me.x.metadata.json'].sort(),
      );
      const served = (await server.client.db(dbs.main).collection('types').find({}, { raw: true }).toArray()) as unknown as Buffer[];
      expect((await readFile(join(folder, 'types.bson'))).equals(Buffer.concat(served))).toBe(true);
      const metaText = await readFile(join(folder, 'types.metadata.json'), 'utf8');
      const meta = JSON.parse(metaText) as Record<string, unknown>;
      expect(Object.keys(meta)).toEqual(expect.arrayContaining(['indexes', 'collectionName', 'type']));
      expect(meta).toMatchObject({ collectionName: 'types', type: 'collection' });
      const listed = (await server.client.db(dbs.main).collection('types').listIndexes({ ...EXACT }).toArray()) as Document[];
      expect(BSON.EJSON.parse(metaText, { relaxed: false }).indexes).toEqual(listed);
      expect(metaText).toContain('{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"');
      const view = JSON.parse(await readFile(join(folder, 'view_a.metadata.json'), 'utf8')) as Record<string, unknown>;
      expect(view).toMatchObject({ options: { viewOn: 'types' }, indexes: [], type: 'view' });
      expect(JSON.parse(await readFile(join(folder, 'ts.metadata.json'), 'utf8'))).toMatchObject({ type: 'timeseries', options: { timeseries: { timeField: 't' } } });
    });

    it('restores chosen collections under another database name, indexes included', async () => {
      const r = await app.restoreBackup.execute(
        { repository: repo(), backup: 'latest', target: target({ database: dbs.main, options: { targetDatabase: dbs.copy } }), tables: ['types', `${dbs.main}.capped`, 'view_a'], clean: false },
        signal(),
      );
      expect(r.outcome?.objects.sort()).toEqual([`${dbs.copy}.capped`, `${dbs.copy}.types`, `${dbs.copy}.view_a`]);
      const copy = await snapshot(server.client, dbs.copy);
      expect(Object.keys(copy).sort()).toEqual(['capped', 'types', 'view_a']);
      for (const name of ['capped', 'types', 'view_a']) expect(copy[name]).toEqual(original.main![name]);
    });

    it('refuses a non-empty target unless --drop, previews without changing anything, then replaces', async () => {
      const again = () => app.restoreBackup.execute({ repository: repo(), backup: 'latest', target: both(), clean: false }, signal());
      await expect(again()).rejects.toMatchObject({ code: 'E_TARGET_EXISTS' });
      await anyDb(server.client, dbs.main).collection('types').insertOne({ _id: 'extra' });
      const preview = await app.restoreBackup.execute({ repository: repo(), backup: 'latest', target: both(), clean: true, dryRun: true }, signal());
      expect(preview.dryRun).toBe(true);
      expect(preview.plan.effect).toBe('replace');
      expect(preview.plan.items.find((i) => i.object === `${dbs.main}.types`)?.action).toBe('replace');
      expect(await anyDb(server.client, dbs.main).collection('types').countDocuments({ _id: 'extra' } as Document)).toBe(1);
      await app.restoreBackup.execute({ repository: repo(), backup: 'latest', target: both(), clean: true }, signal());
      expect(await snapshot(server.client, dbs.main)).toEqual(original.main);
    });

    it('refuses collection names that match nothing', async () => {
      await expect(
        app.runBackup.execute({ target: both(), repository: repo(), kind: 'full', compression: { codec: 'zstd' }, parallel: 1, tables: ['nope'] }, signal()),
      ).rejects.toMatchObject({ code: 'E_USAGE' });
    });

    it('reports documents the server refuses (duplicate _id) and restores the rest', async () => {
      const docs = [{ _id: new Int32(1), a: 1 }, { _id: new Int32(1), a: 2 }, { _id: new Int32(2) }, { _id: new Int32(2) }].map((d) => Buffer.from(BSON.serialize(d)));
      const session = await new MongodbConnector().connect(target({ database: dbs.copy }));
      const part = (name: string, role: PartEntry['role'], body: Buffer): [PartEntry, Buffer] => [
        { name, role, object: `${dbs.copy}.dups`, codecs: [], rawSize: body.length, storedSize: body.length, rawSha256: '0'.repeat(64), sha256: '0'.repeat(64) },
        body,
      ];
      const files = [part(`data/${dbs.copy}/dups.bson`, 'data', Buffer.concat(docs)), part(`data/${dbs.copy}/dups.metadata.json`, 'schema', Buffer.from('{"indexes":[],"collectionName":"dups","type":"collection"}'))];
      const manifest = { id: 'crafted', objects: [{ name: `${dbs.copy}.dups`, type: 'collection', rows: 4 }], parts: files.map(([p]) => p) } as unknown as Manifest;
      const parts: PartSource = { manifest, open: async (p) => Readable.from([files.find(([f]) => f.name === p.name)![1]]) };
      try {
        const failure = await session.restore(parts, { tables: ['dups'], clean: false }, signal()).then(() => undefined, (e: unknown) => e);
        expect(failure).toMatchObject({ code: 'E_PARTIAL' });
        expect((failure as Error).message).toMatch(/dups: 2 document\(s\) refused, DuplicateKey \(11000\)/);
        expect((failure as Error).message).toContain('_id {"$numberInt":"1"}');
        expect(await server.client.db(dbs.copy).collection('dups').countDocuments()).toBe(2);
      } finally {
        await session.close();
      }
    });
  });
}
