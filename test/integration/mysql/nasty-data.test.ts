import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MariaDbServer, startMariaDb } from '../../helpers/mariadb-server.js';
import { tempDir } from '../../helpers/temp.js';
import { readCatalog } from '../../../src/adapters/connectors/mysql/mysql-catalog.js';
import { closeConnection, connectionLost, destroyConnection, openConnection, resolveEndpoint } from '../../../src/adapters/connectors/mysql/mysql-connection.js';
import { loadDataPart } from '../../../src/adapters/connectors/mysql/mysql-load.js';
import { detectFlavor } from '../../../src/adapters/connectors/mysql/mysql-flavor.js';
import { dumpTable } from '../../../src/adapters/connectors/mysql/mysql-table-dump.js';
import { sessionStatements } from '../../../src/adapters/connectors/mysql/mysql-ddl.js';
import { loadSplit, rowChunks } from '../../../src/adapters/connectors/mysql/mysql-load-split.js';
import { backup, restore, tableFingerprints, target } from './harness.js';
import { valueTypesSql } from './value-types.js';

const SETUP = `CREATE DATABASE nasty CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE nasty;
${valueTypesSql({ textRepeat: 60000, blobRepeat: 300000 })}`;

describe('MySQL connector: nasty data round trip (MariaDB)', () => {
  let server: MariaDbServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    server = await startMariaDb();
    dir = await tempDir('mysql-nasty-');
    const conn = await server.connect();
    await conn.query(SETUP);
    await conn.end();
  });
  afterAll(async () => {
    await server?.stop();
    await dir?.cleanup();
  });

  it('restores every type family exactly (row counts and CHECKSUM TABLE), AUTO_INCREMENT kept', async () => {
    const repo = join(dir.path, 'repo');
    const result = await backup(dir.path, { target: target(server, 'nasty', { partSize: 64 * 1024 }), repository: repo, parallel: 2 });
    const m = result.manifest;
    expect(m.engine).toBe('mysql');
    expect(m.logPosition).toMatchObject({ file: expect.stringMatching(/^binlog\.\d+$/), position: expect.any(Number), gtid: expect.any(String) });
    expect(m.warnings.join('\n')).toMatch(/nasty\.aria_t uses the Aria engine/);
    expect(m.objects.find((o) => o.name === 'nasty.keyed')).toMatchObject({ type: 'table', rows: 5000 });
    // Big tables are split into several parts at row boundaries.
    expect(m.parts.filter((p) => p.object === 'nasty.strs').length).toBeGreaterThan(1);
    const files = await readdir(join(repo, m.source, m.id, 'data'));
    expect(files).toContain('nasty.keyed.0.tsv.zst');

    await restore(dir.path, { target: target(server, undefined, { targetDatabase: 'copy', create: true }), repository: repo });
    const [before, after] = [await tableFingerprints(server, 'nasty'), await tableFingerprints(server, 'copy')];
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    expect(after).toEqual(before);
    const create = async (db: string, t: string) =>
      ((await server.query<Record<string, string>>(`SHOW CREATE TABLE \`${db}\`.\`${t}\``))[0]!['Create Table']);
    for (const t of Object.keys(before)) expect(await create('copy', t), t).toBe(await create('nasty', t));
    const [ai] = await server.query<{ a: number }>("SELECT AUTO_INCREMENT AS a FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'copy' AND TABLE_NAME = 'ints'");
    expect(Number(ai!.a)).toBe(6);
    const [ts] = await server.query<{ v: string }>("SELECT CAST(CONVERT_TZ(ts, @@session.time_zone, '+00:00') AS CHAR) AS v FROM copy.times WHERE id = 1");
    expect(ts!.v).toBe('1970-01-01 00:00:01.000001'); // the instant is kept
  });

  it('writes a restore to the binary log (replicas follow it) unless binlog=off, which a privileged user gets, with a warning', async () => {
    const repo = join(dir.path, 'repo');
    const position = async () => (await server.query<{ File: string; Position: number }>('SHOW MASTER STATUS')).map((r) => `${r.File}:${r.Position}`)[0];
    const before = await position();
    const quiet = await restore(dir.path, { target: target(server, 'nolog', { create: true, binlog: 'off' }), repository: repo, tables: ['nasty.keyed'] });
    expect(await position()).toBe(before);
    expect(quiet.outcome?.warnings?.join('\n')).toMatch(/not written to the server's binary log/);
    const logged = await restore(dir.path, { target: target(server, 'logged', { create: true }), repository: repo, tables: ['nasty.keyed'] });
    expect(await position()).not.toBe(before);
    expect(logged.outcome?.warnings?.join('\n') ?? '').not.toMatch(/binary log/);
    expect((await tableFingerprints(server, 'nolog')).keyed?.rows).toBe(5000);
    expect(await tableFingerprints(server, 'nolog')).toEqual(await tableFingerprints(server, 'logged'));
  });

  it('loads one table over several connections at once (small row-aligned pieces) exactly, and rolls all back on a failure', async () => {
    const conns = await Promise.all([0, 1, 2].map(() => openConnection(resolveEndpoint(target(server, 'nasty')))));
    try {
      for (const c of conns) for (const sql of sessionStatements()) await c.query(sql);
      const flavor = await detectFlavor(conns[0]!);
      const catalog = await readCatalog(conns[0]!, flavor, ['nasty']);
      await server.query('CREATE DATABASE split');
      const tables = catalog.tables.filter((t) => t.kind === 'table' && !t.noData && !t.history);
      expect(tables.length).toBeGreaterThan(5);
      for (const t of tables) {
        const chunks: Buffer[] = [];
        const sink = {
          async write(_spec: unknown, body: NodeJS.ReadableStream) {
            for await (const c of body) chunks.push(c as Buffer);
            return {} as never;
          },
        };
        await conns[2]!.query('SET SESSION character_set_results = binary');
        await dumpTable(conns[2]!, t, sink, 1 << 30);
        await server.query(`CREATE TABLE split.\`${t.name}\` LIKE nasty.\`${t.name}\``);
        const columns = t.columns.map((c) => ({ name: c.name, type: c.dataType }));
        const pieces = rowChunks((async function* () { yield* chunks; })(), 4096);
        await loadSplit(conns.slice(0, 2), pieces, { db: 'split', table: t.name, columns }, flavor);
      }
      const [a, b] = [await tableFingerprints(server, 'nasty'), await tableFingerprints(server, 'split')];
      for (const t of tables) expect(b[t.name], t.name).toEqual(a[t.name]);
      // A source that fails after some pieces went in: every connection rolls back, the table stays empty.
      await server.query('CREATE TABLE split.again LIKE nasty.keyed');
      async function* failing() {
        yield [Buffer.from('1\tu1\t2\n')];
        yield [Buffer.from('3\tu3\t4\n')];
        throw new Error('checksum mismatch');
      }
      const keyed = tables.find((t) => t.name === 'keyed')!;
      const columns = keyed.columns.map((c) => ({ name: c.name, type: c.dataType }));
      await expect(loadSplit(conns.slice(1), failing(), { db: 'split', table: 'again', columns }, flavor)).rejects.toThrow(/checksum mismatch/);
      expect(Number((await server.query<{ n: number }>('SELECT COUNT(*) AS n FROM split.again'))[0]!.n)).toBe(0);
    } finally {
      await Promise.all(conns.map((c) => c.end()));
    }
  });

  it('falls back to multi-row INSERT when the server forbids LOAD DATA LOCAL, with the same result', async () => {
    const repo = join(dir.path, 'repo');
    await server.query('SET GLOBAL local_infile = 0');
    try {
      const result = await restore(dir.path, { target: target(server, 'viainsert', { create: true }), repository: repo });
      expect(result.plan.warnings.join('\n')).toMatch(/local_infile=OFF/);
      expect(result.outcome?.warnings?.join('\n')).toMatch(/multi-row INSERTs/);
    } finally {
      await server.query('SET GLOBAL local_infile = 1');
    }
    expect(await tableFingerprints(server, 'viainsert')).toEqual(await tableFingerprints(server, 'nasty'));
  });

  it('fails a table read (E_BACKUP_FAILED) when its connection is destroyed mid-read, instead of waiting forever', async () => {
    const conn = await openConnection(resolveEndpoint(target(server, 'nasty')));
    await server.query("CREATE DATABASE cut; CREATE TABLE cut.t (id INT PRIMARY KEY, v CHAR(20)); INSERT INTO cut.t SELECT seq, 'abcdefghij' FROM cut.seq_1_to_200000");
    const catalog = await readCatalog(conn, await detectFlavor(conn), ['cut']);
    const table = catalog.tables.find((t) => t.name === 't')!;
    let filled!: () => void;
    const full = new Promise<void>((resolve) => (filled = resolve));
    // A sink that never reads: the part fills to its high-water mark, the connection pauses mid-result.
    const stuckSink = {
      write(_spec: unknown, body: NodeJS.ReadableStream) {
        const stream = body as unknown as { readableLength: number; readableHighWaterMark: number };
        const check = setInterval(() => {
          if (stream.readableLength < stream.readableHighWaterMark) return;
          clearInterval(check);
          filled();
        }, 5);
        return new Promise((_resolve, reject) => body.on('error', (err) => (clearInterval(check), reject(err))));
      },
    };
    const dumping = dumpTable(conn, table, stuckSink as never, 1 << 30);
    dumping.catch(() => undefined);
    await full;
    destroyConnection(conn);
    await expect(dumping).rejects.toMatchObject({ code: 'E_BACKUP_FAILED' });
  });

  it('fails a LOAD DATA (and closes at once) when its connection is destroyed mid-file, instead of waiting forever for the answer', async () => {
    const conn = await openConnection(resolveEndpoint(target(server, 'nasty')));
    await server.query('CREATE DATABASE gone; CREATE TABLE gone.t (id INT PRIMARY KEY, v CHAR(20))');
    await conn.query('START TRANSACTION');
    let rows = 0;
    let asked!: () => void;
    const waiting = new Promise<void>((resolve) => (asked = resolve));
    // 1000 rows, then nothing more (the file never ends): the server waits for the rest.
    const body = new Readable({
      read() {
        if (rows >= 1000) return asked();
        rows += 100;
        this.push(Array.from({ length: 100 }, (_, i) => `${rows - 100 + i + 1}\tabc\n`).join(''));
      },
    });
    const loading = loadDataPart(conn, body, { db: 'gone', table: 't', columns: [{ name: 'id', type: 'int' }, { name: 'v', type: 'char' }] }, await detectFlavor(conn));
    loading.catch(() => undefined);
    await waiting;
    // Everything read so far is on its way (nothing more will be written): the statement only waits now.
    const socket = (conn as unknown as { connection: { stream: { writableLength: number } } }).connection.stream;
    for (let i = 0; i < 5 || socket.writableLength > 0; i++) await new Promise((r) => setImmediate(r));
    // As a restore stopped by Ctrl-C, or closing its other connections when one is lost, does.
    destroyConnection(conn);
    await expect(loading).rejects.toMatchObject({ code: 'PROTOCOL_CONNECTION_LOST' });
    expect(body.destroyed).toBe(true);
    expect(connectionLost(conn)).toBe(true);
    await closeConnection(conn);
    expect(Number((await server.query<{ n: number }>('SELECT COUNT(*) AS n FROM gone.t'))[0]!.n)).toBe(0);
  });

  it('streams with backpressure: a slow sink pauses the connection, which works again afterwards', async () => {
    const conn = await openConnection(resolveEndpoint(target(server, 'nasty')));
    try {
      await server.query("CREATE DATABASE slow; CREATE TABLE slow.t (id INT PRIMARY KEY, v CHAR(20)); INSERT INTO slow.t SELECT seq, 'abcdefghij' FROM slow.seq_1_to_200000");
      const catalog = await readCatalog(conn, await detectFlavor(conn), ['slow']);
      const table = catalog.tables.find((t) => t.name === 't')!;
      // The connection's socket under the promise wrapper: count its pauses (it stops reading, the server waits).
      const socket = (conn as unknown as { connection: { stream: { pause(): void } } }).connection.stream;
      const pause = socket.pause.bind(socket);
      let pauses = 0;
      socket.pause = () => {
        pauses++;
        pause();
      };
      let bytes = 0;
      let buffered = 0;
      const slowSink = {
        async write(_spec: unknown, body: NodeJS.ReadableStream) {
          // Read nothing until the part holds its high-water mark: the push that fills it must pause
          // the connection, however fast or slow the server is today (no race on timing).
          const stream = body as unknown as { readableLength: number; readableHighWaterMark: number; readableEnded: boolean };
          while (stream.readableLength < stream.readableHighWaterMark && !stream.readableEnded) await new Promise((r) => setTimeout(r, 5));
          for await (const chunk of body) {
            bytes += (chunk as Buffer).length;
            buffered = Math.max(buffered, (body as unknown as { readableLength: number }).readableLength);
            await new Promise((r) => setTimeout(r, 2));
          }
          return {} as never;
        },
      };
      const result = await dumpTable(conn, table, slowSink, 1 << 30);
      expect(result.bytes).toBe(bytes);
      expect(bytes).toBeGreaterThan(2_000_000);
      expect(pauses).toBeGreaterThan(0);
      // What waits in the part stream stays near its 1 MiB high-water mark, not the table's size.
      expect(buffered).toBeLessThan(4 << 20);
      const [rows] = await conn.query('SELECT 1 AS ok');
      expect(rows).toEqual([{ ok: 1 }]);
    } finally {
      await conn.end();
    }
  });
});
