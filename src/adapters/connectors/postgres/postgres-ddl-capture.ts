import type pg from 'pg';
import { DbBackupError } from '../../../domain/errors.js';
import type { Change } from './postgres-pgoutput.js';
import { firstKeyword, splitStatements } from './postgres-statements.js';

/**
 * DDL capture (`--capture-ddl`, with the user's consent: it installs objects in the database).
 * Logical decoding carries no DDL; an event trigger on ddl_command_end logs each DDL statement
 * (its command tag, the top-level query text with the statement's number among the DDL statements
 * of that text, and the caller's search_path) into the table dbbackup.ddl_log. That table has a primary key and is in the publication, so its rows
 * reach the change log in commit order, right where the DDL happened; a restore that meets one
 * runs the statement (see ddlStatement) before the changes after it.
 *
 * The same trigger keeps every dbbackup publication safe: a table that gets a usable replica
 * identity is added, one that loses it (its primary key dropped) is taken out in the same
 * transaction, so an application's UPDATE/DELETE never fails because of the publication.
 *
 * A query string may hold several statements (DDL and DML): the restore runs only the logged
 * one, found by its number among the text's DDL statements (ddlToRun). Known limits: DDL run by a
 * function or DO block replays that whole block (its other writes too); DDL run while the trigger
 * is disabled is not logged (an incremental then fails with E_SCHEMA_CHANGED, as without capture).
 */

export const DDL_LOG: [string, string] = ['dbbackup', 'ddl_log'];
const TRIGGER = 'dbbackup_ddl';

const INSTALL = `
CREATE SCHEMA IF NOT EXISTS dbbackup;
COMMENT ON SCHEMA dbbackup IS 'dbbackup --capture-ddl: the DDL log and its event trigger (DROP EVENT TRIGGER dbbackup_ddl; DROP SCHEMA dbbackup CASCADE removes them)';
CREATE TABLE IF NOT EXISTS dbbackup.ddl_log (
  id bigserial PRIMARY KEY,
  xid bigint NOT NULL DEFAULT pg_catalog.txid_current(),
  command int NOT NULL,
  at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  tag text NOT NULL,
  search_path text NOT NULL,
  query text NOT NULL
);
REVOKE ALL ON dbbackup.ddl_log FROM PUBLIC;
CREATE OR REPLACE FUNCTION dbbackup.log_ddl() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER AS $fn$
DECLARE
  q text := pg_catalog.current_query();
  r record;
  ok boolean;
  p record;
BEGIN
  IF tg_tag OPERATOR(pg_catalog.~~) '% PUBLICATION' THEN RETURN; END IF;
  -- One row per DDL statement; command numbers the DDL statements of one query string in one transaction.
  INSERT INTO dbbackup.ddl_log (command, tag, search_path, query)
    SELECT pg_catalog.count(*) OPERATOR(pg_catalog.+) 1, tg_tag, pg_catalog.current_setting('search_path'), q
    FROM dbbackup.ddl_log l WHERE l.xid OPERATOR(pg_catalog.=) pg_catalog.txid_current() AND l.query OPERATOR(pg_catalog.=) q;
  FOR r IN SELECT DISTINCT c.objid FROM pg_catalog.pg_event_trigger_ddl_commands() c
      JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) c.objid
      WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass AND k.relkind OPERATOR(pg_catalog.=) 'r' AND k.relpersistence OPERATOR(pg_catalog.=) 'p'
  LOOP
    SELECT (k.relreplident OPERATOR(pg_catalog.=) 'f'
        OR (k.relreplident OPERATOR(pg_catalog.=) 'd' AND EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid OPERATOR(pg_catalog.=) k.oid AND i.indisprimary))
        OR (k.relreplident OPERATOR(pg_catalog.=) 'i' AND EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid OPERATOR(pg_catalog.=) k.oid AND i.indisreplident)))
      INTO ok FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) r.objid;
    FOR p IN SELECT pub.oid, pub.pubname FROM pg_catalog.pg_publication pub
        WHERE pub.pubname OPERATOR(pg_catalog.~~) 'dbbackup\\_%'
          AND EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel pr WHERE pr.prpubid OPERATOR(pg_catalog.=) pub.oid AND pr.prrelid OPERATOR(pg_catalog.=) 'dbbackup.ddl_log'::pg_catalog.regclass)
    LOOP
      IF ok AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel pr WHERE pr.prpubid OPERATOR(pg_catalog.=) p.oid AND pr.prrelid OPERATOR(pg_catalog.=) r.objid) THEN
        EXECUTE pg_catalog.format('ALTER PUBLICATION %I ADD TABLE ONLY %s', p.pubname, r.objid::pg_catalog.regclass);
      ELSIF NOT ok AND EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel pr WHERE pr.prpubid OPERATOR(pg_catalog.=) p.oid AND pr.prrelid OPERATOR(pg_catalog.=) r.objid) THEN
        EXECUTE pg_catalog.format('ALTER PUBLICATION %I DROP TABLE ONLY %s', p.pubname, r.objid::pg_catalog.regclass);
      END IF;
    END LOOP;
  END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION dbbackup.log_ddl() FROM PUBLIC;
DO $do$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = '${TRIGGER}') THEN
    CREATE EVENT TRIGGER ${TRIGGER} ON ddl_command_end EXECUTE FUNCTION dbbackup.log_ddl();
  END IF;
END $do$;
`;

