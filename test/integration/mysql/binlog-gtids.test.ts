import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyBinlogChanges } from '../../../src/adapters/connectors/mysql/mysql-binlog-apply.js';
import { resolveEndpoint } from '../../../src/adapters/connectors/mysql/mysql-connection.js';
import type { PartSource } from '../../../src/application/ports/parts.js';
import type { Manifest } from '../../../src/domain/manifest.js';
import { type MariaDbServer, startMariaDb } from '../../helpers/mariadb-server.js';
import type { RestoreBackupInput } from '../../../src/application/use-cases/restore-backup.js';
import { backup, restore, tableFingerprints, target } from './harness.js';

/**
 * `--replay-gtids keep` (mysql-binlog-gtids.ts) on a target server of its own (server id 2): a chain
 * restore carries the source's GTIDs into the target's binary log; replaying the same links onto
 * it again changes nothing and says how many transactions it skipped, and a newer link after them
 * catches the target up. Without keep, the same second replay fails (its inserts meet their rows).
 * `restore --changes-only` (no full): refused on a target with no GTID of the source's domain, then,
 * once the target's replica position says it holds the full, replays exactly what it lacks — twice
 * applies nothing — and refuses a chain whose changes start after the target's state.
 */

let source: MariaDbServer;
let replica: MariaDbServer;
let work: string;

beforeAll(async () => {
  [source, replica] = await Promise.all([startMariaDb(), startMariaDb({ args: ['--server-id=2'] })]);
  work = await mkdtemp(join(tmpdir(), 'dbb-binlog-gtids-'));
}, 120_000);
afterAll(async () => {
  await Promise.all([source?.stop(), replica?.stop()]);
  await rm(work, { recursive: true, force: true });
});

describe('MySQL binlog replay keeping GTIDs (MariaDB)', () => {
  it('carries the source GTIDs, skips what the target holds on a second replay, and catches up with a newer link', async () => {
    await source.query('CREATE DATABASE k; CREATE TABLE k.t (id INT PRIMARY KEY, v BIGINT); INSERT INTO k.t SELECT seq, seq FROM k.seq_1_to_10');
    const repository = join(work, 'repo');
    const dataDir = join(work, 'data');
    const src = target(source, 'k');
    await backup(dataDir, { target: src, repository });
    for (let i = 1; i <= 12; i++) await source.query(`BEGIN; INSERT INTO k.t VALUES (${100 + i}, ${i}); UPDATE k.t SET v = v * 3 + ${i} WHERE id <= 3; COMMIT`);
    await source.query('ALTER TABLE k.t ADD COLUMN w VARCHAR(10) DEFAULT \'x\'');
    await source.query("INSERT INTO k.t VALUES (200, 2, 'after')");
    const inc1 = await backup(dataDir, { target: src, repository, kind: 'incremental', compression: { codec: 'none' } });
    const [{ g: at1 }] = (await source.query<{ g: string }>('SELECT @@GLOBAL.gtid_binlog_pos AS g')) as [{ g: string }];
    const want1 = await tableFingerprints(source, 'k');

    // --dry-run says what keep will do, and why it cannot carry GTIDs where it cannot.
    const keep = { replayGtids: 'keep' };
    const dry = await restore(dataDir, { target: target(replica, 'k', { create: true, ...keep }), repository, dryRun: true });
    expect(dry.plan.warnings.join('\n')).toMatch(/--replay-gtids keep: the replay runs on one connection and commits each source transaction alone with its GTID/);
    const dryOff = await restore(dataDir, { target: target(replica, 'k', { create: true, binlog: 'off', ...keep }), repository, dryRun: true });
    expect(dryOff.plan.warnings.join('\n')).toMatch(/does not write the target's binary log \(\?binlog=off\), so the replayed transactions do not carry their GTIDs[^]*goes on without carrying/);

    // --set-gtid-slave-pos only with GTIDs replayed (keep or --changes-only): refused without, before anything changes.
    await expect(restore(dataDir, { target: target(replica, 'k', { create: true, setGtidSlavePos: true }), repository, dryRun: true })).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/--set-gtid-slave-pos goes with a chain replayed with GTIDs/) });

    // The chain restore (full, then the link) onto the replica: the link's transactions carry their GTIDs;
    // with --set-gtid-slave-pos its replica position is the chain's end, which the outcome reports.
    const restored = await restore(dataDir, { target: target(replica, 'k', { create: true, setGtidSlavePos: true, ...keep }), repository });
    expect(await tableFingerprints(replica, 'k')).toEqual(want1);
    expect(restored.outcome?.logPosition).toBe(at1);
    expect((await replica.query<{ p: string }>('SELECT @@GLOBAL.gtid_slave_pos AS p'))[0]!.p).toBe(at1);
    expect((restored.outcome?.warnings ?? []).join('\n')).toMatch(new RegExp(`gtid_slave_pos set to ${at1} \\(the GTID position the replay reached\\)`));
    const state = async () => (await replica.query<{ s: string }>('SELECT @@GLOBAL.gtid_binlog_state AS s'))[0]!.s;
    expect((await state()).split(',')).toContain(at1);
    expect((restored.outcome?.warnings ?? []).join('\n') ?? '').not.toMatch(/skipped/);

    // Onto the source server itself (it holds every GTID of the chain): after the full restored there, nothing is skipped or carried.
    const copy = await restore(dataDir, { target: target(source, 'k', { create: true, targetDatabase: 'k_copy', ...keep }), repository });
    expect(await tableFingerprints(source, 'k_copy')).toEqual(want1);
    expect((copy.outcome?.warnings ?? []).join('\n')).not.toMatch(/skipped/);

    // The same link again onto the same target (no full in between): every transaction is skipped.
    const endpoint = resolveEndpoint(target(replica, 'k', keep));
    const again = await applyBinlogChanges(endpoint, await partsOf(repository, inc1.manifest), undefined, new AbortController().signal, new Map([['k', 'k']]));
    expect((again.warnings ?? []).join('\n')).toMatch(/(1[4-9]|[2-9]\d) transaction\(s\) of the binary log were skipped: the target already holds their GTIDs/);
    expect(await tableFingerprints(replica, 'k')).toEqual(want1);
    const plain = resolveEndpoint(target(replica, 'k'));
    await expect(applyBinlogChanges(plain, await partsOf(repository, inc1.manifest), undefined, new AbortController().signal, new Map([['k', 'k']]))).rejects.toThrow(/Duplicate|1062|HA_ERR_FOUND_DUPP/i);
    expect(await tableFingerprints(replica, 'k')).toEqual(want1);

    // A newer link: replaying both links catches the target up, the first one skipped whole.
    for (let i = 1; i <= 5; i++) await source.query(`UPDATE k.t SET v = v + ${i}, w = 'n${i}' WHERE id % 2 = ${i % 2}`);
    const inc2 = await backup(dataDir, { target: src, repository, kind: 'incremental', compression: { codec: 'none' } });
    let skipped = 0;
    for (const m of [inc1.manifest, inc2.manifest]) {
      const out = await applyBinlogChanges(endpoint, await partsOf(repository, m), undefined, new AbortController().signal, new Map([['k', 'k']]));
      skipped += Number(/(\d+) transaction\(s\) of the binary log were skipped/.exec((out.warnings ?? []).join('\n'))?.[1] ?? 0);
    }
    expect(skipped).toBeGreaterThanOrEqual(14);
    expect(await tableFingerprints(replica, 'k')).toEqual(await tableFingerprints(source, 'k'));
    const [{ g: at2 }] = (await source.query<{ g: string }>('SELECT @@GLOBAL.gtid_binlog_pos AS g')) as [{ g: string }];
    expect((await state()).split(',')).toContain(at2);
  }, 120_000);
});

