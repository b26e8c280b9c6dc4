import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type CongoHandle, startCongo } from '../helpers/congodb.js';
import { tempDir } from '../helpers/temp.js';

// The incomplete-restore mark in MongoDB (the collection dbbackup_restore_incomplete), against
// CongoDB, a wire-protocol double (no mongod can be installed here): a restore removes it when it
// finishes; a mark left by one that did not finish (test/reliability kills them at random moments)
// makes the next restore refuse without --drop, naming it, and `--dry-run` warn of it; --drop
// restores over it and removes it; a backup never carries it.
let dir: { path: string; cleanup(): Promise<void> };
let congo: CongoHandle;
const cli = (...args: string[]) => runCli(args, { env: { DBBACKUP_DATA_DIR: join(dir.path, 'data') }, cwd: dir.path });
const MARK = 'dbbackup_restore_incomplete';
const names = async (db: string) => (await congo.client.db(db).listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();

beforeAll(async () => {
  dir = await tempDir('dbb-mongo-mark-');
  congo = await startCongo();
  await congo.client.db('shop').collection('orders').insertMany(Array.from({ length: 50 }, (_, n) => ({ n })));
});
afterAll(async () => {
  await congo?.stop();
  await dir?.cleanup();
});

describe('MongoDB restore mark (CongoDB double)', () => {
  it('is gone after a restore; left by an unfinished one, it is refused without --drop, warned of, and cleared by --drop', async () => {
    const restore = (...extra: string[]) => cli('restore', '--from', 'repo', '--db', 'mongodb', '--url', congo.url(), '--database', 'shop', '--target-database', 'copy', ...extra);
    expect((await cli('backup', '--db', 'mongodb', '--url', congo.url(), '--database', 'shop', '--out', 'repo')).code).toBe(0);
    const first = await restore();
    expect(first.code, first.stderr).toBe(0);
    expect(await names('copy')).toEqual(['orders']);

    // What a restore killed half-way leaves: part of the data and the mark.
    await congo.client.db('copy').collection('orders').deleteMany({ n: { $gte: 20 } });
    await congo.client.db('copy').collection(MARK).insertOne({ backup_id: '20261201T000000Z-full-abcd', source: 'shop', started_at: '2026-12-01T00:00:00.000Z', host: 'h', pid: 42 });
    const refused = await restore('--collections', 'orders');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/E_TARGET_EXISTS: database copy holds an incomplete restore: a restore of backup 20261201T000000Z-full-abcd .*--clean/);
    const plan = await restore('--drop', '--dry-run');
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout + plan.stderr).toMatch(/database copy holds an incomplete restore/);
    const again = await restore('--drop');
    expect(again.code, again.stderr).toBe(0);
    expect(await names('copy')).toEqual(['orders']);
    expect(await congo.client.db('copy').collection('orders').countDocuments()).toBe(50);

    // A backup of a database that holds the mark does not carry it.
    await congo.client.db('copy').collection(MARK).insertOne({ backup_id: 'x' });
    const b = await cli('backup', '--db', 'mongodb', '--url', congo.url(), '--database', 'copy', '--out', 'repo2', '--json');
    expect(b.code, b.stderr).toBe(0);
    expect((JSON.parse(b.stdout) as { manifest: { objects: { name: string }[] } }).manifest.objects.map((o) => o.name)).toEqual(['copy.orders']);
  });
});