/** Installs (or updates) the DDL log, its function and the event trigger; needs a superuser (event triggers do). */
export async function installDdlCapture(sql: pg.Client): Promise<void> {
  try {
    await sql.query('BEGIN');
    // An event trigger installed before must not log its own update (its replay would need a superuser).
    await sql.query('SET LOCAL session_replication_role = replica');
    await sql.query(INSTALL);
    await sql.query('COMMIT');
  } catch (err) {
    await sql.query('ROLLBACK').catch(() => undefined);
    if ((err as { code?: string }).code === '42501') {
      throw new DbBackupError('E_UNSUPPORTED', `--capture-ddl needs a superuser: it creates the event trigger ${TRIGGER} (${(err as Error).message}). Run the full backup with --capture-ddl as a superuser once, or leave --capture-ddl out (an incremental after DDL then fails with E_SCHEMA_CHANGED).`, { cause: err });
    }
    throw err;
  }
}

/**
 * Removes the DDL capture (trigger, function, log table, and the schema when empty) once no
 * dbbackup publication is left to feed; returns whether it did. Objects of others in the schema stay.
 */
export async function removeDdlCaptureIfUnused(sql: pg.Client): Promise<boolean> {
  const left = await sql.query(`SELECT 1 FROM pg_catalog.pg_publication WHERE pubname LIKE 'dbbackup\\_%'`);
  const installed = await sql.query(`SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = $1`, [TRIGGER]);
  if ((left.rowCount ?? 0) > 0 || (installed.rowCount ?? 0) === 0) return false;
  await sql.query('BEGIN');
  try {
    await sql.query(`DROP EVENT TRIGGER IF EXISTS ${TRIGGER}; DROP FUNCTION IF EXISTS dbbackup.log_ddl(); DROP TABLE IF EXISTS dbbackup.ddl_log`);
    await sql.query('SAVEPOINT schema');
    await sql.query('DROP SCHEMA IF EXISTS dbbackup').catch(() => sql.query('ROLLBACK TO SAVEPOINT schema'));
    await sql.query('COMMIT');
    return true;
  } catch (err) {
    await sql.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Trims dbbackup.ddl_log of the rows every capture slot of this database has consumed, so the log
 * does not grow forever; returns how many it deleted. A row is consumed by a slot once its
 * transaction (`xid`) is older than the slot's catalog_xmin: the server moves that only past
 * transactions that ended before the slot's restart_lsn, which is at or before its confirmed
 * position, so such a row was decoded and confirmed (stored in every target) — and no transaction
 * running now or later, nor any slot created later, has an xid below it. Every logical slot named
 * dbbackup_* counts (other sources' and temporary ones too); an invalidated one (wal_status lost)
 * follows nothing; with no slot left nothing is trimmed (a full with capture makes a new one).
 * The DELETE is itself decoded: a restore deletes the same rows from its copy of the log.
 */
export async function trimDdlLog(sql: pg.Client): Promise<number> {
  const exists = await sql.query(`SELECT pg_catalog.to_regclass('dbbackup.ddl_log') IS NOT NULL AS ok`);
  if (!(exists.rows[0] as { ok: boolean }).ok) return 0;
  // catalog_xmin is a 32-bit xid; the log's xid is txid_current() (with its epoch): widened against the next xid.
  const deleted = await sql.query(`WITH horizon AS (
      SELECT pg_catalog.min(n.next OPERATOR(pg_catalog.-) (((n.next OPERATOR(pg_catalog.%) 4294967296) OPERATOR(pg_catalog.-) s.catalog_xmin::text::bigint OPERATOR(pg_catalog.+) 4294967296) OPERATOR(pg_catalog.%) 4294967296)) AS xid
      FROM pg_catalog.pg_replication_slots s, (SELECT pg_catalog.txid_snapshot_xmax(pg_catalog.txid_current_snapshot()) AS next) n
      WHERE s.database OPERATOR(pg_catalog.=) pg_catalog.current_database() AND s.slot_type OPERATOR(pg_catalog.=) 'logical'
        AND s.slot_name OPERATOR(pg_catalog.~~) 'dbbackup\\_%' AND s.catalog_xmin IS NOT NULL AND s.wal_status IS DISTINCT FROM 'lost')
    DELETE FROM dbbackup.ddl_log WHERE xid OPERATOR(pg_catalog.<) (SELECT xid FROM horizon)`);
  return deleted.rowCount ?? 0;
}

/** True when the DDL log's event trigger exists and fires (DDL since then is in the change log). */
export async function ddlCaptureActive(sql: pg.Client): Promise<boolean> {
  const r = await sql.query(`SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = $1 AND evtenabled IN ('O', 'A')`, [TRIGGER]);
  return (r.rowCount ?? 0) > 0;
}

/** A logged DDL statement: its query string, the statement's number among the string's DDL statements, its tag and search_path. */
export interface LoggedDdl {
  query: string;
  command: number;
  tag: string;
  searchPath: string;
}

/** The DDL a change-log row of dbbackup.ddl_log stands for, or undefined for any other change. */
export function ddlStatement(change: Change): LoggedDdl | undefined {
  if (change.op !== 'I' || change.rel[0] !== DDL_LOG[0] || change.rel[1] !== DDL_LOG[1]) return undefined;
  const value = (name: string) => change.new.find((c) => c[0] === name)?.[1];
  const [query, searchPath, tag, command] = [value('query'), value('search_path'), value('tag'), Number(value('command') ?? '1')];
  if (typeof query !== 'string' || typeof searchPath !== 'string' || typeof tag !== 'string' || !Number.isInteger(command) || command < 1) return undefined;
  return { query, command, tag, searchPath };
}

/** First keywords of statements that fire ddl_command_end (SELECT INTO aside). */
const DDL_KEYWORDS = new Set(['CREATE', 'ALTER', 'DROP', 'COMMENT', 'GRANT', 'REVOKE', 'SECURITY', 'IMPORT', 'REFRESH']);

/**
 * The statement to run for a logged DDL: the `command`-th DDL statement of its query string, whose
 * first keyword must be the tag's; a string that is one statement (a DO block, a function call)
 * runs whole for its first command and not again. Throws E_RESTORE_FAILED when it cannot be told.
 */
export function ddlToRun(ddl: LoggedDdl): string | undefined {
  const statements = splitStatements(ddl.query);
  const candidates = statements.filter((st) => DDL_KEYWORDS.has(firstKeyword(st)));
  const chosen = candidates[ddl.command - 1];
  const tagWord = ddl.tag.split(' ')[0]!.toUpperCase();
  if (chosen && firstKeyword(chosen) === tagWord) return chosen;
  if (statements.length === 1 && candidates.length === 0) return ddl.command === 1 ? statements[0] : undefined;
  throw new DbBackupError('E_RESTORE_FAILED', `The captured DDL statement ${ddl.command} (${ddl.tag}) cannot be found in its logged query: ${ddl.query.slice(0, 200)}`);
}

/**
 * Runs a logged DDL statement (ddlToRun) on the restore target inside its open transaction, with the
 * search_path it ran with on the source; the caller has flushed what it sent before.
 */
export async function runLoggedDdl(client: pg.Client, logged: LoggedDdl): Promise<void> {
  const statement = ddlToRun(logged);
  if (statement === undefined) return;
  await client.query(`SELECT pg_catalog.set_config('search_path', $1, true)`, [logged.searchPath]);
  // CONCURRENTLY cannot run in a transaction; a restore target has no one else to wait for.
  const query = /^\s*(CREATE|DROP|REINDEX)\b/i.test(statement) ? statement.replace(/\bCONCURRENTLY\b/gi, '') : statement;
  await client.query(query).catch((err: unknown) => {
    throw new DbBackupError('E_RESTORE_FAILED', `A DDL statement the backup captured (--capture-ddl) failed on the target: ${(err as Error).message}. Statement: ${statement.slice(0, 200)}`, { cause: err });
  });
  await client.query(`SELECT pg_catalog.set_config('search_path', (SELECT reset_val FROM pg_catalog.pg_settings WHERE name = 'search_path'), true)`);
}
