import type { TableContents, TableDigest } from '../../../application/ports/table-contents.js';
import { chooseTables, RowDigest, rowText } from '../table-digest.js';
import { closeConnection, destroyConnection, describeEndpoint, type MysqlEndpoint, openConnection, qn } from './mysql-connection.js';
import { chooseDatabases } from './mysql-dump.js';
import { MARKER_TABLE_FLAT } from '../restore-marker.js';

interface RowQuery {
  on(event: 'result', listener: (row: (Buffer | null)[]) => void): RowQuery;
  on(event: 'error', listener: (err: Error) => void): RowQuery;
  on(event: 'end', listener: () => void): RowQuery;
}

/**
 * MySQL/MariaDB tables' digests (the endpoint's databases), read in one consistent snapshot. Each
 * value is hashed as the bytes the server sends in its text protocol (typeCast off), which is the
 * server's canonical text of every type.
 */
export class MysqlContents implements TableContents {
  constructor(private readonly endpoint: MysqlEndpoint) {}

  async digest(filter: { tables?: string[] }, signal: AbortSignal): Promise<TableDigest[]> {
    const conn = await openConnection(this.endpoint);
    const onAbort = () => destroyConnection(conn);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const dbs = await chooseDatabases(conn, this.endpoint);
      await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
      const [rows] = await conn.query(
        `SELECT TABLE_SCHEMA AS db, TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (${dbs.map(() => '?').join(', ')}) AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME <> ? ORDER BY 1, 2`,
        [...dbs, MARKER_TABLE_FLAT],
      );
      const names = (rows as { db: string; name: string }[]).map((r) => `${r.db}.${r.name}`);
      const single = dbs.length === 1 ? dbs[0] : undefined;
      const chosen = chooseTables(names, filter.tables, describeEndpoint(this.endpoint), (t, want) => t === want || t === `${single}.${want}`);
      const core = (conn as unknown as { connection: { query(options: object): RowQuery } }).connection;
      const out: TableDigest[] = [];
      for (const table of chosen) {
        const dot = table.indexOf('.');
        const digest = new RowDigest();
        await new Promise<void>((resolve, reject) => {
          core
            .query({ sql: `SELECT * FROM ${qn(table.slice(0, dot), table.slice(dot + 1))}`, rowsAsArray: true, typeCast: false })
            .on('result', (row) => digest.add(rowText(row)))
            .on('error', reject)
            .on('end', resolve);
        });
        signal.throwIfAborted();
        // One database: tables by their own names, so that `app.t` and its restored `copy.t` compare.
        out.push({ table: single ? table.slice(dot + 1) : table, rows: digest.rows, hash: digest.hash });
      }
      await conn.query('COMMIT');
      return out;
    } finally {
      signal.removeEventListener('abort', onAbort);
      await closeConnection(conn);
    }
  }
}
