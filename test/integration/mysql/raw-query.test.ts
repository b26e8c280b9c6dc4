import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MariaDbServer, startMariaDb } from '../../helpers/mariadb-server.js';
import { readCatalog } from '../../../src/adapters/connectors/mysql/mysql-catalog.js';
import { type MysqlConnection, openConnection, resolveEndpoint } from '../../../src/adapters/connectors/mysql/mysql-connection.js';
import { detectFlavor } from '../../../src/adapters/connectors/mysql/mysql-flavor.js';
import { rawQuery, rawQueryAvailable } from '../../../src/adapters/connectors/mysql/mysql-raw-query.js';
import { dumpTable } from '../../../src/adapters/connectors/mysql/mysql-table-dump.js';
import { TsvDecoder } from '../../../src/adapters/connectors/mysql/mysql-tsv.js';
import { target } from './harness.js';

// The dump's own reader of result rows (COM_QUERY on mysql2's socket, rows framed and encoded from
// the socket's chunks): values over 16 MiB (several protocol packets per row), errors before and
// in the middle of a result, and the connection usable by mysql2 after each.
describe('MySQL raw result reader (MariaDB)', () => {
  let server: MariaDbServer;
  let conn: MysqlConnection;
  const BIG = 6 * 1024 * 1024 + 11; // REPEAT of 3 bytes: a value of 18 MiB + 33 bytes

  beforeAll(async () => {
    server = await startMariaDb({ args: ['--max-allowed-packet=64M'] });
    await server.query(`CREATE DATABASE raw; CREATE TABLE raw.big (v LONGBLOB, id INT PRIMARY KEY, t LONGTEXT) CHARACTER SET utf8mb4;
      INSERT INTO raw.big VALUES (REPEAT(0x5C0A09, ${BIG}), 1, 'after'), (0x00, 2, REPEAT('é\\t', 9000000)), (NULL, 3, '\\\\N');`);
    conn = await openConnection(resolveEndpoint(target(server, 'raw')));
  });
  afterAll(async () => {
    await conn?.end();
    await server?.stop();
  });

  it('dumps rows with values over 16 MiB (first column and last) byte for byte, without mysql2 parsing a row', async () => {
    expect(rawQueryAvailable(conn)).toBe(true);
    const core = (conn as unknown as { connection: { packetParser: { execute(b: Buffer): void } } }).connection;
    const parser = core.packetParser;
    let mysql2Chunks = 0;
    const execute = parser.execute.bind(parser);
    parser.execute = (b: Buffer) => {
      mysql2Chunks++;
      execute(b);
    };
    const table = (await readCatalog(conn, await detectFlavor(conn), ['raw'])).tables.find((t) => t.name === 'big')!;
    await conn.query('SET SESSION character_set_results = binary');
    const rows: (Buffer | null)[][] = [];
    const decoder = new TsvDecoder();
    const sink = {
      async write(_spec: unknown, body: NodeJS.ReadableStream) {
        for await (const c of body) decoder.push(c as Buffer, (r) => rows.push(r));
        return {} as never;
      },
    };
    mysql2Chunks = 0;
    const result = await dumpTable(conn, table, sink, 1 << 30);
    expect(mysql2Chunks).toBe(0);
    expect(core.packetParser).toBe(parser);
    decoder.end((r) => rows.push(r));
    expect(result.rows).toBe(3);
    const sha = (b: Buffer | null) => (b === null ? null : createHash('sha256').update(b).digest('hex'));
    const server256 = await server.query<{ v: string | null; t: string }>('SELECT SHA2(v, 256) AS v, SHA2(t, 256) AS t FROM raw.big ORDER BY id');
    expect(rows.map((r) => [sha(r[0]!), r[1]!.toString(), sha(r[2]!)])).toEqual(server256.map((s, i) => [s.v, String(i + 1), s.t]));
    expect(rows[0]![0]!.length).toBe(3 * BIG);
    // mysql2 has its connection back.
    const [again] = await conn.query('SELECT 42 AS x');
    expect(again).toEqual([{ x: 42 }]);
    await conn.query('SET SESSION character_set_results = utf8mb4');
  });

  it('rejects with the server error before a result and in the middle of one; the connection works after each', async () => {
    const seen: number[] = [];
    const handler = { row: () => (seen.push(1), true) };
    await expect(rawQuery(conn, 'SELECT * FROM raw.missing', handler, { columns: 1 }).done).rejects.toMatchObject({ errno: 1146, code: 'ER_NO_SUCH_TABLE' });
    expect((await conn.query('SELECT 1 AS x'))[0]).toEqual([{ x: 1 }]);
    // Row 5000 fails (a subquery of two rows where one value is expected), after rows went out.
    const failing = 'SELECT seq, IF(seq = 5000, (SELECT 1 UNION SELECT 2), seq) FROM raw.seq_1_to_20000';
    await expect(rawQuery(conn, failing, handler, { columns: 2 }).done).rejects.toMatchObject({ errno: 1242, sqlState: '21000' });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.length).toBeLessThan(20000);
    expect((await conn.query('SELECT 2 AS x'))[0]).toEqual([{ x: 2 }]);
    seen.length = 0;
    await expect(rawQuery(conn, 'SELECT seq FROM raw.seq_1_to_70000', handler, { columns: 1 }).done).resolves.toBe(70000);
    expect(seen.length).toBe(70000);
    expect((await conn.query('SELECT 3 AS x'))[0]).toEqual([{ x: 3 }]);
  });

  it('refuses a result whose column count is not the one expected (E_BACKUP_FAILED)', async () => {
    const other = await openConnection(resolveEndpoint(target(server, 'raw')));
    try {
      await expect(rawQuery(other, 'SELECT 1, 2', { row: () => true }, { columns: 3 }).done).rejects.toMatchObject({ code: 'E_BACKUP_FAILED' });
    } finally {
      other.destroy();
    }
  });
});
