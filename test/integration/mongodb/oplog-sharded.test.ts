import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BSON, type Document, Timestamp } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongodbConnector } from '../../../src/adapters/connectors/mongodb/mongodb-connector.js';
import { appServices, type AppServices, buildContainer } from '../../../src/bootstrap/container.js';
import type { ConnectionTarget } from '../../../src/application/ports/connection-target.js';
import type { Manifest } from '../../../src/domain/manifest.js';
import { type CongoHandle, startCongo } from '../../helpers/congodb.js';
import type { RecordedCluster, RecordedOplog } from '../../helpers/congodb-oplog.js';
import { tempDir } from '../../helpers/temp.js';
import { jsonEntries, PBM, txnCases } from '../../helpers/oplog-fixtures.js';

/**
 * Incrementals of a sharded cluster through a mongos, and their point-in-time restore, against
 * doubles only (no mongod, let alone a sharded cluster, can run here; README says so): a mongos
 * double (CongoDB answering as a router: isdbgrid, listShards, balancerStatus, snapshot reads) and
 * one CongoDB per shard answering as its replica set's primary, each serving its own oplog.
 *
 * The entries are PBM's recorded ones (pbm/oplog/testdata/oplog_test.json: mydb.c5 create, insert,
 * $v:2 update; ops_i_u_d.json: insert and $v:2 update of mydb.c1), RE-STAMPED onto one cluster
 * timeline (ts and wall changed, nothing else) so that the two shards' logs interleave. The chunk
 * migration entry is one of those inserts with `fromMigrate: true` added (the flag a recipient
 * shard sets, see mongodb/mongo jstests/sharding/migration_sets_fromMigrate_flag.js): no recorded
 * migration entry is public.
 */
const signal = () => new AbortController().signal;
const B = 1730733000;
const c5 = jsonEntries(`${PBM}oplog_test.json`);
const iud = jsonEntries(`${PBM}ops_i_u_d.json`);
const at = (raw: Buffer, t: number, extra: Document = {}) => {
  const doc = { ...BSON.deserialize(raw, { promoteValues: false, bsonRegExp: true }), ...extra, ts: new Timestamp({ t: B + t, i: 1 }), wall: new Date((B + t) * 1000) };
  return Buffer.from(BSON.serialize(doc));
};
const noop = (t: number) => Buffer.from(BSON.serialize({ op: 'n', ns: '', o: { msg: 'periodic noop' }, ts: new Timestamp({ t: B + t, i: 1 }), t: BSON.Long.fromNumber(1), wall: new Date((B + t) * 1000) }));
const time = (t: number) => ({ t: B + t, i: 1 });

// Shard A: the primary shard of mydb (c5 created there); shard B holds c1's chunks.
const migrated = at(iud[0]!, 35, { fromMigrate: true, o: { _id: 'moved-in', person: 'migrated' }, o2: { _id: 'moved-in' } });
const shardA = [noop(5), at(c5[0]!, 20), at(c5[1]!, 40), migrated, at(c5[2]!, 60)].sort((x, y) => BSON.deserialize(x).ts.compare(BSON.deserialize(y).ts));
const shardB = [noop(8), at(iud[0]!, 30), at(iud[1]!, 60), noop(70)];

