import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CopyOutQuery } from '../../../src/adapters/connectors/postgres/postgres-copy-reader.js';
import { type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';

const require = createRequire(import.meta.url);
const { to: copyTo } = require('pg-copy-streams') as typeof import('pg-copy-streams');

async function drain(query: CopyOutQuery): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of query) out.push(Buffer.from(chunk));
  return Buffer.concat(out);
}

describe('CopyOutQuery against PostgreSQL', () => {
  let server: PostgresServer;
  let client: pg.Client;
  beforeAll(async () => {
    server = await startPostgres();
    client = await server.connect();
    await client.query(`CREATE TABLE t AS SELECT i, md5(i::text) AS h, repeat(E'\\t\\\\x', i % 7) AS odd FROM generate_series(1, 200000) i`);
  });
  afterAll(async () => {
    await client?.end();
    await server?.stop();
  });

  it('yields exactly the bytes of COPY TO STDOUT, and the row count', async () => {
    const reference = createHash('sha256');
    for await (const chunk of client.query(copyTo('COPY t TO STDOUT'))) reference.update(chunk as Buffer);
    const query = client.query(new CopyOutQuery('COPY t TO STDOUT'));
    const ours = createHash('sha256').update(await drain(query));
    expect(await query.finished).toBe(200000);
    expect(ours.digest('hex')).toBe(reference.digest('hex'));
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('fails on a server error in the middle of the data, and leaves the connection usable', async () => {
    const query = client.query(new CopyOutQuery('COPY (SELECT CASE WHEN i < 100000 THEN i ELSE 1 / (i - i) END FROM generate_series(1, 200000) i) TO STDOUT'));
    await expect(drain(query)).rejects.toThrow(/division by zero/);
    await expect(query.finished).rejects.toThrow(/division by zero/);
    expect((await client.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
  });

  it('closes the connection when the consumer gives up half-way', async () => {
    const other = await server.connect();
    other.on('error', () => undefined);
    const pid = Number((await other.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
    const alive = async () => (await client.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0].n as number;
    expect(await alive()).toBe(1);
    const query = other.query(new CopyOutQuery('COPY t TO STDOUT'));
    for await (const _ of query) break;
    query.abort(new Error('consumer stopped'));
    await expect(query.finished).rejects.toThrow();
    // The client can no longer be used, and the server's backend for it goes away.
    await expect(other.query('SELECT 1')).rejects.toThrow();
    while ((await alive()) !== 0) await new Promise((r) => setTimeout(r, 20));
    await other.end().catch(() => undefined);
  });
});
