import type { TableContents, TableDigest } from '../../../application/ports/table-contents.js';
import { chooseTables, LineDigest } from '../table-digest.js';
import { type PgEndpoint, describeEndpoint, openClient, quoteIdent } from './connection.js';
import { MARKER_SCHEMA } from '../restore-marker.js';
import { copyStreams } from './pg-driver.js';

const { to: copyTo } = copyStreams;

/** Plain tables (partitions included, partitioned parents not: their rows are the partitions'), outside system schemas, not extension members. */
const TABLES = `
  SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND n.nspname NOT IN ('information_schema', $1) AND n.nspname !~ '^pg_'
    AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
  ORDER BY 1, 2`;

/**
 * PostgreSQL tables' digests, all read in one REPEATABLE READ snapshot. Each row is hashed as COPY
 * text gives it (one line per row: a newline inside a value is escaped), which is the server's
 * canonical text of every type and what a backup's data parts hold: a backup records the same
 * digest of each table as it dumps it (postgres-copy-out.ts), with the same columns (COPY leaves
 * generated columns out, as the dump's column list does).
 */
export class PostgresContents implements TableContents {
  constructor(private readonly endpoint: PgEndpoint) {}

  async digest(filter: { tables?: string[] }, signal: AbortSignal): Promise<TableDigest[]> {
    const client = await openClient(this.endpoint);
    const onAbort = () => (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const rows = (await client.query(TABLES, [MARKER_SCHEMA])).rows as { schema: string; name: string }[];
      const names = new Map(rows.map((r) => [`${r.schema}.${r.name}`, r]));
      const chosen = chooseTables([...names.keys()], filter.tables, describeEndpoint(this.endpoint), (t, want) => t === want || t === `public.${want}`);
      const out: TableDigest[] = [];
      for (const table of chosen) {
        const r = names.get(table)!;
        const lines = new LineDigest();
        const stream = client.query(copyTo(`COPY ${quoteIdent(r.schema)}.${quoteIdent(r.name)} TO STDOUT`));
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          lines.push(chunk);
          signal.throwIfAborted();
        }
        const digest = lines.end();
        out.push({ table, rows: digest.rows, hash: digest.hash });
      }
      await client.query('COMMIT');
      return out;
    } finally {
      signal.removeEventListener('abort', onAbort);
      await client.end().catch(() => undefined);
    }
  }
}
