import type { Catalog, ObjectRef, RoutineKind, TableInfo } from './mysql-catalog.js';
import { type MysqlConnection, qi } from './mysql-connection.js';
import { alterAddStatement, creationContext, orderViews, sessionStatements, splitCreateTable, stripDefiner } from './mysql-ddl.js';
import type { ScriptBlock } from './mysql-script.js';

/** The two SQL scripts of a backup: what runs before the data is loaded, and after. */
export interface SchemaScripts {
  schema: ScriptBlock[];
  postData: ScriptBlock[];
  warnings: string[];
  /** `db.object` → the DEFINER removed from its definition (recorded in the manifest). */
  definers: Record<string, string>;
}

type Row = Record<string, string | null>;

/** Per routine type: the SHOW CREATE column holding its definition, and its script block kind. */
const ROUTINE_BLOCKS: Record<RoutineKind, { column: string; block: ContextKind }> = {
  FUNCTION: { column: 'Create Function', block: 'function' },
  PROCEDURE: { column: 'Create Procedure', block: 'procedure' },
  PACKAGE: { column: 'Create Package', block: 'package' },
  'PACKAGE BODY': { column: 'Create Package Body', block: 'package body' },
};

/**
 * Reads SHOW CREATE of every object in `catalog` (as `conn`, which has USE'd nothing in particular)
 * and arranges them: tables (secondary keys split off), functions, procedures, views in dependency
 * order into the schema; secondary keys, sequence values, triggers and events into post-data, so
 * triggers do not fire and events do not run while the data loads.
 */
export async function buildScripts(conn: MysqlConnection, catalog: Catalog): Promise<SchemaScripts> {
  const out: SchemaScripts = { schema: [{ meta: { kind: 'session' }, statements: sessionStatements() }], postData: [], warnings: [], definers: {} };
  out.postData.push({ meta: { kind: 'session' }, statements: sessionStatements() });
  // SHOW CREATE and SHOW WARNINGS leave the current database as it is: USE only where it changes.
  let current: string | undefined;
  const show = async (sql: string, db: string): Promise<Row> => {
    if (current !== db) {
      await conn.query(`USE ${qi(db)}`);
      current = db;
    }
    const [rows] = await conn.query(sql);
    return (rows as Row[])[0] ?? {};
  };
  for (const d of catalog.databases) {
    const created = (await show(`SHOW CREATE DATABASE ${qi(d.name)}`, d.name))['Create Database'] ?? `CREATE DATABASE ${qi(d.name)}`;
    out.schema.push({
      meta: { kind: 'database', db: d.name, charset: d.charset, collation: d.collation },
      statements: [created.replace(/^CREATE DATABASE /, 'CREATE DATABASE IF NOT EXISTS '), `USE ${qi(d.name)}`],
    });
    // Sequences first: a table's DEFAULT may call NEXTVAL() on one, which must exist by then.
    const own = catalog.tables.filter((x) => x.db === d.name);
    for (const t of [...own.filter((x) => x.kind === 'sequence'), ...own.filter((x) => x.kind !== 'sequence')]) await tableBlocks(t, show, out);
  }
  for (const r of catalog.routines) {
    const kind = ROUTINE_BLOCKS[r.kind] as (typeof ROUTINE_BLOCKS)[RoutineKind] | undefined;
    if (!kind) {
      out.warnings.push(`${r.db}.${r.name} is a ${r.kind}, a kind of stored routine this backup does not know; it is not in the backup.`);
      continue;
    }
    const row = await show(`SHOW CREATE ${r.kind} ${qi(r.name)}`, r.db);
    const text = row[kind.column];
    if (!text) {
      out.warnings.push(`Could not read the definition of ${r.kind.toLowerCase()} ${r.db}.${r.name} (missing privilege?); it is not in the backup.`);
      continue;
    }
    out.schema.push(contextBlock(kind.block, r, text, row, out));
  }
  const views: (ObjectRef & { sql: string; row: Row })[] = [];
  for (const v of catalog.views) {
    const row = await show(`SHOW CREATE VIEW ${qi(v.name)}`, v.db);
    views.push({ ...v, sql: row['Create View'] ?? '', row });
    const [warnings] = await conn.query('SHOW WARNINGS');
    const invalid = (warnings as { Code: number; Message: string }[]).find((w) => w.Code === 1356);
    if (invalid) out.warnings.push(`view ${v.db}.${v.name} is invalid (${invalid.Message}); a restore skips it, with a warning, while that remains so.`);
  }
  for (const v of orderViews(views)) out.schema.push(contextBlock('view', v, v.sql, v.row, out));
  for (const t of catalog.triggers) {
    const row = await show(`SHOW CREATE TRIGGER ${qi(t.name)}`, t.db);
    // Kept as typed, qualified or not (a restore under another name unqualifies the head).
    const block = contextBlock('trigger', t, row['SQL Original Statement'] ?? '', row, out);
    block.meta.table = t.table;
    out.postData.push(block);
  }
  for (const e of catalog.events) {
    if (e.overdue) {
      out.warnings.push(
        `event ${e.db}.${e.name} is a one-time event past its time (ON COMPLETION NOT PRESERVE; the event scheduler did not run it): a restore creates it, and the server drops it at once.`,
      );
    }
    const row = await show(`SHOW CREATE EVENT ${qi(e.name)}`, e.db);
    out.postData.push(contextBlock('event', e, row['Create Event'] ?? '', row, out));
  }
  return { ...out, schema: withUseBlocks(out.schema), postData: withUseBlocks(out.postData) };
}

