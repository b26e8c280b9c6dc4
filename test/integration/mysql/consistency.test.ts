import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MariaDbServer, startMariaDb } from '../../helpers/mariadb-server.js';
import { tempDir } from '../../helpers/temp.js';
import { backup, restore, target } from './harness.js';

describe('MySQL connector: consistent snapshot under concurrent writes (MariaDB)', () => {
  let server: MariaDbServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    server = await startMariaDb();
    dir = await tempDir('mysql-live-');
    await server.query(`
      CREATE DATABASE live;
      CREATE TABLE live.orders (id INT PRIMARY KEY, v VARCHAR(40));
      CREATE TABLE live.ledger (id INT PRIMARY KEY, order_id INT NOT NULL);
      CREATE TABLE live.filler (id INT PRIMARY KEY, pad VARCHAR(200));
      INSERT INTO live.filler SELECT seq, REPEAT('x', 150) FROM mysql.seq_1_to_300000;`);
  });
  afterAll(async () => {
    await server?.stop();
    await dir?.cleanup();
  });

  it('restores exactly the snapshot, and records the binlog position and GTID of that snapshot', async () => {
    // One transaction per order, touching two tables; remember each one's GTID.
    const writer = await server.connect();
    const gtidOf = new Map<number, string>();
    let stop = false;
    let written = 0;
    const writing = (async () => {
      for (let i = 1; !stop; i++) {
        await writer.query(`BEGIN; INSERT INTO live.orders VALUES (${i}, 'order ${i}'); INSERT INTO live.ledger VALUES (${i}, ${i}); COMMIT;`);
        const [rows] = await writer.query('SELECT @@last_gtid AS g');
        gtidOf.set(i, (rows as { g: string }[])[0]!.g);
        written = i;
      }
    })();
    while (written < 50) await new Promise((r) => setTimeout(r, 10));
    const repo = join(dir.path, 'repo');
    let manifest;
    try {
      ({ manifest } = await backup(dir.path, { target: target(server, 'live'), repository: repo, parallel: 3 }));
      const atEnd = written;
      while (written < atEnd + 20) await new Promise((r) => setTimeout(r, 10));
    } finally {
      stop = true;
      await writing;
      await writer.end();
    }

    await restore(dir.path, { target: target(server, 'snap', { create: true }), repository: repo });
    const orders = await server.query<{ n: string; lo: number; hi: number }>('SELECT COUNT(*) AS n, MIN(id) AS lo, MAX(id) AS hi FROM snap.orders');
    const k = Number(orders[0]!.hi);
    expect(Number(orders[0]!.n)).toBe(k);
    expect(k).toBeGreaterThanOrEqual(50);
    expect(k).toBeLessThan(written);
    // The tables were read by different connections, yet agree: one snapshot.
    expect(await server.query('SELECT COUNT(*) AS n FROM snap.ledger l JOIN snap.orders o ON o.id = l.order_id')).toEqual([{ n: String(k) }]);
    expect(await server.query('SELECT COUNT(*) AS n FROM snap.ledger')).toEqual([{ n: String(k) }]);
    expect(manifest.objects.find((o) => o.name === 'live.orders')?.rows).toBe(k);

    // The recorded position is that snapshot's: its GTID is the last included transaction's, and
    // the binlog file/offset maps to the same GTID state.
    const position = manifest.logPosition as { file: string; position: number; gtid: string };
    expect(position.gtid).toBe(gtidOf.get(k));
    const [mapped] = await server.query<{ g: string }>('SELECT BINLOG_GTID_POS(?, ?) AS g', [position.file, position.position]);
    expect(mapped!.g).toBe(position.gtid);
  });
});
