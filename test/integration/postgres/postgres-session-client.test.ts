import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveEndpoint } from '../../../src/adapters/connectors/postgres/connection.js';
import { SessionClient } from '../../../src/adapters/connectors/postgres/postgres-session-client.js';
import { allOf, pipelined } from '../../../src/adapters/connectors/postgres/postgres-pipelined.js';
import { type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';

// A backup session's steps share one connection (SessionClient): reused while healthy and idle,
// never after a failed step or one that left a transaction open, and closed with the session.
let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

const endpoint = () => resolveEndpoint({ engine: 'postgres', host: '127.0.0.1', port: server.port, user: 'postgres', database: 'postgres', options: {} });
const pidOf = (client: SessionClient) => client.use(async (sql) => ((await sql.query('SELECT pg_backend_pid() AS pid')).rows[0] as { pid: number }).pid);

/** Waits until the server has no backend `pid` any more (a closed connection's process exits soon after). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 600; i++) {
    if ((await server.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).length === 0) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

describe('SessionClient', () => {
  it('runs consecutive steps on one connection and closes it with close()', async () => {
    const client = new SessionClient(endpoint());
    const first = await pidOf(client);
    expect(await pidOf(client)).toBe(first);
    expect(await pidOf(client)).toBe(first);
    await client.close();
    expect(await gone(first)).toBe(true);
    // Usable again after close(): a new connection.
    const again = await pidOf(client);
    expect(again).not.toBe(first);
    await client.close();
  });

  it('never reuses the connection of a step that failed or left a transaction open', async () => {
    const client = new SessionClient(endpoint());
    const first = await pidOf(client);
    await expect(client.use((sql) => sql.query('SELECT no_such_column FROM pg_class'))).rejects.toThrow(/no_such_column/);
    expect(await gone(first)).toBe(true);
    const second = await pidOf(client);
    expect(second).not.toBe(first);
    await client.use((sql) => sql.query('BEGIN'));
    expect(await gone(second)).toBe(true);
    const third = await pidOf(client);
    expect(third).not.toBe(second);
    await client.close();
  });

  it('gives a step that overlaps a running one a connection of its own, closed after it', async () => {
    const client = new SessionClient(endpoint());
    const kept = await pidOf(client);
    let inner = 0;
    const outer = await client.use(async (sql) => {
      inner = await pidOf(client);
      return ((await sql.query('SELECT pg_backend_pid() AS pid')).rows[0] as { pid: number }).pid;
    });
    expect(outer).toBe(kept);
    expect(inner).not.toBe(kept);
    expect(await gone(inner)).toBe(true);
    expect(await pidOf(client)).toBe(kept);
    await client.close();
  });

  it('without keep, opens and closes a connection per step', async () => {
    const client = new SessionClient(endpoint(), false);
    const a = await pidOf(client);
    expect(await gone(a)).toBe(true);
    const b = await pidOf(client);
    expect(b).not.toBe(a);
    expect(await gone(b)).toBe(true);
  });

  it('take() hands the idle kept connection over (a dump leads on it); the next step opens another', async () => {
    const client = new SessionClient(endpoint());
    expect(client.take()).toBeUndefined();
    const kept = await pidOf(client);
    const taken = await client.take()!;
    expect(((await taken.query('SELECT pg_backend_pid() AS pid')).rows[0] as { pid: number }).pid).toBe(kept);
    expect(client.take()).toBeUndefined();
    const next = await pidOf(client);
    expect(next).not.toBe(kept);
    await client.close();
    // Closing the session leaves the taken connection to its taker.
    expect(((await taken.query('SELECT pg_backend_pid() AS pid')).rows[0] as { pid: number }).pid).toBe(kept);
    await taken.end();
    expect(await gone(kept)).toBe(true);
  });

  it('pipelined(): queries started together all answer; one that fails fails the whole, and the connection is usable one query at a time after', async () => {
    const client = new SessionClient(endpoint());
    await client.use(async (sql) => {
      const q = async (text: string) => (await sql.query(text)).rows[0] as Record<string, unknown>;
      const got = await pipelined(sql, () => allOf({ a: q('SELECT 1 AS n'), b: q('SELECT pg_sleep(0.05)::text AS s, 2 AS n'), c: q('SELECT 3 AS n') }));
      expect([got.a.n, got.b.n, got.c.n]).toEqual([1, 2, 3]);
      await sql.query('BEGIN');
      await expect(pipelined(sql, () => allOf({ a: q('SELECT 1 AS n'), b: q('SELECT no_such_column FROM pg_class'), c: q('SELECT pg_sleep(0.05)') }))).rejects.toThrow(/no_such_column/);
      expect((sql as unknown as { pipeline: boolean }).pipeline).toBe(false);
      await sql.query('ROLLBACK');
      expect((await q('SELECT 4 AS n')).n).toBe(4);
    });
    await client.close();
  });
});