describe('MongoDB incrementals of a sharded cluster through mongos (doubles: a mongos and two shards)', () => {
  const rsA: RecordedOplog = { name: 'rsA', entries: [...shardA] };
  const rsB: RecordedOplog = { name: 'rsB', entries: [...shardB] };
  const cluster: RecordedCluster = { shards: [], balancer: 'full', clusterTime: time(10) };
  let shards: CongoHandle[] = [];
  let mongos: CongoHandle;
  let target: CongoHandle;
  let dir: { path: string; cleanup(): Promise<void> };
  let app: AppServices;
  const repo = () => join(dir.path, 'repo');
  const source = (): ConnectionTarget => ({ engine: 'mongodb', url: mongos.url(), database: 'mydb' });
  const into = (db: string): ConnectionTarget => ({ engine: 'mongodb', url: target.url(), options: { targetDatabase: db } });
  const backup = (kind: 'full' | 'incremental') => app.runBackup.execute({ target: source(), repository: repo(), kind, compression: { codec: 'none' }, parallel: 2 }, signal()).then((r) => r.manifest);
  const stored = (m: Manifest, name: string) => readFile(join(repo(), m.source, m.id, m.parts.find((p) => p.name.startsWith(name))!.name));
  let full: Manifest;
  let incr: Manifest;

  beforeAll(async () => {
    shards = [await startCongo({ replicaSet: rsA }), await startCongo({ replicaSet: rsB })];
    cluster.shards = [
      { id: 'shardA', rs: rsA, port: shards[0]!.port },
      { id: 'shardB', rs: rsB, port: shards[1]!.port },
    ];
    mongos = await startCongo({ mongos: cluster });
    target = await startCongo();
    dir = await tempDir('dbb-oplog-sh-');
    app = appServices(buildContainer({ dataDir: join(dir.path, 'data'), logLevel: 'error', json: false, progress: false, toolVersion: 'test' }));
    await mongos.client.db('mydb').collection<{ _id: number; v: string }>('seed').insertMany([{ _id: 1, v: 'a' }, { _id: 2, v: 'b' }]);
  });
  afterAll(async () => {
    for (const h of [mongos, target, ...shards]) await h?.stop();
    app?.close();
    await dir?.cleanup();
  });

  it('a full through the mongos records the snapshot cluster time, the shards and the balancer (and warns that it runs)', async () => {
    full = await backup('full');
    expect(full.logPosition).toMatchObject({ clusterTime: time(10), snapshot: true });
    expect(full.engineInfo).toMatchObject({ topology: 'sharded', shards: [{ id: 'shardA', replicaSet: 'rsA' }, { id: 'shardB', replicaSet: 'rsB' }], balancer: { mode: 'full', stopped: false } });
    expect(full.warnings.join(' ')).toMatch(/balancer was not stopped/);
  });

  it('an incremental tails each shard\'s oplog into a part of its own, all up to one cluster time: the oldest of the shards\' newest entries', async () => {
    cluster.balancer = 'off';
    incr = await backup('incremental');
    expect(incr.parent).toBe(full.id);
    // Shard B's newest entry (70) is after shard A's (60): the link ends at 60 on both; 70 waits for the next.
    expect(incr.logPosition).toEqual({ clusterTime: time(60), shards: { shardA: time(60), shardB: time(60) } });
    expect((await stored(incr, 'changes/shards/shardA/oplog.bson')).equals(Buffer.concat(shardA.slice(1)))).toBe(true);
    expect((await stored(incr, 'changes/shards/shardB/oplog.bson')).equals(Buffer.concat(shardB.slice(1, 3)))).toBe(true);
    expect(incr.parts.some((p) => p.name.startsWith('changes/oplog.bson'))).toBe(false);
    const index = JSON.parse((await stored(incr, 'changes/oplog-index.json')).toString('utf8')) as Record<string, any>;
    // The window the cluster's oplogs can replay is the intersection of the shards' windows.
    expect(index.window).toEqual({ oldest: time(8), newest: time(60) });
    expect(index).toMatchObject({ from: time(10), to: time(60), first: time(20), last: time(60), entries: 6 });
    expect(index.shards).toMatchObject({ shardA: { replicaSet: 'rsA', entries: 4, oldest: time(5), newest: time(60) }, shardB: { replicaSet: 'rsB', entries: 2, oldest: time(8), newest: time(70) } });
    expect(incr.engineInfo).toMatchObject({ topology: 'sharded', balancer: { mode: 'off', stopped: true } });
    expect(incr.warnings.join(' ')).not.toMatch(/balancer/);
  });

  it('restore --at stops every shard at the same cluster time, replays in cluster-time order, and skips the migration\'s entries', async () => {
    await app.restoreBackup.execute({ repository: repo(), backup: 'latest', at: new Date((B + 45) * 1000), target: into('at45'), clean: false }, signal());
    const db = target.client.db('at45');
    expect(await db.collection('c5').find({}, { projection: { _id: 0 } }).toArray()).toEqual([{ person: 'jure', age: 37 }]);
    // Shard B's insert (30) is in, its update (60) is not; the migrated document (fromMigrate, 35) never is.
    expect(await db.collection('c1').find({}, { projection: { _id: 0 } }).toArray()).toEqual([{ person: 'jure', age: 37 }]);
    expect(await db.collection('seed').countDocuments()).toBe(2);
  });

  it('restore of the latest state applies both shards\' entries up to the link\'s end', async () => {
    await app.restoreBackup.execute({ repository: repo(), backup: 'latest', target: into('latest'), clean: false }, signal());
    const db = target.client.db('latest');
    expect(await db.collection('c5').find({}, { projection: { _id: 0 } }).toArray()).toEqual([{ person: 'jure', age: 37, city: 'split' }]);
    expect(await db.collection('c1').find({}, { projection: { _id: 0 } }).toArray()).toEqual([{ person: 'jure', age: 37, city: 'split' }]);
  });

  it('doctor on the mongos reports the intersection of the shards\' oplog windows', async () => {
    const findings = await new MongodbConnector().diagnose(source(), { subject: 'source m', incremental: true });
    expect(findings.find((f) => f.check === 'oplog')).toMatchObject({
      status: 'ok',
      message: expect.stringContaining(`(the intersection of 2 shards' windows) (${new Date((B + 8) * 1000).toISOString()} … ${new Date((B + 60) * 1000).toISOString()})`),
    });
  });

  it('a cross-shard transaction: each shard\'s prepared part is held until the commit (one time on every shard), then applied whole', async () => {
    // mongo-tools' recorded "large, prepared, committed" (common/txn/testdata/oplog_entries.json),
    // split across the shards: its ops moved to mydb.g, re-stamped, the middle part made shard B's prepare.
    const g = txnCases().find((t) => t.name === 'large, prepared, committed')!;
    const part = (k: number, t: number, extra: Document = {}) => {
      const doc = BSON.deserialize(g.ops[k]!, { promoteValues: false, bsonRegExp: true });
      const o = { ...doc.o, ...extra };
      if (Array.isArray(o.applyOps)) o.applyOps = (o.applyOps as Document[]).map((op) => ({ ...op, ns: 'mydb.g' }));
      return at(Buffer.from(BSON.serialize({ ...doc, o })), t);
    };
    const { partialTxn: _p, ...middle } = BSON.deserialize(g.ops[1]!, { promoteValues: false }).o as Document;
    rsA.entries.push(part(0, 62), part(2, 64), part(3, 66));
    rsB.entries.splice(rsB.entries.length - 1, 0, part(1, 63, { ...middle, prepare: true }), part(3, 66));
    const link = await backup('incremental');
    expect(link.logPosition).toEqual({ clusterTime: time(66), shards: { shardA: time(66), shardB: time(66) } });
    await app.restoreBackup.execute({ repository: repo(), backup: 'latest', at: new Date((B + 65) * 1000), target: into('txn65'), clean: false }, signal());
    expect(await target.client.db('txn65').collection('g').countDocuments()).toBe(0);
    await app.restoreBackup.execute({ repository: repo(), backup: 'latest', target: into('txn'), clean: false }, signal());
    expect(await target.client.db('txn').collection('g').find({}).sort({ _id: 1 }).toArray()).toEqual(g.postimage);
  });

  it('replicate from a mongos is refused, saying what works instead', async () => {
    const session = await new MongodbConnector().connect(source(), 'backup');
    try {
      await expect(session.continuous!.start(undefined, undefined, signal())).rejects.toMatchObject({ code: 'E_UNSUPPORTED', message: expect.stringMatching(/backup --type incremental.*`replicate` of a sharded cluster is not supported yet/) });
    } finally {
      await session.close();
    }
  });

  it('a shard whose oplog rolled past the parent\'s end ends the chain with E_OPLOG_ROLLED naming the shard', async () => {
    rsB.entries.splice(0, rsB.entries.length, noop(80), noop(90));
    rsA.entries.push(noop(90));
    await expect(backup('incremental')).rejects.toMatchObject({ code: 'E_OPLOG_ROLLED', message: expect.stringMatching(/Shard "shardB": its oplog starts/) });
  });

});
