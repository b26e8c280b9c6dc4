import { BSON, type Document, type MongoClient, Timestamp } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongodbConnector } from '../../../src/adapters/connectors/mongodb/mongodb-connector.js';
import type { DatabaseSession } from '../../../src/application/ports/database-session.js';
import { type CongoHandle, startCongo } from '../../helpers/congodb.js';
import { bsonEntries, jsonEntries, MONGO_TOOLS, oplogLink, PBM, txnCases, wallOf } from '../../helpers/oplog-fixtures.js';

/**
 * The oplog replay (restore of an incremental, `restore --at`) on entries recorded from real
 * servers (test/fixtures/oplog/README.md), applied to CongoDB. Each case says which file it reads.
 * The target database is always renamed (--target-database), so the renaming is exercised too.
 */
const signal = () => new AbortController().signal;
const byId = (docs: Document[]) => [...docs].sort((a, b) => (String(a._id) < String(b._id) ? -1 : String(a._id) > String(b._id) ? 1 : 0));

describe('MongoDB oplog replay on recorded entries', () => {
  let congo: CongoHandle;
  let client: MongoClient;
  let n = 0;
  const sessions: DatabaseSession[] = [];

  /** A session restoring into a fresh database (the entries' database `from` renamed to it). */
  async function replay(from: string, entries: Buffer[], at?: Date, extra: Record<string, unknown> = {}) {
    const target = `replay${++n}`;
    const session = await new MongodbConnector().connect({ engine: 'mongodb', url: congo.url(), options: { targetDatabase: target, ...extra } });
    sessions.push(session);
    const link = oplogLink(entries, { engineInfo: { databases: [from] } });
    const outcome = await session.changes!.applyChanges(link, at ? { time: at } : undefined, signal());
    return { target, outcome, db: client.db(target) };
  }

  beforeAll(async () => {
    congo = await startCongo();
    client = congo.client;
  });
  afterAll(async () => {
    for (const s of sessions) await s.close();
    await congo?.stop();
  });

  // mongo-tools common/txn/testdata/oplog_entries.json: transactions (unprepared, prepared, large
  // across several entries, committed and aborted), applyOps outside transactions, retryable writes.
  for (const c of txnCases().filter((t) => t.postimage !== null)) {
    it(`mongo-tools txn case "${c.name}": the collection ends as the recorded post-image`, async () => {
      const [db, coll] = [c.ns.slice(0, c.ns.indexOf('.')), c.ns.slice(c.ns.indexOf('.') + 1)];
      const r = await replay(db, c.ops);
      const docs = await r.db.collection(coll).find({}, { projection: {} }).toArray();
      expect(byId(docs)).toEqual(byId(c.postimage!));
      expect(await client.db(db).collection(coll).countDocuments()).toBe(0); // nothing written under the old name
    });
  }

  it('mongo-tools txn case "not transaction with lsid and txnNumber and command": the createIndexes entry builds the index', async () => {
    const c = txnCases().find((t) => t.name === 'not transaction with lsid and txnNumber and command')!;
    const r = await replay('txntest', c.ops);
    const names = (await r.db.collection('k').listIndexes().toArray()).map((i) => i.name);
    expect(names).toContain('x_1');
  });

  it('percona oplog_test.json: create, insert, $v:2 update, delete and drop, stopping at each entry with --at', async () => {
    const entries = jsonEntries(`${PBM}oplog_test.json`);
    const at = entries.map(wallOf);
    const afterInsert = await replay('mydb', entries, at[1]);
    expect(await afterInsert.db.collection('c5').find().toArray()).toEqual([expect.objectContaining({ person: 'jure', age: 37 })]);
    expect(afterInsert.outcome.point).toBe(at[1]!.toISOString());
    const afterUpdate = await replay('mydb', entries, at[2]);
    expect(await afterUpdate.db.collection('c5').find({}, { projection: { _id: 0 } }).toArray()).toEqual([{ person: 'jure', age: 37, city: 'split' }]);
    const afterDelete = await replay('mydb', entries, at[3]);
    expect(await afterDelete.db.collection('c5').countDocuments()).toBe(0);
    expect((await afterDelete.db.listCollections().toArray()).map((c) => c.name)).toContain('c5');
    const all = await replay('mydb', entries);
    expect((await all.db.listCollections().toArray()).map((c) => c.name)).not.toContain('c5');
    // Before the first entry: nothing replayed.
    const none = await replay('mydb', entries, new Date(at[0]!.getTime() - 1));
    expect(none.outcome.rows).toBe(0);
    expect((await none.db.listCollections().toArray()).length).toBe(0);
  });

  it('percona ops_admin_databases.json: config.* entries are skipped, the user database\'s applied', async () => {
    const entries = jsonEntries(`${PBM}ops_admin_databases.json`);
    const r = await replay('mydb', entries);
    expect(await r.db.collection('collection1').find({}, { projection: { _id: 0 } }).toArray()).toEqual([{ field1: 'value1' }]);
    expect(await client.db('config').collection('databases').countDocuments()).toBe(0);
    // Even with config itself in scope, config.* is never replayed (as PBM).
    const own = await replay('config', entries, undefined, { targetDatabase: undefined });
    expect(own.outcome.rows).toBe(0);
  });

  it('mongo-tools oplog.json: DDL in order — create, index builds (start/abort skipped, commit built), collMod, dropIndexes, drop, dropDatabase', async () => {
    const entries = jsonEntries(`${MONGO_TOOLS}mongorestore/testdata/oplogs/oplog.json`);
    const at = entries.map(wallOf);
    // Up to the first commitIndexBuild: foo exists with f_1.
    const built = await replay('test2', entries, at[2]);
    expect((await built.db.collection('foo').listIndexes().toArray()).map((i) => i.name)).toContain('f_1');
    // Up to the createIndexes with expireAfterSeconds (entry 9): f_1 is back, with its TTL.
    const ttl = await replay('test2', entries, at[9]);
    const f1 = (await ttl.db.collection('foo').listIndexes().toArray()).find((i) => i.name === 'f_1');
    expect(f1?.expireAfterSeconds).toBe(1000);
    // The whole log: the database was dropped, bar created and dropped, foo created last with its index.
    const all = await replay('test2', entries);
    expect((await all.db.listCollections().toArray()).map((c) => c.name).sort()).toEqual(['foo']);
    expect((await all.db.collection('foo').listIndexes().toArray()).map((i) => i.name).sort()).toEqual(['_id_', 'f_1']);
  });

  it('mongorestore .bson files (raw bytes as mongodump wrote them): vectored and linked vectored inserts', async () => {
    const dir = `${MONGO_TOOLS}mongorestore/testdata/oplogs/bson/`;
    const vectored = bsonEntries(`${dir}vectored_insert.bson`);
    const r = await replay('mongodump_test_db', vectored);
    expect(byId(await r.db.collection('coll1').find().toArray())).toEqual([
      { _id: 100, a: 1 },
      { _id: 200, a: 2 },
    ]);
    const linked = bsonEntries(`${dir}linked_vectored_inserts.bson`);
    const l = await replay('mongodump_test_db', linked);
    expect(await l.db.collection('coll1').countDocuments()).toBeGreaterThan(0);
  });

  it('--collections: only the chosen collection\'s entries are replayed', async () => {
    const c = txnCases().find((t) => t.name === 'applyops not transaction')!;
    const target = `replay${++n}`;
    const session = await new MongodbConnector().connect({ engine: 'mongodb', url: congo.url(), options: { targetDatabase: target } });
    sessions.push(session);
    // A restore of the full chose txntest.other only: the link's entries for txntest.b are passed over.
    await client.db('txntest').collection('other').insertOne({ _id: 1 } as Document);
    const fullLike = oplogLink([], { kind: 'full', objects: [{ name: 'txntest.other', type: 'collection', rows: 0 }], engineInfo: { databases: ['txntest'] } });
    await session.restore(fullLike, { tables: ['txntest.other'], clean: true }, signal()).catch(() => undefined);
    const out = await session.changes!.applyChanges(oplogLink(c.ops, { engineInfo: { databases: ['txntest'] } }), undefined, signal());
    expect(out.rows).toBe(0);
    expect(await client.db(target).collection('b').countDocuments()).toBe(0);
    await client.db('txntest').dropDatabase();
  });

  it('a transaction split across two links (mongo-tools "large, unprepared") is applied whole at its commit in the second', async () => {
    const c = txnCases().find((t) => t.name === 'large, unprepared')!;
    const target = `replay${++n}`;
    const session = await new MongodbConnector().connect({ engine: 'mongodb', url: congo.url(), options: { targetDatabase: target } });
    sessions.push(session);
    const first = await session.changes!.applyChanges(oplogLink(c.ops.slice(0, 2), { engineInfo: { databases: ['txntest'] } }), undefined, signal());
    expect(first.rows).toBe(0);
    expect(await client.db(target).collection('d').countDocuments()).toBe(0);
    await session.changes!.applyChanges(oplogLink(c.ops.slice(2), { engineInfo: { databases: ['txntest'] } }), undefined, signal());
    expect(byId(await client.db(target).collection('d').find().toArray())).toEqual(byId(c.postimage!));
  });

  it('passes on only the options a backup may carry: a crafted create/createIndexes entry loses the rest, with a warning', async () => {
    const [create] = jsonEntries(`${PBM}oplog_test.json`).map((raw) => BSON.deserialize(raw, { promoteValues: false }));
    const crafted = { ...create!, o: { ...create!.o, capped: true, size: 4096, lockdown: true } };
    const index = { ...create!, ts: new Timestamp({ t: create!.ts.t, i: 9 }), o: { createIndexes: 'c5', v: 2, key: { a: 1 }, name: 'a_1', storageEngine: {}, runAs: 'root' } };
    const r = await replay('mydb', [Buffer.from(BSON.serialize(crafted)), Buffer.from(BSON.serialize(index))]);
    expect(r.outcome.warnings?.join(' ')).toMatch(/without lockdown[\s\S]*without runAs/);
    const info = (await r.db.listCollections({ name: 'c5' }).toArray())[0] as Document;
    expect(info.options).toMatchObject({ capped: true });
    expect(info.options).not.toHaveProperty('lockdown');
    expect((await r.db.collection('c5').listIndexes().toArray()).find((i) => i.name === 'a_1')).not.toHaveProperty('runAs');
  });

  it('refuses a damaged link: a cut entry (E_TRUNCATED) and entries out of order (E_FOREIGN_ARCHIVE)', async () => {
    const entries = jsonEntries(`${PBM}oplog_test.json`);
    const cut = [...entries.slice(0, 2), entries[2]!.subarray(0, 20)];
    await expect(replay('mydb', cut)).rejects.toMatchObject({ code: 'E_TRUNCATED' });
    await expect(replay('mydb', [entries[1]!, entries[0]!])).rejects.toMatchObject({ code: 'E_FOREIGN_ARCHIVE' });
  });
});
