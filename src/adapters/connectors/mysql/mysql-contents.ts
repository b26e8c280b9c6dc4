import type { PartEntry } from '../../../domain/manifest.js';
import type { PartSink } from '../../../application/ports/parts.js';
import type { TableContents, TableDigest } from '../../../application/ports/table-contents.js';
import { chooseTables } from '../table-digest.js';
import { MARKER_TABLE_FLAT } from '../restore-marker.js';
import { readCatalog } from './mysql-catalog.js';
import { closeConnection, destroyConnection, describeEndpoint, type MysqlEndpoint, openConnection } from './mysql-connection.js';
import { chooseDatabases, hasData, prepareSession, RAW_RESULTS } from './mysql-dump.js';
import { detectFlavor } from './mysql-flavor.js';
import { dumpTable, tableObjectName } from './mysql-table-dump.js';

/** A sink that reads each part to its end and keeps nothing: the table is streamed for its digest only. */
const DISCARD: PartSink = {
  async write(spec, body): Promise<PartEntry> {
    let size = 0;
    for await (const chunk of body) size += (chunk as Buffer).length;
    return { name: spec.name, role: spec.role, codecs: [], rawSize: size, storedSize: size, sha256: '' };
  },
};

/**
 * MySQL/MariaDB tables' digests (the endpoint's databases), read in one consistent snapshot. Each
 * table is streamed exactly as a backup dumps it (mysql-table-dump.ts: its stored columns, the
 * same session settings, raw bytes) and each TSV line hashed, so that the digest equals the one a
 * backup recorded of the same rows (ObjectEntry.contentHash).
 */
export class MysqlContents implements TableContents {
  constructor(private readonly endpoint: MysqlEndpoint) {}

  async digest(filter: { tables?: string[] }, signal: AbortSignal): Promise<TableDigest[]> {
    const conn = await openConnection(this.endpoint);
    const onAbort = () => destroyConnection(conn);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const flavor = await detectFlavor(conn);
      const dbs = await chooseDatabases(conn, this.endpoint);
      await prepareSession(conn);
      await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
      const catalog = await readCatalog(conn, flavor, dbs);
      const tables = new Map(catalog.tables.filter((t) => hasData(t) && t.name !== MARKER_TABLE_FLAT).map((t) => [tableObjectName(t), t]));
      const single = dbs.length === 1 ? dbs[0] : undefined;
      const chosen = chooseTables([...tables.keys()].sort(), filter.tables, describeEndpoint(this.endpoint), (t, want) => t === want || t === `${single}.${want}`);
      await conn.query(RAW_RESULTS);
      const out: TableDigest[] = [];
      for (const table of chosen) {
        const r = await dumpTable(conn, tables.get(table)!, DISCARD, Number.MAX_SAFE_INTEGER);
        signal.throwIfAborted();
        // One database: tables by their own names, so that `app.t` and its restored `copy.t` compare.
        out.push({ table: single ? table.slice(table.indexOf('.') + 1) : table, rows: r.rows, hash: r.contentHash ?? '' });
      }
      await conn.query('COMMIT');
      return out;
    } finally {
      signal.removeEventListener('abort', onAbort);
      await closeConnection(conn);
    }
  }
}
