import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BSON, type Document, Timestamp } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appServices, type AppServices, buildContainer } from '../../../src/bootstrap/container.js';
import type { ConnectionTarget } from '../../../src/application/ports/connection-target.js';
import type { Manifest } from '../../../src/domain/manifest.js';
import { type CongoHandle, startCongo } from '../../helpers/congodb.js';
import type { RecordedOplog } from '../../helpers/congodb-oplog.js';
import { tempDir } from '../../helpers/temp.js';
import { jsonEntries, MONGO_TOOLS, PBM, wallOf } from '../../helpers/oplog-fixtures.js';

/**
 * Incremental and differential MongoDB backups tailing local.oplog.rs, and restores of their chain
 * to a point in time, through the use-cases as the CLI runs them. The server is CongoDB with the
 * oplog double (test/helpers/congodb-oplog.ts) serving entries recorded from real servers, in log
 * order: mongo-tools mongorestore/testdata/oplogs/oplog.json (database test2, 2021), then PBM
 * pbm/oplog/testdata/oplog_test.json (mydb.c5: create, insert, $v:2 update, delete, drop) and
 * ops_admin_databases.json (config.databases writes and an insert into mydb.collection1).
 */
const signal = () => new AbortController().signal;
const early = jsonEntries(`${MONGO_TOOLS}mongorestore/testdata/oplogs/oplog.json`);
const c5 = jsonEntries(`${PBM}oplog_test.json`);
const admin = jsonEntries(`${PBM}ops_admin_databases.json`);
const tsOf = (raw: Buffer) => {
  const ts = BSON.deserialize(raw).ts as Timestamp;
  return { t: ts.t, i: ts.i };
};
/** A periodic no-op entry at `t` seconds, as a primary writes every 10 s. */
const noop = (t: number) => Buffer.from(BSON.serialize({ op: 'n', ns: '', o: { msg: 'periodic noop' }, ts: new Timestamp({ t, i: 1 }), t: BSON.Long.fromNumber(1), wall: new Date(t * 1000) }));

