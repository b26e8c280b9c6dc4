import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyBinlogChanges } from '../../../src/adapters/connectors/mysql/mysql-binlog-apply.js';
import { resolveEndpoint } from '../../../src/adapters/connectors/mysql/mysql-connection.js';
import type { PartSource } from '../../../src/application/ports/parts.js';
import { type MariaDbServer, startMariaDb } from '../../helpers/mariadb-server.js';
import { backup, restore, tableFingerprints, target } from './harness.js';

/**
 * The replay on several connections (mysql-binlog-parallel.ts) must end where one session in log
 * order ends: transactions of one table in their order, a transaction across tables after its
 * predecessors on each, tables linked by a foreign key (ON DELETE CASCADE, which the log does not
 * hold) kept together, a DDL alone, a transaction too big to hold streamed, and a stop point inside
 * the chain. Every update below depends on the row's previous value, so any reordering of a table's
 * transactions changes its CHECKSUM TABLE.
 */

let server: MariaDbServer;
let work: string;

beforeAll(async () => {
  server = await startMariaDb({ args: ['--max-allowed-packet=64M'] });
  work = await mkdtemp(join(tmpdir(), 'dbb-binlog-parallel-'));
}, 120_000);
afterAll(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

const point = async (db: string) => {
  const [row] = await server.query<{ g: string }>('SELECT @@GLOBAL.gtid_binlog_pos AS g');
  return { gtid: row!.g, tables: await tableFingerprints(server, db) };
};

const connections = async () => Number((await server.query<{ Value: string }>("SHOW GLOBAL STATUS LIKE 'Connections'"))[0]!.Value);

describe('MySQL binlog replay on several connections (MariaDB)', () => {
  it('equals the serial replay and the source at stop points inside the chain, across tables, foreign keys, a DDL and a streamed transaction', async () => {
    await server.query(`CREATE DATABASE pr;
      CREATE TABLE pr.a (id INT PRIMARY KEY, v BIGINT);
      CREATE TABLE pr.b (id INT PRIMARY KEY, v BIGINT);
      CREATE TABLE pr.c (id INT PRIMARY KEY, v BIGINT);
      CREATE TABLE pr.parent (id INT PRIMARY KEY, v INT);
      CREATE TABLE pr.child (id INT PRIMARY KEY, parent_id INT NOT NULL, FOREIGN KEY (parent_id) REFERENCES pr.parent (id) ON DELETE CASCADE);
      CREATE TABLE pr.big (id INT PRIMARY KEY, pad VARCHAR(2100));
      INSERT INTO pr.a SELECT seq, seq FROM pr.seq_1_to_5;
      INSERT INTO pr.b SELECT seq, seq FROM pr.seq_1_to_5;`);
    const repository = join(work, 'repo');
    const dataDir = join(work, 'data');
    const src = target(server, 'pr');
    await backup(dataDir, { target: src, repository });
    const points: Record<string, Awaited<ReturnType<typeof point>>> = {};
    for (let i = 1; i <= 24; i++) {
      await server.query(`UPDATE pr.a SET v = (v * 3 + ${i}) % 1000033 WHERE id <= 5`);
      await server.query(`UPDATE pr.b SET v = (v * 5 - ${i}) % 1000003 WHERE id <= 5`);
      await server.query(`INSERT INTO pr.c (id, v) VALUES (${i}, ${i}); INSERT INTO pr.parent VALUES (${i}, ${i}); INSERT INTO pr.child VALUES (${i}, ${i})`);
      // Across tables: after its predecessors on a and on b, before their successors.
      if (i % 4 === 0) await server.query(`BEGIN; UPDATE pr.a SET v = v - 7 * ${i} WHERE id = 1; UPDATE pr.b SET v = v + 11 WHERE id = 2; UPDATE pr.c SET v = (v * 2) % 1000037; COMMIT`);
      // Deletes children by cascade on the target: must not overtake the child's insert.
      if (i % 6 === 0) await server.query(`DELETE FROM pr.parent WHERE id = ${i - 1}`);
      if (i === 12) await server.query('ALTER TABLE pr.c ADD COLUMN w INT NOT NULL DEFAULT 7');
      if (i === 7) points.mid = await point('pr');
      if (i === 16) points.afterDdl = await point('pr');
      // Over the 16 MiB a transaction is held whole: streamed once all before it committed.
      if (i === 19) {
        await server.query(`SET SESSION max_recursive_iterations = 100000; BEGIN;
          INSERT INTO pr.big WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 9000) SELECT n, REPEAT('y', 2050) FROM s;
          UPDATE pr.a SET v = v + 1000 WHERE id = 3; COMMIT`);
      }
    }
    points.end = await point('pr');
    const inc = await backup(dataDir, { target: src, repository, kind: 'incremental', compression: { codec: 'none' } });
    expect(new Set(Object.values(points).map((p) => p.gtid)).size).toBe(3);

    const restoreAt = async (db: string, want: { gtid: string }, replayConnections: number) => {
      const before = await connections();
      await restore(dataDir, { target: target(server, db, { create: true, replayConnections }), repository, atLog: { gtid: want.gtid } });
      return (await connections()) - before;
    };
    await restoreAt('pr_mid', points.mid!, 4);
    expect(await tableFingerprints(server, 'pr_mid')).toEqual(points.mid!.tables);
    await restoreAt('pr_ddl', points.afterDdl!, 3);
    expect(await tableFingerprints(server, 'pr_ddl')).toEqual(points.afterDdl!.tables);
    const parallel = await restoreAt('pr_par', points.end!, 4);
    const serial = await restoreAt('pr_ser', points.end!, 1);
    expect(await tableFingerprints(server, 'pr_par')).toEqual(points.end!.tables);
    expect(await tableFingerprints(server, 'pr_ser')).toEqual(points.end!.tables);
    // The parallel replay opened its three extra connections (the restores are otherwise the same).
    expect(parallel - serial).toBe(3);
    expect((await tableFingerprints(server, 'pr_par')).child!.rows).toBe(20);
    // The replay's BINLOG statements are not annotated into the target's log (each annotation held the whole batch, once per row event).
    let annotated = 0;
    for (const { Log_name } of await server.query<{ Log_name: string }>('SHOW BINARY LOGS')) {
      const events = await server.query<{ Event_type: string; Info: string }>(`SHOW BINLOG EVENTS IN '${Log_name}'`);
      annotated += events.filter((e) => e.Event_type === 'Annotate_rows' && e.Info.startsWith('BINLOG')).length;
    }
    expect(annotated).toBe(0);

    // A failing connection (no tables on this target) fails the whole replay, rolled back, without waiting forever.
    await server.query('CREATE DATABASE pr_empty');
    const endpoint = resolveEndpoint({ ...target(server, 'pr_empty', { replayConnections: 4 }), password: '' });
    const dir = join(repository, (await readdir(repository)).find((d) => !d.endsWith('.json'))!, inc.manifest.id);
    const parts: PartSource = { manifest: inc.manifest, open: async (p) => createReadStream(join(dir, p.name)) };
    await expect(applyBinlogChanges(endpoint, parts, undefined, new AbortController().signal, new Map([['pr', 'pr_empty']]))).rejects.toThrow(/pr_empty|doesn't exist/);
  }, 120_000);

  it("replays MariaDB's compressed binary log (log_bin_compress): statements and row events", async () => {
    await server.query('CREATE DATABASE zc; CREATE TABLE zc.t (id INT PRIMARY KEY, note TEXT)');
    const repository = join(work, 'repo-z');
    const dataDir = join(work, 'data-z');
    const src = target(server, 'zc');
    await backup(dataDir, { target: src, repository });
    await server.query('SET GLOBAL log_bin_compress = ON, GLOBAL log_bin_compress_min_len = 10');
    try {
      const conn = await server.connect('zc');
      try {
        // A new session takes the global setting.
        await conn.query(`INSERT INTO t SELECT seq, REPEAT(CONCAT('row ', seq, ' '), 40) FROM seq_1_to_300`);
        await conn.query(`ALTER TABLE t ADD COLUMN extra VARCHAR(300) NOT NULL DEFAULT '${'d'.repeat(250)}' COMMENT 'long enough to be compressed'`);
      } finally {
        await conn.end();
      }
      const afterDdl = await point('zc');
      await server.query('UPDATE zc.t SET note = CONCAT(note, note) WHERE id % 3 = 0');
      const end = await point('zc');
      await backup(dataDir, { target: src, repository, kind: 'incremental', compression: { codec: 'none' } });
      // The log holds compressed statements (165) and rows events (166–171).
      const types = await server.query<{ Event_type: string }>(`SHOW BINLOG EVENTS IN '${(await server.query<{ File: string }>('SHOW MASTER STATUS'))[0]!.File}'`);
      expect(types.map((t) => t.Event_type)).toEqual(expect.arrayContaining(['Query_compressed', 'Update_rows_compressed_v1']));
      await restore(dataDir, { target: target(server, 'zc_ddl', { create: true }), repository, atLog: { gtid: afterDdl.gtid } });
      expect(await tableFingerprints(server, 'zc_ddl')).toEqual(afterDdl.tables);
      await restore(dataDir, { target: target(server, 'zc_end', { create: true }), repository });
      expect(await tableFingerprints(server, 'zc_end')).toEqual(end.tables);
    } finally {
      await server.query('SET GLOBAL log_bin_compress = OFF');
    }
  }, 180_000);
});
