import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type Document, type MongoClient, type Timestamp } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterOplogWindow } from '../../../src/adapters/connectors/mongodb/mongodb-oplog-shards.js';
import { resolveEndpoint } from '../../../src/adapters/connectors/mongodb/mongodb-endpoint.js';
import { appServices, type AppServices, buildContainer } from '../../../src/bootstrap/container.js';
import { tempDir } from '../../helpers/temp.js';
import { snapshot } from './fixtures.js';

const signal = () => new AbortController().signal;

/**
 * Point-in-time restores of a real sharded cluster through its mongos (MONGODB_SHARDED_URI; never run
 * on our CI, where no mongod can run — written for whoever has a cluster). A hashed-sharded
 * collection spreads its documents over the shards; inserts, updates, deletes and a cross-shard
 * transaction run between a full and an incremental, and the state after each step is recorded
 * with the cluster time of the mongos; restores at those instants (cut at the cluster time's
 * second, as a sharded restore cuts) must hold exactly those documents. Options and indexes are
 * not compared: a restored collection is not sharded.
 */
export function mongoShardedPitrSuite(label: string, connect: () => Promise<{ url: string; client: MongoClient; stop(): Promise<void> }>): void {
  describe(label, () => {
    const run = `dbb${randomBytes(3).toString('hex')}`;
    const src = `${run}_shpitr`;
    let url: string;
    let client: MongoClient;
    let stop: () => Promise<void>;
    let dir: { path: string; cleanup(): Promise<void> };
    let app: AppServices;
    const points: { at: Date; t: number; docs: Record<string, unknown> }[] = [];
    const made: string[] = [src];
    const repo = () => join(dir.path, 'repo');
    const backup = (kind: 'full' | 'incremental') =>
      app.runBackup.execute({ target: { engine: 'mongodb', url, database: src }, repository: repo(), kind, compression: { codec: 'none' }, parallel: 2 }, signal()).then((r) => r.manifest);
    const clusterTime = async () => ((await client.db('admin').command({ hello: 1 })) as Document).$clusterTime.clusterTime as Timestamp;
    const documents = async (db: string) => Object.fromEntries(Object.entries(await snapshot(client, db)).map(([name, s]) => [name, { count: s.count, hash: s.hash }]));

    /** Records the state at the cluster time now, then waits (on the server's clock) until that second is over. */
    async function mark(): Promise<void> {
      const t = (await clusterTime()).t;
      points.push({ at: new Date(t * 1000 + 999), t, docs: await documents(src) });
      while (((await client.db('admin').command({ hello: 1 })).localTime as Date).getTime() < (t + 1) * 1000 + 50) await new Promise((r) => setTimeout(r, 20));
    }

    beforeAll(async () => {
      ({ url, client, stop } = await connect());
      const hello = (await client.db('admin').command({ hello: 1 })) as Document;
      if (hello.msg !== 'isdbgrid') throw new Error('MONGODB_SHARDED_URI must name a mongos.');
      dir = await tempDir('dbb-oplog-shreal-');
      app = appServices(buildContainer({ dataDir: join(dir.path, 'data'), logLevel: 'error', json: false, progress: false, toolVersion: 'test' }));
      await client.db('admin').command({ enableSharding: src }).catch(() => undefined); // implicit from 6.0
      await client.db('admin').command({ shardCollection: `${src}.people`, key: { _id: 'hashed' } });
      await client.db(src).collection<{ _id: number; name: string; n: number }>('people').insertMany(Array.from({ length: 200 }, (_, i) => ({ _id: i, name: `p${i}`, n: i })));
    });

    afterAll(async () => {
      for (const db of made) await client?.db(db).dropDatabase().catch(() => undefined);
      await stop?.();
      app?.close();
      await dir?.cleanup();
    });

    it('a full and an incremental through the mongos: one oplog part per shard, all up to one cluster time', async () => {
      const full = await backup('full');
      expect(full.engineInfo).toMatchObject({ topology: 'sharded' });
      const shards = (full.engineInfo.shards as { id: string }[]).map((s) => s.id);
      await mark();
      const people = client.db(src).collection<{ _id: number; name?: string; n: number; touched?: boolean }>('people');
      await people.updateMany({ n: { $lt: 50 } }, { $set: { touched: true } });
      await people.deleteMany({ n: { $gte: 150 } });
      await mark();
      const session = client.startSession();
      try {
        await session.withTransaction(async () => {
          for (let i = 50; i < 60; i++) await people.updateOne({ _id: i }, { $inc: { n: 1000 } }, { session });
        });
      } finally {
        await session.endSession();
      }
      await mark();
      // Every shard's newest entry must pass the last mark (an idle primary writes a no-op every 10 s).
      const endpoint = resolveEndpoint({ engine: 'mongodb', url });
      while ((await clusterOplogWindow(client, endpoint)).newest.t <= points.at(-1)!.t) await new Promise((r) => setTimeout(r, 500));
      const incr = await backup('incremental');
      expect(incr.parts.filter((p) => p.name.startsWith('changes/shards/')).map((p) => p.name.split('/')[2]).sort()).toEqual([...shards].sort());
    });

    it('restores every recorded instant exactly (the documents), each shard cut at the same cluster time', async () => {
      for (const [i, p] of points.entries()) {
        const into = `${run}_sh${i}`;
        made.push(into);
        await app.restoreBackup.execute({ repository: repo(), backup: 'latest', at: p.at, target: { engine: 'mongodb', url, options: { targetDatabase: into } }, clean: false }, signal());
        expect(await documents(into), `state at point ${i} (${p.at.toISOString()})`).toEqual(p.docs);
      }
    });
  });
}
