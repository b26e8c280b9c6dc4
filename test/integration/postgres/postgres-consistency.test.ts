import { join } from 'node:path';
import { ContainerModule } from 'inversify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MapConnectorRegistry } from '../../../src/adapters/connectors/connector-registry.js';
import { PostgresConnector } from '../../../src/adapters/connectors/postgres/postgres-connector.js';
import { type AppServices, appServices, buildContainer } from '../../../src/bootstrap/container.js';
import { Tokens } from '../../../src/bootstrap/tokens.js';
import { type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';
import { tempDir } from '../../helpers/temp.js';

let server: PostgresServer;
let dir: { path: string; cleanup(): Promise<void> };
let app: AppServices;
const signal = () => new AbortController().signal;
const pgTarget = (database: string) => ({ engine: 'postgres' as const, url: server.url(database) });

beforeAll(async () => {
  [server, dir] = await Promise.all([startPostgres(), tempDir('dbb-pgcons-')]);
  const small = new ContainerModule(({ rebind }) => void rebind(Tokens.Connectors).toConstantValue(new MapConnectorRegistry([new PostgresConnector({ partSize: 1 << 20, chunkPages: 64 })])));
  app = appServices(buildContainer({ dataDir: join(dir.path, 'data'), logLevel: 'error', json: false, progress: false, toolVersion: 'test' }, [small]));
  await server.query('CREATE DATABASE live');
  // Every writer transaction adds one order and its lines and moves money between two accounts:
  // a torn snapshot shows up as orders without lines, lines without orders, or a wrong total.
  await server.query(
    `CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
     INSERT INTO accounts SELECT i, 1000 FROM generate_series(1, 100) i;
     CREATE TABLE orders (id bigint PRIMARY KEY, pad text);
     CREATE TABLE lines (order_id bigint NOT NULL REFERENCES orders(id), n int, pad text, PRIMARY KEY (order_id, n));
     INSERT INTO orders SELECT i, repeat('o', 200) FROM generate_series(1, 60000) i;
     INSERT INTO lines SELECT i, k, repeat('l', 100) FROM generate_series(1, 60000) i, generate_series(1, 3) k;`,
    [],
    'live',
  );
});

afterAll(async () => {
  app?.close();
  await server?.stop();
  await dir?.cleanup();
});

describe('PostgreSQL backup under concurrent writes', () => {
  it('restores exactly one snapshot: no torn foreign keys, totals intact', async () => {
    const writer = await server.connect('live');
    let stop = false;
    let commits = 0;
    const writing = (async () => {
      for (let id = 60001; !stop; id++) {
        await writer.query('BEGIN');
        await writer.query(`INSERT INTO orders VALUES ($1, 'new')`, [id]);
        await writer.query(`INSERT INTO lines SELECT $1, k, 'new' FROM generate_series(1, 3) k`, [id]);
        await writer.query(`UPDATE accounts SET balance = balance - 7 WHERE id = $1`, [(id % 100) + 1]);
        await writer.query(`UPDATE accounts SET balance = balance + 7 WHERE id = $1`, [((id + 37) % 100) + 1]);
        await writer.query('COMMIT');
        commits++;
      }
    })();
    try {
      while (commits < 20) await new Promise((r) => setTimeout(r, 20));
      const repository = join(dir.path, 'repo');
      const { manifest } = await app.runBackup.execute(
        { target: pgTarget('live'), repository, kind: 'full', compression: { codec: 'zstd' }, parallel: 3 },
        signal(),
      );
      const before = commits;
      while (commits < before + 20) await new Promise((r) => setTimeout(r, 20));
      stop = true;
      await writing;
      const orders = manifest.objects.find((o) => o.name === 'public.orders')!.rows!;
      // Large tables were read in page ranges by several connections.
      expect(manifest.parts.filter((p) => p.object === 'public.lines').length).toBeGreaterThan(10);
      expect(manifest.objects.find((o) => o.name === 'public.lines')!.rows).toBe(orders * 3);
      // The restore adds the foreign key after loading: it fails on a torn snapshot.
      await app.restoreBackup.execute(
        { repository, backup: 'latest', target: pgTarget('live_copy'), clean: false, options: { create: true, parallel: 2 } },
        signal(),
      );
      const [r] = await server.query<{ total: string; orders: number; lines: number; maxid: string; orphans: number }>(
        `SELECT (SELECT sum(balance) FROM accounts)::text AS total, (SELECT count(*)::int FROM orders) AS orders,
           (SELECT count(*)::int FROM lines) AS lines, (SELECT max(id) FROM orders)::text AS maxid,
           (SELECT count(*)::int FROM orders o WHERE NOT EXISTS (SELECT 1 FROM lines l WHERE l.order_id = o.id)) AS orphans`,
        [],
        'live_copy',
      );
      expect(r).toEqual({ total: '100000', orders, lines: orders * 3, maxid: String(orders), orphans: 0 });
      expect(orders).toBeGreaterThan(60000);
      const [now] = await server.query<{ n: number }>('SELECT count(*)::int AS n FROM orders', [], 'live');
      expect(now!.n).toBeGreaterThan(orders);
    } finally {
      stop = true;
      await writing.catch(() => undefined);
      await writer.end();
    }
  });
});