describe('MongoDB incrementals from the oplog (CongoDB + recorded oplog double)', () => {
  const rs: RecordedOplog = { name: 'rs0', entries: [...early, c5[0]!] };
  let congo: CongoHandle;
  let dir: { path: string; cleanup(): Promise<void> };
  let app: AppServices;
  const repo = () => join(dir.path, 'repo');
  const source: ConnectionTarget = { engine: 'mongodb', url: '', database: 'mydb' };
  const into = (db: string): ConnectionTarget => ({ engine: 'mongodb', url: congo.url(), options: { targetDatabase: db } });
  const backup = (kind: 'full' | 'incremental' | 'differential') =>
    app.runBackup.execute({ target: { ...source, url: congo.url() }, repository: repo(), kind, compression: { codec: 'none' }, parallel: 2 }, signal()).then((r) => r.manifest);
  const stored = (m: Manifest, name: string) => readFile(join(repo(), m.source, m.id, m.parts.find((p) => p.name.startsWith(name))!.name));
  let full: Manifest;
  let incr: Manifest;

  beforeAll(async () => {
    congo = await startCongo({ replicaSet: rs });
    dir = await tempDir('dbb-oplog-');
    app = appServices(buildContainer({ dataDir: join(dir.path, 'data'), logLevel: 'error', json: false, progress: false, toolVersion: 'test' }));
    const db = congo.client.db('mydb');
    await db.createCollection('c5');
    await db.collection<{ _id: number; v: string }>('seed').insertMany([{ _id: 1, v: 'a' }, { _id: 2, v: 'b' }]);
  });
  afterAll(async () => {
    await congo?.stop();
    app?.close();
    await dir?.cleanup();
  });

  it('a full on the replica set records the snapshot\'s cluster time as its position', async () => {
    full = await backup('full');
    expect(full.logPosition).toMatchObject({ clusterTime: tsOf(c5[0]!), snapshot: true });
    expect(full.engineInfo).toMatchObject({ topology: 'replicaSet', replicaSet: 'rs0' });
  });

  it('an incremental holds the entries after the parent\'s end, raw as the server sent them, for the backup\'s database only', async () => {
    rs.entries.push(...c5.slice(1), ...admin);
    incr = await backup('incremental');
    expect(incr.kind).toBe('incremental');
    expect(incr.parent).toBe(full.id);
    // mydb's entries only: the config.databases writes of the same stretch of log are left out.
    const mine = [...c5.slice(1), admin[1]!];
    expect((await stored(incr, 'changes/oplog.bson')).equals(Buffer.concat(mine))).toBe(true);
    const index = JSON.parse((await stored(incr, 'changes/oplog-index.json')).toString('utf8')) as Record<string, any>;
    expect(index).toMatchObject({ format: 'dbbackup-mongodb-oplog-index', from: tsOf(c5[0]!), to: tsOf(admin.at(-1)!), first: tsOf(c5[1]!), last: tsOf(admin[1]!), entries: 5, transactions: 0 });
    expect(index.namespaces).toEqual({ 'mydb.c5': { i: 1, u: 1, d: 1, c: 1 }, 'mydb.collection1': { i: 1, u: 0, d: 0, c: 0 } });
    expect(incr.logPosition).toEqual({ clusterTime: tsOf(admin.at(-1)!), entry: true });
    expect(incr.objects.map((o) => o.name)).toEqual(['mydb.c5', 'mydb.collection1']);
    expect(incr.consistentAt).toBe(wallOf(admin.at(-1)!).toISOString());
  });

  it('restore --at a time inside the incremental: the full, then the entries up to it, under another name', async () => {
    await app.restoreBackup.execute({ repository: repo(), backup: 'latest', at: wallOf(c5[2]!), target: into('at_update'), clean: false }, signal());
    const db = congo.client.db('at_update');
    expect(await db.collection('c5').find({}, { projection: { _id: 0 } }).toArray()).toEqual([{ person: 'jure', age: 37, city: 'split' }]);
    expect(await db.collection('seed').countDocuments()).toBe(2);
    expect((await db.listCollections().toArray()).map((c) => c.name)).not.toContain('collection1');
  });

  it('restore of the latest state replays the whole link (the drop of c5, the insert into collection1)', async () => {
    await app.restoreBackup.execute({ repository: repo(), backup: 'latest', target: into('latest'), clean: false }, signal());
    const db = congo.client.db('latest');
    expect((await db.listCollections().toArray()).map((c) => c.name).sort()).toEqual(['collection1', 'seed']);
    expect(await congo.client.db('config').collection('databases').countDocuments()).toBe(0);
  });

  it('a differential whose full the oplog lost copies the stored incrementals, then tails the server', async () => {
    rs.entries.splice(0, rs.entries.indexOf(admin.at(-1)!));
    rs.entries.push(noop(1732706500));
    const diff = await backup('differential');
    expect(diff.parent).toBe(full.id);
    expect((await stored(diff, 'changes/oplog.bson')).equals(Buffer.concat([...c5.slice(1), admin[1]!]))).toBe(true);
    expect(diff.warnings.join(' ')).toMatch(/no longer reaches the full's end/);
    expect(diff.logPosition).toEqual({ clusterTime: { t: 1732706500, i: 1 }, entry: true });
  });

  it('an oplog that rolls past the parent\'s end while the incremental reads it: E_OPLOG_ROLLED, not a link with a gap', async () => {
    const end = rs.entries.at(-1)!;
    rs.entries.push(noop(1732706550));
    rs.afterTailRead = () => rs.entries.splice(0, rs.entries.length, noop(1732706560));
    try {
      await expect(backup('incremental')).rejects.toMatchObject({ code: 'E_OPLOG_ROLLED', message: expect.stringMatching(/while this backup read it/) });
    } finally {
      rs.afterTailRead = undefined;
    }
    rs.entries.splice(0, rs.entries.length, end, noop(1732706560));
  });

  it('an oplog that rolled past the parent\'s end ends the chain with E_OPLOG_ROLLED', async () => {
    rs.entries.splice(0, rs.entries.length, noop(1732706600));
    await expect(backup('incremental')).rejects.toMatchObject({ code: 'E_OPLOG_ROLLED', message: expect.stringMatching(/rolled over/) });
    // The parent's end entry gone from an oplog that still starts before it (a rollback): the same.
    rs.entries.splice(0, rs.entries.length, noop(1732706000), noop(1732706600));
    await expect(backup('incremental')).rejects.toMatchObject({ code: 'E_OPLOG_ROLLED' });
  });
});

describe('MongoDB incrementals on a standalone server', () => {
  let congo: CongoHandle;
  let dir: { path: string; cleanup(): Promise<void> };
  let app: AppServices;

  beforeAll(async () => {
    congo = await startCongo();
    dir = await tempDir('dbb-oplog-sa-');
    app = appServices(buildContainer({ dataDir: join(dir.path, 'data'), logLevel: 'error', json: false, progress: false, toolVersion: 'test' }));
    await congo.client.db('solo').collection<{ _id: number }>('t').insertOne({ _id: 1 });
  });
  afterAll(async () => {
    await congo?.stop();
    app?.close();
    await dir?.cleanup();
  });

  it('are refused, saying a single-node replica set is enough', async () => {
    const input = { target: { engine: 'mongodb', url: congo.url(), database: 'solo' }, repository: join(dir.path, 'repo'), compression: { codec: 'none' as const }, parallel: 1 };
    await app.runBackup.execute({ ...input, kind: 'full' }, signal());
    await expect(app.runBackup.execute({ ...input, kind: 'incremental' }, signal())).rejects.toMatchObject({ code: 'E_NO_PARENT', message: expect.stringMatching(/single-node replica set is enough/) });
  });
});
