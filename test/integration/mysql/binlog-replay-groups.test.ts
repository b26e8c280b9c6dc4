import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyBinlogChanges } from '../../../src/adapters/connectors/mysql/mysql-binlog-apply.js';
import { resolveEndpoint } from '../../../src/adapters/connectors/mysql/mysql-connection.js';
import type { PartSource } from '../../../src/application/ports/parts.js';
import { type MariaDbServer, startMariaDb } from '../../helpers/mariadb-server.js';
import { backup, restore, tableFingerprints, target } from './harness.js';

/**
 * The replay puts many source transactions in one target transaction and their row events in one
 * BINLOG statement (mysql-binlog-apply.ts): a stop point inside such a group must restore exactly
 * that point, a transaction too big to hold back (a savepoint before it) must replay whole, and a
 * log that ends inside such a transaction must undo only it, not the group before it.
 */

let server: MariaDbServer;
let work: string;

beforeAll(async () => {
  server = await startMariaDb({ args: ['--max-allowed-packet=64M'] });
  work = await mkdtemp(join(tmpdir(), 'dbb-binlog-groups-'));
}, 120_000);
afterAll(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('MySQL binlog replay in groups (MariaDB)', () => {
  it('restores exactly a stop point in the middle of a group, around a big transaction, and undoes only the transaction a log ends inside', async () => {
    await server.query('CREATE DATABASE g; CREATE TABLE g.t (id INT PRIMARY KEY, v INT, pad VARCHAR(2000)); CREATE TABLE g.m (id INT PRIMARY KEY) ENGINE=MyISAM');
    const repository = join(work, 'repo');
    const dataDir = join(work, 'data');
    const src = target(server, 'g');
    const full = await backup(dataDir, { target: src, repository });
    const point = async () => {
      const [row] = await server.query<{ g: string }>('SELECT @@GLOBAL.gtid_binlog_pos AS g');
      return { gtid: row!.g, tables: await tableFingerprints(server, 'g') };
    };
    const points: Awaited<ReturnType<typeof point>>[] = [];
    for (let i = 1; i <= 30; i++) {
      await server.query(`BEGIN; INSERT INTO g.t VALUES (${i}, ${i}, 'small'); UPDATE g.t SET v = v + 1 WHERE id = ${1 + (i % 5)}; COMMIT`);
      points.push(await point());
    }
    // Over the replay's batch limit (8 MB of base64) in three statements: sent before its end, after a savepoint.
    const big = (from: number) =>
      `INSERT INTO g.t WITH RECURSIVE s(n) AS (SELECT ${from} UNION ALL SELECT n + 1 FROM s WHERE n < ${from + 1499}) SELECT n, n, REPEAT('x', 1990) FROM s`;
    await server.query(`SET SESSION max_recursive_iterations = 100000; BEGIN; ${big(1000)}; ${big(3000)}; ${big(5000)}; UPDATE g.t SET v = -1 WHERE id = 3; COMMIT`);
    const afterBig = await point();
    // The source rolls back: the InnoDB row goes, the MyISAM one stays.
    await server.query('BEGIN; INSERT INTO g.t VALUES (900, 900, NULL); INSERT INTO g.m VALUES (1); ROLLBACK');
    await server.query("INSERT INTO g.t VALUES (901, 901, 'after')");
    const last = await point();
    const inc = await backup(dataDir, { target: src, repository, kind: 'incremental', compression: { codec: 'none' } });
    expect(new Set([points[16]!.gtid, afterBig.gtid, last.gtid]).size).toBe(3);

    for (const [db, want] of [
      ['g_17', points[16]!],
      ['g_30', points[29]!],
      ['g_big', afterBig],
      ['g_last', last],
    ] as const) {
      await restore(dataDir, { target: target(server, db, { create: true }), repository, atLog: { gtid: want.gtid } });
      expect(await tableFingerprints(server, db), db).toEqual(want.tables);
    }
    expect((await tableFingerprints(server, 'g_last')).m!.rows).toBe(1);
    expect((await tableFingerprints(server, 'g_17')).t!.rows).toBe(17);

    // The same log cut just before the big transaction's XID: the replay ends inside it, after the 30
    // small ones sent in the same target transaction; only the big one is undone (to its savepoint).
    const dir = join(repository, (await readdir(repository)).find((d) => !d.endsWith('.json'))!, inc.manifest.id);
    const binlogs = inc.manifest.parts.filter((p) => /^changes\/\d{6}\.binlog$/.test(p.name));
    expect(binlogs).toHaveLength(1);
    const bytes = await readFile(join(dir, binlogs[0]!.name));
    let cut = 0;
    for (let at = 4, since = 0; at < bytes.length; at += bytes.readUInt32LE(at + 9)) {
      if (bytes[at + 4] === 16 /* XID */ && at - since > (4 << 20)) {
        cut = at;
        break;
      }
      if (bytes[at + 4] === 16) since = at;
    }
    expect(cut).toBeGreaterThan(0);
    const parts: PartSource = {
      manifest: { ...inc.manifest, parts: binlogs },
      open: async () => createReadStream(join(dir, binlogs[0]!.name), { end: cut - 1 }),
    };
    await restore(dataDir, { target: target(server, 'g_cut', { create: true }), repository, backup: full.manifest.id });
    const endpoint = resolveEndpoint({ engine: 'mysql', host: '127.0.0.1', port: server.port, user: 'root', password: '', database: 'g_cut' });
    await applyBinlogChanges(endpoint, parts, undefined, new AbortController().signal, new Map([['g', 'g_cut']]));
    expect(await tableFingerprints(server, 'g_cut')).toEqual(points[29]!.tables);
  }, 180_000);
});