/**
 * Adds a `USE db` block wherever the database changes, so the mysql client runs each statement in
 * the right database. dbbackup's own restore skips these (it switches to the renamed target itself).
 */
function withUseBlocks(blocks: ScriptBlock[]): ScriptBlock[] {
  const out: ScriptBlock[] = [];
  let current: string | undefined;
  for (const block of blocks) {
    const db = block.meta.db;
    if (block.meta.kind === 'database') current = db;
    else if (db !== undefined && db !== current) {
      out.push({ meta: { kind: 'database', db }, statements: [`USE ${qi(db)}`] });
      current = db;
    }
    out.push(block);
  }
  return out;
}

async function tableBlocks(t: TableInfo, show: (sql: string, db: string) => Promise<Row>, out: SchemaScripts): Promise<void> {
  const meta = { db: t.db, name: t.name };
  if (t.kind === 'sequence') {
    const create = (await show(`SHOW CREATE SEQUENCE ${qi(t.name)}`, t.db))['Create Table'] ?? '';
    out.schema.push({ meta: { kind: 'sequence', ...meta }, statements: [create] });
    // The cycle count (round) too: a CYCLE sequence that wrapped around must not restart its first round.
    const state = await show(`SELECT next_not_cached_value AS v, cycle_count AS r FROM ${qi(t.name)}`, t.db);
    if (state.v !== null && state.v !== undefined) {
      const round = state.r && state.r !== '0' ? `, ${state.r}` : '';
      out.postData.push({ meta: { kind: 'sequence-value', ...meta, table: t.name }, statements: [`SELECT SETVAL(${qi(t.name)}, ${state.v}, 0${round})`] });
    }
    return;
  }
  const create = (await show(`SHOW CREATE TABLE ${qi(t.name)}`, t.db))['Create Table'] ?? '';
  const split = splitCreateTable(create);
  out.schema.push({ meta: { kind: 'table', ...meta }, statements: [split.create] });
  if (split.deferred.length) {
    out.postData.push({ meta: { kind: 'indexes', ...meta, table: t.name }, statements: [alterAddStatement(t.name, split.deferred)] });
  }
  if (t.systemVersioned && !t.history) {
    out.warnings.push(`${t.db}.${t.name} is system-versioned by transaction id; only its current rows are backed up, not its history (which cannot be written back).`);
  }
  if (t.noData) {
    out.warnings.push(
      `${t.db}.${t.name} uses the ${t.engine} engine, whose rows live in other tables or on another server: its definition is backed up, not its rows.`,
    );
  } else if (!['innodb', 'sequence', ''].includes(t.engine.toLowerCase())) {
    out.warnings.push(
      `${t.db}.${t.name} uses the ${t.engine} engine, which is not transactional: its data may not be consistent with the rest of the snapshot.`,
    );
  }
}

type ContextKind = 'function' | 'procedure' | 'package' | 'package body' | 'view' | 'trigger' | 'event';

/** A block that recreates a stored object under the sql_mode, charset and time zone it was made with. */
function contextBlock(kind: ContextKind, ref: ObjectRef, sql: string, row: Row, out: SchemaScripts, rewrite = (s: string) => s): ScriptBlock {
  const stripped = stripDefiner(sql);
  stripped.sql = rewrite(stripped.sql);
  if (stripped.definer) out.definers[`${ref.db}.${ref.name}`] = stripped.definer;
  const ctx = creationContext(stripped.sql, {
    sqlMode: kind === 'view' ? undefined : (row.sql_mode ?? undefined),
    charsetClient: row.character_set_client ?? undefined,
    collation: row.collation_connection ?? undefined,
    timeZone: kind === 'event' ? (row.time_zone ?? undefined) : undefined,
  });
  const header = stripped.definer ? [`-- original definer: ${stripped.definer}`] : [];
  return {
    meta: { kind, db: ref.db, name: ref.name },
    statements: [...ctx.before, [...header, stripped.sql].join('\n'), ...ctx.after],
  };
}

