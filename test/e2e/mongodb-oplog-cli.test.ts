import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type CongoHandle, startCongo } from '../helpers/congodb.js';
import type { RecordedOplog } from '../helpers/congodb-oplog.js';
import { jsonEntries, PBM, wallOf } from '../helpers/oplog-fixtures.js';
import { tempDir } from '../helpers/temp.js';

/**
 * The CLI as a user runs it: a full of a replica set, an incremental from the oplog, a restore to a
 * point in time and one to the end. CongoDB with the oplog double serving entries recorded from a
 * real server (PBM pbm/oplog/testdata/oplog_test.json: create, insert, $v:2 update, delete, drop of mydb.c5).
 */
let dir: { path: string; cleanup(): Promise<void> };
let congo: CongoHandle;
let env: NodeJS.ProcessEnv;
const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });
const entries = jsonEntries(`${PBM}oplog_test.json`);
const rs: RecordedOplog = { name: 'rs0', entries: entries.slice(0, 1) };

beforeAll(async () => {
  dir = await tempDir('dbb-e2e-oplog-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data') };
  congo = await startCongo({ replicaSet: rs });
  await congo.client.db('mydb').createCollection('c5');
  await congo.client.db('mydb').collection('keep').insertOne({ k: 1 });
});

afterAll(async () => {
  await congo?.stop();
  await dir?.cleanup();
});

describe('dbbackup CLI: MongoDB incrementals and --at from the oplog', () => {
  it('backs up a full and an incremental, lists the chain, restores at a time inside it and at its end', async () => {
    const full = await cli('backup', '--db', 'mongodb', '--url', congo.url(), '--database', 'mydb', '--out', 'repo', '--json');
    expect(full.code, full.stderr).toBe(0);
    rs.entries.push(...entries.slice(1));
    const incr = await cli('backup', '--db', 'mongodb', '--url', congo.url(), '--database', 'mydb', '--out', 'repo', '--type', 'incremental', '--json');
    expect(incr.code, incr.stderr).toBe(0);
    const link = JSON.parse(incr.stdout) as { manifest: { kind: string; parent: string; parts: { name: string }[] } };
    expect(link.manifest.kind).toBe('incremental');
    expect(link.manifest.parts.map((p) => p.name.replace(/\.zst$/, '')).sort()).toEqual(['changes/oplog-index.json', 'changes/oplog.bson']);
    expect((await cli('verify', '--from', 'repo', 'latest')).code).toBe(0);

    const plan = await cli('restore', '--from', 'repo', '--db', 'mongodb', '--url', congo.url(), '--database', 'mydb', '--target-database', 'planned', '--dry-run');
    expect(plan.code, plan.stderr).toBe(0);
    expect(`${plan.stdout}${plan.stderr}`).toMatch(/replays the oplog entries of the full's databases/);
    expect(await congo.client.db('planned').listCollections().toArray()).toEqual([]);

    const at = await cli('restore', '--from', 'repo', '--db', 'mongodb', '--url', congo.url(), '--database', 'mydb', '--target-database', 'at_update', '--at', wallOf(entries[2]!).toISOString());
    expect(at.code, at.stderr).toBe(0);
    expect(await congo.client.db('at_update').collection('c5').find({}, { projection: { _id: 0 } }).toArray()).toEqual([{ person: 'jure', age: 37, city: 'split' }]);
    expect(await congo.client.db('at_update').collection('keep').countDocuments()).toBe(1);

    const end = await cli('restore', '--from', 'repo', '--db', 'mongodb', '--url', congo.url(), '--database', 'mydb', '--target-database', 'at_end');
    expect(end.code, end.stderr).toBe(0);
    expect((await congo.client.db('at_end').listCollections().toArray()).map((c) => c.name)).toEqual(['keep']);
  });

  it('an oplog that rolled past the chain\'s end: E_OPLOG_ROLLED, exit 1; --auto-full takes a full instead', async () => {
    const later = jsonEntries(`${PBM}ops_admin_databases.json`);
    rs.entries.splice(0, rs.entries.length, ...later);
    const r = await cli('backup', '--db', 'mongodb', '--url', congo.url(), '--database', 'mydb', '--out', 'repo', '--type', 'incremental');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_OPLOG_ROLLED/);
    const auto = await cli('backup', '--db', 'mongodb', '--url', congo.url(), '--database', 'mydb', '--out', 'repo', '--type', 'incremental', '--auto-full', '--json');
    expect(auto.code, auto.stderr).toBe(0);
    expect((JSON.parse(auto.stdout) as { manifest: { kind: string } }).manifest.kind).toBe('full');
  });
});
