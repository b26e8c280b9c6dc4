import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CopyOutQuery } from '../../../src/adapters/connectors/postgres/postgres-copy-reader.js';
import { loadsInParallel } from '../../../src/adapters/connectors/postgres/postgres-restore.js';
import { planJobs } from '../../../src/adapters/connectors/postgres/postgres-copy-out.js';
import type { DataTable } from '../../../src/adapters/connectors/postgres/postgres-schema-model.js';
import { type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';

const require = createRequire(import.meta.url);
const { to: copyTo } = require('pg-copy-streams') as typeof import('pg-copy-streams');

/** One protocol message: code byte, int32 length (itself included), body. */
const message = (code: string, body: Buffer | string) => {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const head = Buffer.alloc(5);
  head.write(code, 0, 'latin1');
  head.writeUInt32BE(b.length + 4, 1);
  return Buffer.concat([head, b]);
};

/** A stand-in for pg's Connection: a socket-like emitter with pg's own data listener on it. */
function fakeConnection() {
  const stream = Object.assign(new EventEmitter(), { pause() {}, resume() {}, destroy() {} });
  const handedBack: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => handedBack.push(Buffer.from(chunk)));
  return { connection: { stream, query() {} } as unknown as pg.Connection, stream, handedBack };
}

async function drain(query: CopyOutQuery): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of query) out.push(Buffer.from(chunk));
  return Buffer.concat(out);
}

describe('CopyOutQuery framing', () => {
  const rows = [Buffer.from('1\tone\n'), Buffer.from('2\t\\N\n'), Buffer.alloc(200_000, 'x'), Buffer.from('4\tü😀\n'), Buffer.from('\n')];
  const before = Buffer.concat([message('H', Buffer.from([0, 0, 1, 0, 0])), message('d', rows[0]!), message('N', 'notice\0'), message('d', rows[1]!)]);
  const after = Buffer.concat([message('d', rows[2]!), message('S', 'TimeZone\0UTC\0'), message('d', rows[3]!), message('d', rows[4]!)]);
  const tail = Buffer.concat([message('C', 'COPY 5\0'), message('Z', 'I')]);

  it.each([1, 2, 3, 4, 5, 6, 7, 13, 4096, 65536, 1 << 20])('strips the framing of any chunking (%i-byte socket reads)', async (size) => {
    const wire = Buffer.concat([before, after, message('c', ''), tail]);
    const { connection, stream, handedBack } = fakeConnection();
    const query = new CopyOutQuery('COPY t TO STDOUT');
    query.submit(connection);
    // Fresh buffers, as a socket delivers them (the reader may rewrite them in place).
    for (let i = 0; i < wire.length; i += size) stream.emit('data', Buffer.from(wire.subarray(i, i + size)));
    expect((await drain(query)).equals(Buffer.concat(rows))).toBe(true);
    // pg's own parser gets everything after CopyDone, and the socket back.
    expect(Buffer.concat(handedBack).equals(tail)).toBe(true);
    expect(stream.listenerCount('data')).toBe(1);
  });

  it('hands an ErrorResponse to pg and fails the iteration with pg’s error', async () => {
    const error = message('E', 'SERROR\0Mdivision by zero\0\0');
    const wire = Buffer.concat([before, error, message('Z', 'I')]);
    for (const size of [1, 3, 4096]) {
      const { connection, stream, handedBack } = fakeConnection();
      const query = new CopyOutQuery('COPY t TO STDOUT');
      query.submit(connection);
      for (let i = 0; i < wire.length; i += size) stream.emit('data', Buffer.from(wire.subarray(i, i + size)));
      expect(Buffer.concat(handedBack).equals(wire.subarray(before.length))).toBe(true);
      query.handleError(new Error('division by zero'));
      await expect(drain(query)).rejects.toThrow('division by zero');
      await expect(query.finished).rejects.toThrow('division by zero');
    }
  });
});

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
    const query = other.query(new CopyOutQuery('COPY t TO STDOUT'));
    for await (const _ of query) break;
    query.abort(new Error('consumer stopped'));
    await expect(query.finished).rejects.toThrow();
    await other.end().catch(() => undefined);
  });
});

describe('parallel plans', () => {
  const table = (oid: number) => ({ oid }) as DataTable;
  it('reads a table in page ranges only when it dwarfs an even share of the data', () => {
    const pages = new Map([
      [1, 57_000],
      [2, 33_000],
      [3, 15_000],
      [4, 5_000],
    ]);
    expect(planJobs([table(1), table(2), table(3), table(4)], pages, 2).length).toBe(4);
    const dominant = new Map([...pages, [1, 500_000]]);
    expect(planJobs([table(1), table(2), table(3), table(4)], dominant, 2).filter((j) => j.table.oid === 1).length).toBe(Math.ceil(500_000 / 8192));
    expect(planJobs([table(1)], dominant, 1).length).toBe(1);
  });

  it('loads a table over several connections only when it dwarfs an even share of the data', () => {
    expect(loadsInParallel(350, 690, 2)).toBe(false);
    expect(loadsInParallel(600, 690, 2)).toBe(true);
    expect(loadsInParallel(600, 690, 1)).toBe(false);
  });
});
