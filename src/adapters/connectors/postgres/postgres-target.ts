import type pg from 'pg';
import { DbBackupError, isDbBackupError } from '../../../domain/errors.js';
import { type PgEndpoint, describeEndpoint, openClient, quoteIdent, quoteLiteral } from './connection.js';
import type { DatabaseLocale } from './postgres-toc.js';
import { MARKER_COMMENT, MARKER_SCHEMA, MARKER_TABLE, markerFromRow, type RestoreMarker } from '../restore-marker.js';

export interface TargetState {
  exists: boolean;
  /** User relations, types and functions (outside system schemas, not extension members). */
  objects: string[];
  /** How many user objects there are (objects holds at most the first 50). */
  count: number;
}

/** Looks at the target database without changing anything. */
export async function inspectTarget(endpoint: PgEndpoint): Promise<TargetState> {
  let client: pg.Client;
  try {
    client = await openClient(endpoint);
  } catch (err) {
    if (isDbBackupError(err, 'E_NOT_FOUND')) return { exists: false, objects: [], count: 0 };
    throw err;
  }
  try {
    return { exists: true, ...(await userObjects(client)) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

const USER_OBJECTS = `
  WITH o AS (
    SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('information_schema', '${MARKER_SCHEMA}') AND n.nspname !~ '^pg_'
      AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
    UNION ALL SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
      AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid AND e.deptype = 'e')
    UNION ALL SELECT format_type(t.oid, NULL) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE t.typtype IN ('e', 'd', 'r') AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
      AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_type'::regclass AND e.objid = t.oid AND e.deptype = 'e'))
  SELECT (SELECT count(*)::int FROM o) AS count, ARRAY(SELECT name FROM o ORDER BY name LIMIT 50) AS objects`;

export async function userObjects(client: pg.Client): Promise<{ objects: string[]; count: number }> {
  const row = (await client.query(USER_OBJECTS)).rows[0] as { count: number; objects: string[] };
  return row;
}

const MARKER = `${quoteIdent(MARKER_SCHEMA)}.${quoteIdent(MARKER_TABLE)}`;

/** The incomplete-restore mark the target holds (see restore-marker.ts), if any. */
export async function readMarker(client: pg.Client): Promise<RestoreMarker | undefined> {
  const found = (await client.query('SELECT to_regclass($1) IS NOT NULL AS found', [MARKER])).rows[0] as { found: boolean };
  if (!found.found) return undefined;
  const row = (await client.query(`SELECT backup_id, source, started_at, host, pid FROM ${MARKER} LIMIT 1`)).rows[0] as Record<string, unknown> | undefined;
  return markerFromRow(row ?? {});
}

/** SQL that sets the mark, run in the transaction of the restore's first change. */
export function writeMarkerSql(m: RestoreMarker): string {
  return [
    `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(MARKER_SCHEMA)}`,
    `COMMENT ON SCHEMA ${quoteIdent(MARKER_SCHEMA)} IS ${quoteLiteral(MARKER_COMMENT)}`,
    `CREATE TABLE IF NOT EXISTS ${MARKER} (backup_id text, source text, started_at timestamptz, host text, pid integer)`,
    `DELETE FROM ${MARKER}`,
    `INSERT INTO ${MARKER} VALUES (${[m.backupId, m.source, m.startedAt, m.host].map(quoteLiteral).join(', ')}, ${Math.trunc(m.pid)})`,
  ].join(';\n');
}

/** SQL that removes the mark once the restore's last change is made. */
export const CLEAR_MARKER_SQL = `DROP SCHEMA IF EXISTS ${quoteIdent(MARKER_SCHEMA)} CASCADE`;

/** Names (manifest style `schema.table`) of the given relations that exist in the target. */
export async function existingRelations(client: pg.Client, names: string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const rows = (
    await client.query(
      `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname || '.' || c.relname = ANY($1::text[])`,
      [names],
    )
  ).rows as { name: string }[];
  return rows.map((r) => r.name);
}

/** A connection to the server's maintenance database (postgres, else template1). */
async function maintenanceClient(endpoint: PgEndpoint): Promise<pg.Client> {
  for (const db of ['postgres', 'template1']) {
    try {
      return await openClient(endpoint, db);
    } catch (err) {
      if (!isDbBackupError(err, 'E_NOT_FOUND')) throw err;
    }
  }
  throw new DbBackupError('E_NOT_FOUND', `Cannot reach a maintenance database (postgres or template1) on ${endpoint.host}:${endpoint.port} to create or drop "${endpoint.database}".`);
}

/**
 * Creates the target database like the source (encoding and locale, from template0). Falls back to
 * the server's default locale, with a warning, when the source's locale does not exist here.
 */
export async function createDatabase(endpoint: PgEndpoint, info: { encoding: string; collate: string; ctype: string; locale?: DatabaseLocale }): Promise<string[]> {
  const warnings: string[] = [];
  const admin = await maintenanceClient(endpoint);
  const base = `CREATE DATABASE ${quoteIdent(endpoint.database)} TEMPLATE template0 ENCODING ${quoteLiteral(info.encoding)}`;
  try {
    try {
      await admin.query(`${base} LC_COLLATE ${quoteLiteral(info.collate)} LC_CTYPE ${quoteLiteral(info.ctype)}${providerSql(info.locale)}`);
    } catch (err) {
      if (!/locale|collation|incompatible/i.test(String((err as Error).message))) throw err;
      await admin.query(base);
      const what = info.locale?.locale ? `${info.collate}/${info.ctype}, ${info.locale.provider === 'i' ? 'ICU' : 'builtin'} ${info.locale.locale}` : `${info.collate}/${info.ctype}`;
      warnings.push(`The source's locale (${what}) is not available here; ${endpoint.database} uses the server's default locale.`);
    }
  } catch (err) {
    throw new DbBackupError('E_RESTORE_FAILED', `Could not create the database ${describeEndpoint(endpoint)}: ${(err as Error).message}`, { cause: err });
  } finally {
    await admin.end().catch(() => undefined);
  }
  return warnings;
}

/** Drops the database a failed --strict restore created (its connections are closed first). */
export async function dropDatabase(endpoint: PgEndpoint): Promise<void> {
  const admin = await maintenanceClient(endpoint);
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(endpoint.database)} WITH (FORCE)`);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

/** LOCALE_PROVIDER clauses for an ICU (PostgreSQL 15+) or builtin (17+) database; empty for libc. */
function providerSql(l: DatabaseLocale | undefined): string {
  if (!l?.provider || l.provider === 'c' || !l.locale) return '';
  if (l.provider === 'i') return ` LOCALE_PROVIDER icu ICU_LOCALE ${quoteLiteral(l.locale)}${l.icu_rules ? ` ICU_RULES ${quoteLiteral(l.icu_rules)}` : ''}`;
  if (l.provider === 'b') return ` LOCALE_PROVIDER builtin BUILTIN_LOCALE ${quoteLiteral(l.locale)}`;
  return '';
}