describe('restore --changes-only (MariaDB)', () => {
  it('skips the transactions the target holds, applies exactly the rest, and refuses a target it cannot place', async () => {
    // Domain 7 is this test's alone: the replica holds nothing of it yet (the test above carried domain 0).
    const d7 = (sql: string) => source.query(`SET SESSION gtid_domain_id = 7; ${sql}`);
    const pos7 = async () => (await source.query<{ g: string }>('SELECT @@GLOBAL.gtid_binlog_pos AS g'))[0]!.g.split(',').find((g) => g.startsWith('7-'))!;
    await d7('CREATE DATABASE co; CREATE TABLE co.t (id INT PRIMARY KEY, v BIGINT, w VARCHAR(20)); INSERT INTO co.t SELECT seq, seq, NULL FROM co.seq_1_to_50');
    const repository = join(work, 'co-repo');
    const dataDir = join(work, 'co-data');
    const src = target(source, 'co');
    const full = await backup(dataDir, { target: src, repository });
    const fullAt = await pos7();
    const write = async (i: number) => d7(`BEGIN; INSERT INTO co.t VALUES (${1000 + i}, ${i}, 'n${i}'); UPDATE co.t SET v = v * 2 + ${i} WHERE id % 7 = ${i % 7}; DELETE FROM co.t WHERE id = ${i}; COMMIT`);
    for (let i = 1; i <= 8; i++) await write(i);
    await source.query('INSERT INTO k.t (id, v) VALUES (9001, 1)'); // another database's transaction: neither applied nor counted
    const inc1 = await backup(dataDir, { target: src, repository, kind: 'incremental', compression: { codec: 'none' } });
    const want1 = await tableFingerprints(source, 'co');

    const onto = (backupId: string, extra: Partial<RestoreBackupInput> = {}) =>
      restore(dataDir, { target: target(replica, 'co'), repository, backup: backupId, ...extra, options: { changesOnly: true, ...extra.options } });
    // The target holds the full's data but its GTID state says nothing of domain 7: refused, unchanged.
    await restore(dataDir, { target: target(replica, 'co', { create: true }), repository, backup: full.manifest.id });
    const atFull = await tableFingerprints(replica, 'co');
    await expect(onto(inc1.manifest.id)).rejects.toMatchObject({ code: 'E_TARGET_STATE', message: expect.stringMatching(/holds no GTID of domain 7 from server id 1/) });
    await expect(onto(full.manifest.id)).rejects.toMatchObject({ code: 'E_USAGE' });
    expect(await tableFingerprints(replica, 'co')).toEqual(atFull);

    // Its replica position at the full's GTID: the dry run counts, the replay applies the link's 8, the data is the source's.
    await replica.query(`SET GLOBAL gtid_slave_pos = '${fullAt}'`);
    const dry = await onto(inc1.manifest.id, { dryRun: true });
    expect(dry.outcome?.transactions).toEqual({ applied: 8, skipped: 0 });
    expect(await tableFingerprints(replica, 'co')).toEqual(atFull);
    expect((await onto(inc1.manifest.id)).outcome?.transactions).toEqual({ applied: 8, skipped: 0 });
    expect(await tableFingerprints(replica, 'co')).toEqual(want1);

    // A newer link, replayed first up to its third transaction (--at-gtid), then to its end: exactly the rest each time.
    for (let i = 9; i <= 10; i++) await write(i);
    const third = await (async () => (await write(11), pos7()))();
    for (let i = 12; i <= 13; i++) await write(i);
    const inc2 = await backup(dataDir, { target: src, repository, kind: 'incremental', compression: { codec: 'none' } });
    const want2 = await tableFingerprints(source, 'co');
    const at2 = (await source.query<{ g: string }>('SELECT @@GLOBAL.gtid_binlog_pos AS g'))[0]!.g;
    // With --set-gtid-slave-pos: the replica position follows each run's end (the dry run only says so).
    const slavePos = async () => (await replica.query<{ p: string }>('SELECT @@GLOBAL.gtid_slave_pos AS p'))[0]!.p;
    const setPos = { target: target(replica, 'co', { setGtidSlavePos: true }) };
    const partial = await onto(inc2.manifest.id, { atLog: { gtid: third }, ...setPos });
    expect(partial.outcome?.transactions).toEqual({ applied: 3, skipped: 8 });
    expect(partial.outcome?.logPosition?.split(',')).toContain(third);
    expect((await slavePos()).split(',')).toContain(third);
    const dry2 = await onto(inc2.manifest.id, { dryRun: true, ...setPos });
    expect(dry2.outcome?.transactions).toEqual({ applied: 2, skipped: 11 });
    expect(dry2.outcome?.logPosition).toBe(at2);
    expect(dry2.plan.warnings.join('\n')).toContain(`--set-gtid-slave-pos: once the replay succeeded, the target's gtid_slave_pos is set to the GTID position it reached (the chain's end: ${at2}`);
    expect((await slavePos()).split(',')).toContain(third);
    const caught = await onto(inc2.manifest.id, setPos);
    expect(caught.outcome?.transactions).toEqual({ applied: 2, skipped: 11 });
    expect(caught.outcome?.logPosition).toBe(at2);
    expect(await slavePos()).toBe(at2);
    expect(await tableFingerprints(replica, 'co')).toEqual(want2);
    // Twice: nothing applied, the data unchanged.
    expect((await onto(inc2.manifest.id)).outcome?.transactions).toEqual({ applied: 0, skipped: 13 });
    expect(await tableFingerprints(replica, 'co')).toEqual(want2);

    // A chain whose changes start after transactions the target lacks: refused, unchanged.
    await write(14);
    const full2 = await backup(dataDir, { target: src, repository });
    await write(15);
    const inc3 = await backup(dataDir, { target: src, repository, kind: 'incremental', compression: { codec: 'none' } });
    expect(inc3.manifest.parent).toBe(full2.manifest.id);
    await expect(onto(inc3.manifest.id)).rejects.toMatchObject({ code: 'E_TARGET_STATE', message: expect.stringMatching(/behind the chain/) });
    expect(await tableFingerprints(replica, 'co')).toEqual(want2);

    // The target replicates from the source from where the catch-up stopped: it receives exactly what came after (writes 14 to 16).
    await write(16);
    const end = await pos7();
    await replica.query(`CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = ${source.port}, MASTER_USER = 'root', MASTER_USE_GTID = slave_pos; START SLAVE`);
    try {
      for (;;) {
        const [st] = await replica.query<{ Last_SQL_Errno: number | string; Last_SQL_Error: string; Last_IO_Errno: number | string; Last_IO_Error: string }>('SHOW SLAVE STATUS');
        if (Number(st?.Last_SQL_Errno ?? 0) !== 0 || Number(st?.Last_IO_Errno ?? 0) === 1236) throw new Error(`replication failed: ${st!.Last_SQL_Error}${st!.Last_IO_Error}`);
        if ((await slavePos()).split(',').includes(end)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await replica.query('STOP SLAVE; RESET SLAVE ALL');
    }
    expect(await tableFingerprints(replica, 'co')).toEqual(await tableFingerprints(source, 'co'));
  }, 120_000);
});

async function partsOf(repository: string, manifest: Manifest): Promise<PartSource> {
  const dir = join(repository, (await readdir(repository)).find((d) => !d.endsWith('.json'))!, manifest.id);
  return { manifest, open: async (p) => createReadStream(join(dir, p.name)) };
}
