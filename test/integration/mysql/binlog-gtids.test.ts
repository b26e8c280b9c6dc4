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
import { backup, restore, tableFingerprints, target } from './harness.js';

/**
 * `--replay-gtids keep` (mysql-binlog-gtids.ts) on a target server of its own (server id 2): a chain
 * restore carries the source's GTIDs into the target's binary log; replaying the same links onto
 * it again changes nothing and says how many transactions it skipped, and a newer link after them
 * catches the target up. Without keep, the same second replay fails (its inserts meet their rows).
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

    // The chain restore (full, then the link) onto the replica: the link's transactions carry their GTIDs.
    const restored = await restore(dataDir, { target: target(replica, 'k', { create: true, ...keep }), repository });
    expect(await tableFingerprints(replica, 'k')).toEqual(want1);
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

async function partsOf(repository: string, manifest: Manifest): Promise<PartSource> {
  const dir = join(repository, (await readdir(repository)).find((d) => !d.endsWith('.json'))!, manifest.id);
  return { manifest, open: async (p) => createReadStream(join(dir, p.name)) };
}
