import type pg from 'pg';
import { DbBackupError } from '../../../domain/errors.js';
import { type PgEndpoint, openClient, quoteIdent, quoteLiteral } from './connection.js';
import { largeObjectsDigest } from './postgres-large-objects.js';
import { createSlot, openReplication } from './postgres-replication.js';

/**
 * Tables the publication leaves out (no primary key nor replica identity: publishing them would
 * make their UPDATEs and DELETEs fail on the server) are captured whole instead: each read of
 * the changes ends at the consistent point of a temporary slot, whose exported snapshot sees
 * exactly the transactions before it, and those tables are read in that snapshot into one
 * synthetic transaction at the end of the batch: a replace (`R`: delete every row) and an insert
 * per row. Restoring to a time before the batch's end leaves them as of the previous backup.
 */

/** A temporary slot's consistent point and its snapshot, valid while `client` stays open and idle. */
export interface EndSnapshot {
  client: pg.Client;
  lsn: string;
  snapshot: string;
  /** The server's time just after the point, with microseconds (ISO, UTC). */
  time: string;
}

/** The database's permanent tables that are not in `publication`, as [schema, table]. */
export async function unpublishedTables(sql: pg.Client, publication: string): Promise<[string, string][]> {
  const rows = (
    await sql.query(
      `SELECT n.nspname AS schema, c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables p WHERE p.pubname = $1 AND p.schemaname = n.nspname AND p.tablename = c.relname)
        ORDER BY 1, 2`,
      [publication],
    )
  ).rows as { schema: string; name: string }[];
  return rows.map((r) => [r.schema, r.name]);
}

/**
 * Creates the temporary slot (it waits for the transactions running now to end) and reads the time
 * on `sql` (any command on the slot's own connection would end its snapshot).
 */
export async function endSnapshot(endpoint: PgEndpoint, sql: pg.Client): Promise<EndSnapshot> {
  const client = await openReplication(endpoint);
  try {
    const slot = await createSlot(client, `dbbackup_tmp_${process.pid}_${Date.now().toString(36)}`, true);
    const time = await serverTime(sql);
    return { client, lsn: slot.consistentPoint, snapshot: slot.snapshotName, time };
  } catch (err) {
    await client.end().catch(() => undefined);
    if ((err as { code?: string }).code === '53400') {
      throw new DbBackupError(
        'E_BACKUP_FAILED',
        `Reading the tables without a replica identity needs one more (temporary) replication slot, and all are in use (${(err as Error).message}): raise max_replication_slots (and restart), drop an unused slot (dbbackup slot list), or give those tables a primary key.`,
        { cause: err, details: { setting: 'max_replication_slots' } },
      );
    }
    throw err;
  }
}

export async function serverTime(client: pg.Client): Promise<string> {
  const row = (await client.query(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`)).rows[0] as { t: string };
  return row.t;
}

const BATCH = 1000;

/**
 * The change-log lines of the synthetic transaction: begin, then per table a replace and its rows
 * as inserts (values as the server's text), then commit; read in `end`'s snapshot.
 */
export async function* tableImageLines(endpoint: PgEndpoint, end: EndSnapshot, tables: [string, string][], counted: (rel: [string, string], rows: number) => void): AsyncGenerator<string> {
  const sql = await openClient(endpoint);
  try {
    await sql.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    await sql.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(end.snapshot)}`);
    yield `${JSON.stringify({ begin: { xid: 0, lsn: end.lsn, time: end.time } })}\n`;
    for (const rel of tables) {
      yield `${JSON.stringify({ op: 'R', rel })}\n`;
      counted(rel, 0);
      const ident = `${quoteIdent(rel[0])}.${quoteIdent(rel[1])}`;
      const columns = (
        await sql.query(
          `SELECT a.attname::text AS name FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum`,
          [ident],
        )
      ).rows as { name: string }[];
      const list = columns.map((c) => quoteIdent(c.name)).join(', ');
      await sql.query(`DECLARE dbbackup_image NO SCROLL CURSOR FOR SELECT ${list} FROM ONLY ${ident}`);
      for (;;) {
        const result = await sql.query({ text: `FETCH ${BATCH} FROM dbbackup_image`, rowMode: 'array', types: { getTypeParser: () => (v: string) => v } } as pg.QueryConfig);
        const names = result.fields.map((f) => f.name);
        let lines = '';
        for (const row of result.rows as (string | null)[][]) lines += `${JSON.stringify({ op: 'I', rel, new: names.map((n, i) => [n, row[i] ?? null]) })}\n`;
        if (lines) yield lines;
        counted(rel, result.rows.length);
        if (result.rows.length < BATCH) break;
      }
      await sql.query('CLOSE dbbackup_image');
    }
    yield `${JSON.stringify({ commit: { lsn: end.lsn, end: end.lsn, time: end.time } })}\n`;
    await sql.query('COMMIT');
  } finally {
    await sql.end().catch(() => undefined);
  }
}

/**
 * A digest of the user tables' shape (names, columns, types, replica identity, primary keys): the
 * change log carries no DDL, so a read whose digest differs from its parent's cannot be applied to
 * the parent's state. Read in the caller's transaction (a snapshot's view when it imported one).
 */
export async function schemaFingerprint(sql: pg.Client): Promise<string> {
  const row = (
    await sql.query(`SELECT md5(coalesce(string_agg(format('%I.%I %s %s %s (%s)', n.nspname, c.relname, c.relkind, c.relreplident,
        EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),
        (SELECT string_agg(format('%I %s %s', a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attgenerated), ', ' ORDER BY a.attnum)
           FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)), E'\\n' ORDER BY n.nspname, c.relname), '')) AS fp
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`)
  ).rows[0] as { fp: string };
  return row.fp;
}

/** The tables' fingerprint and the large objects' digest as of an exported snapshot (read on a connection of its own, which imports it). */
export async function snapshotFingerprint(endpoint: PgEndpoint, snapshot: string): Promise<{ schema: string; largeObjects: string }> {
  const sql = await openClient(endpoint);
  try {
    await sql.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    await sql.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)}`);
    const fp = { schema: await schemaFingerprint(sql), largeObjects: await largeObjectsDigest(sql) };
    await sql.query('COMMIT');
    return fp;
  } finally {
    await sql.end().catch(() => undefined);
  }
}
