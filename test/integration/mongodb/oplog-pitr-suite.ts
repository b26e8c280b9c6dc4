import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BSON, type Document, type MongoClient, Timestamp } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appServices, type AppServices, buildContainer } from '../../../src/bootstrap/container.js';
import { tempDir } from '../../helpers/temp.js';
import { anyDb, type CollectionSnapshot, snapshot } from './fixtures.js';

const signal = () => new AbortController().signal;
interface Person {
  _id: number | string;
  name?: string;
  nick?: string;
  tags?: string[];
  address?: { city: string; zip: number };
  replaced?: boolean;
  total?: number;
}

/**
 * Point-in-time restores from the oplog against a real replica set (the MONGODB_URI suite; the
 * CongoDB suites cannot run it: it has no oplog). Writes of every kind a real mongod logs run
 * between backups — inserts, $v:2 updates (nested $set, $unset, array growth and shrink), a
 * multi-collection transaction, index builds and drops, collMod, a rename, a drop — and the state
 * after each step is recorded with the oplog time of its last entry; restores at those instants
 * must hold exactly that state (documents byte for byte, options, indexes).
 */
export function mongoOplogPitrSuite(label: string, connect: () => Promise<{ url: string; client: MongoClient; stop(): Promise<void> }>): void {
  describe(label, () => {
    const run = `dbb${randomBytes(3).toString('hex')}`;
    const src = `${run}_pitr`;
    let url: string;
    let client: MongoClient;
    let stop: () => Promise<void>;
    let dir: { path: string; cleanup(): Promise<void> };
    let app: AppServices;
    const points: { at: Date; state: Record<string, CollectionSnapshot> }[] = [];
    const made: string[] = [src];
    const repo = () => join(dir.path, 'repo');
    const backup = (kind: 'full' | 'incremental' | 'differential') =>
      app.runBackup.execute({ target: { engine: 'mongodb', url, database: src }, repository: repo(), kind, compression: { codec: 'none' }, parallel: 2 }, signal()).then((r) => r.manifest);

    /** The wall time of the newest oplog entry: the instant the state now is the state at. */
    async function mark(): Promise<void> {
      await client.db(src).command({ ping: 1 });
      const last = (await client.db('local').collection('oplog.rs').find({}, { sort: { $natural: -1 }, limit: 1 }).next()) as Document;
      points.push({ at: last.wall as Date, state: await snapshot(client, src) });
      // The next write must be at a later millisecond than this mark, by the server's clock.
      const until = (last.wall as Date).getTime() + 2;
      while (((await client.db('admin').command({ hello: 1 })).localTime as Date).getTime() < until) await new Promise((r) => setTimeout(r, 1));
    }

    beforeAll(async () => {
      ({ url, client, stop } = await connect());
      const hello = (await client.db('admin').command({ hello: 1 })) as Document;
      if (typeof hello.setName !== 'string') throw new Error('The MONGODB_URI oplog suite needs a replica set member (a single-node replica set is enough).');
      dir = await tempDir('dbb-oplog-real-');
      app = appServices(buildContainer({ dataDir: join(dir.path, 'data'), logLevel: 'error', json: false, progress: false, toolVersion: 'test' }));
      const db = anyDb(client, src);
      await db.collection('people').insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: i, name: `p${i}`, tags: ['a', 'b', 'c'], address: { city: 'x', zip: i } })));
      await db.collection('orders').insertOne({ _id: 'o1', total: 1 });
    });

    afterAll(async () => {
      for (const db of made) await client?.db(db).dropDatabase().catch(() => undefined);
      await stop?.();
      app?.close();
      await dir?.cleanup();
    });

    it('records the changes after a full in incrementals and a differential, raw as local.oplog.rs holds them', async () => {
      const full = await backup('full');
      expect(full.logPosition).toMatchObject({ snapshot: true });
      await mark();
      const db = { collection: (n: string) => client.db(src).collection<Person>(n), command: (c: Document) => client.db(src).command(c), raw: client.db(src) };
      await db.collection('people').updateOne({ _id: 1 }, { $set: { 'address.city': 'y', nick: 'one' }, $unset: { name: '' } });
      await db.collection('people').updateOne({ _id: 2 }, { $push: { tags: 'd' } });
      await db.collection('people').updateOne({ _id: 3 }, { $pop: { tags: 1 } });
      await db.collection('people').replaceOne({ _id: 4 }, { replaced: true });
      await db.collection('people').deleteMany({ _id: { $gte: 15 } });
      await mark();
      const session = client.startSession();
      try {
        await session.withTransaction(async () => {
          await db.collection('orders').insertOne({ _id: 'o2', total: 2 }, { session });
          await db.collection('people').updateOne({ _id: 5 }, { $inc: { 'address.zip': 100 } }, { session });
        });
      } finally {
        await session.endSession();
      }
      await mark();
      const incr1 = await backup('incremental');
      await db.collection('people').createIndex({ name: 1 }, { name: 'by_name' });
      await db.command({ collMod: 'people', index: { name: 'by_name', hidden: true } });
      await db.raw.renameCollection('orders', 'orders_v2');
      await mark();
      await db.collection('people').dropIndex('by_name');
      await db.collection('scratch').insertOne({ _id: 1 });
      await db.raw.dropCollection('scratch');
      await mark();
      const incr2 = await backup('incremental');
      expect(incr2.parent).toBe(incr1.id);
      const diff = await backup('differential');
      expect(diff.parent).toBe(full.id);
      // The link's oplog part is the server's entries for the database, byte for byte.
      const from = incr1.logPosition!.clusterTime as { t: number; i: number };
      const to = incr2.logPosition!.clusterTime as { t: number; i: number };
      const server = (await client
        .db('local')
        .collection('oplog.rs')
        .find({ ts: { $gt: new Timestamp(from), $lte: new Timestamp(to) }, $or: [{ ns: { $regex: `^${src}\\.` } }, { ns: 'admin.$cmd' }] }, { raw: true, sort: { $natural: 1 } })
        .toArray()) as unknown as Buffer[];
      const stored = await readFile(join(repo(), incr2.source, incr2.id, incr2.parts.find((p) => p.name.startsWith('changes/oplog.bson'))!.name));
      expect(stored.equals(Buffer.concat(server))).toBe(true);
      expect(BSON.deserialize(server.at(-1)!).ts).toBeDefined();
    });

    it('restores every recorded instant exactly, through the incrementals and through the differential', async () => {
      for (const [i, p] of points.entries()) {
        const into = `${run}_at${i}`;
        made.push(into);
        await app.restoreBackup.execute({ repository: repo(), backup: 'latest', at: p.at, target: { engine: 'mongodb', url, options: { targetDatabase: into } }, clean: false }, signal());
        expect(await snapshot(client, into), `state at point ${i} (${p.at.toISOString()})`).toEqual(p.state);
      }
    });

    it('restores chosen collections of a chain (--collections): only their entries are replayed', async () => {
      const into = `${run}_people`;
      made.push(into);
      const last = points.at(-1)!;
      await app.restoreBackup.execute({ repository: repo(), backup: 'latest', tables: [`${src}.people`], target: { engine: 'mongodb', url, options: { targetDatabase: into } }, clean: false }, signal());
      const got = await snapshot(client, into);
      expect(Object.keys(got)).toEqual(['people']);
      expect(got.people).toEqual(last.state.people);
    });
  });
}
