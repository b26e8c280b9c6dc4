import { DbBackupError } from '../../../domain/errors.js';
import { type MysqlConnection, qi } from './mysql-connection.js';
import { SYSTEM_SCHEMAS, type ServerFlavor } from './mysql-flavor.js';

/** What information_schema says about the databases being backed up. */
export interface Catalog {
  databases: DatabaseInfo[];
  tables: TableInfo[];
  views: ObjectRef[];
  routines: (ObjectRef & { kind: RoutineKind })[];
  triggers: (ObjectRef & { table: string })[];
  events: (ObjectRef & { overdue: boolean })[];
}

/** information_schema.ROUTINES types; packages are MariaDB's (sql_mode=ORACLE). */
export type RoutineKind = 'PROCEDURE' | 'FUNCTION' | 'PACKAGE' | 'PACKAGE BODY';

/**
 * Engines whose rows live elsewhere (the MERGE union's MyISAM tables, another server): their
 * definition is backed up but not their rows, which would be duplicated or sent to the remote on
 * restore (as mysqldump does).
 */
const ENGINES_WITHOUT_OWN_DATA = ['mrg_myisam', 'mrg_isam', 'federated', 'spider', 'connect', 'blackhole'];

export interface DatabaseInfo {
  name: string;
  charset: string;
  collation: string;
}

export interface ObjectRef {
  db: string;
  name: string;
}

export interface TableInfo extends ObjectRef {
  kind: 'table' | 'sequence';
  engine: string;
  /** information_schema's estimate (exact counts come from the dump). */
  rowsEstimate: number;
  bytes: number;
  systemVersioned: boolean;
  /** Columns that hold data (generated columns are left out), in table order. */
  columns: ColumnInfo[];
  /** The rows are somewhere else (ENGINES_WITHOUT_OWN_DATA): no data is dumped. */
  noData: boolean;
  /**
   * System-versioned by timestamp: the row start/end columns, dumped after `columns` with the
   * history rows (FOR SYSTEM_TIME ALL). Undefined when not versioned or versioned by transaction id.
   */
  history?: { start: string; end: string };
}

export interface ColumnInfo {
  name: string;
  dataType: string;
}

/** Non-system databases on the server, in name order. */
export async function listDatabases(conn: MysqlConnection): Promise<string[]> {
  const [rows] = await conn.query('SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME');
  return (rows as { name: string }[]).map((r) => r.name).filter((n) => !SYSTEM_SCHEMAS.includes(n.toLowerCase()));
}

export async function readCatalog(conn: MysqlConnection, flavor: ServerFlavor, names: string[]): Promise<Catalog> {
  const inList = names.map(() => '?').join(', ');
  const q = async <T>(sql: string): Promise<T[]> => (await conn.query(sql, names))[0] as T[];
  const databases = await q<DatabaseInfo>(
    `SELECT SCHEMA_NAME AS name, DEFAULT_CHARACTER_SET_NAME AS charset, DEFAULT_COLLATION_NAME AS collation
       FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN (${inList})`,
  );
  const missing = names.filter((n) => !databases.some((d) => d.name === n));
  if (missing.length) {
    throw new DbBackupError('E_NOT_FOUND', `The server has no database ${missing.map((m) => `"${m}"`).join(', ')}; check --database.`);
  }
  databases.sort((a, b) => names.indexOf(a.name) - names.indexOf(b.name));
  const tableRows = await q<{ db: string; name: string; type: string; engine: string | null; rows: string | null; bytes: string | null }>(
    `SELECT TABLE_SCHEMA AS db, TABLE_NAME AS name, TABLE_TYPE AS type, ENGINE AS engine, TABLE_ROWS AS \`rows\`,
            DATA_LENGTH + INDEX_LENGTH AS bytes
       FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (${inList}) ORDER BY TABLE_SCHEMA, TABLE_NAME`,
  );
  const columnRows = await q<{ db: string; tbl: string; name: string; dataType: string }>(
    `SELECT c.TABLE_SCHEMA AS db, c.TABLE_NAME AS tbl, c.COLUMN_NAME AS name, c.DATA_TYPE AS dataType
       FROM information_schema.COLUMNS c
      WHERE c.TABLE_SCHEMA IN (${inList}) AND ${flavor.storedColumnCondition}
      ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION`,
  );
  // Explicit system-versioning period columns (implicit ones, row_start/row_end, are not listed).
  const periodRows = tableRows.some((t) => t.type === 'SYSTEM VERSIONED')
    ? await q<{ db: string; tbl: string; name: string; expr: string; dataType: string }>(
        `SELECT c.TABLE_SCHEMA AS db, c.TABLE_NAME AS tbl, c.COLUMN_NAME AS name, c.GENERATION_EXPRESSION AS expr, c.DATA_TYPE AS dataType
           FROM information_schema.COLUMNS c
          WHERE c.TABLE_SCHEMA IN (${inList}) AND c.GENERATION_EXPRESSION IN ('ROW START', 'ROW END')`,
      )
    : [];
  const columns = new Map<string, ColumnInfo[]>();
  for (const c of columnRows) {
    const key = `${c.db}.${c.tbl}`;
    if (!columns.has(key)) columns.set(key, []);
    columns.get(key)!.push({ name: c.name, dataType: c.dataType });
  }
  const tables: TableInfo[] = tableRows
    .filter((t) => t.type !== 'VIEW')
    .map((t) => ({
      db: t.db,
      name: t.name,
      kind: t.type === 'SEQUENCE' ? 'sequence' : 'table',
      engine: t.engine ?? '',
      rowsEstimate: Number(t.rows ?? 0),
      bytes: Number(t.bytes ?? 0),
      systemVersioned: t.type === 'SYSTEM VERSIONED',
      columns: columns.get(`${t.db}.${t.name}`) ?? [],
      noData: ENGINES_WITHOUT_OWN_DATA.includes((t.engine ?? '').toLowerCase()),
      history: t.type === 'SYSTEM VERSIONED' ? historyColumns(periodRows.filter((p) => p.db === t.db && p.tbl === t.name)) : undefined,
    }));
  const views = tableRows.filter((t) => t.type === 'VIEW').map((t) => ({ db: t.db, name: t.name }));
  return { databases, tables, views, ...(await readStoredObjects(q, inList)) };
}

/** Routines (packages first, then functions and procedures), triggers in firing order, and events. */
async function readStoredObjects(
  q: <T>(sql: string) => Promise<T[]>,
  inList: string,
): Promise<Pick<Catalog, 'routines' | 'triggers' | 'events'>> {
  // A package comes before its body (the type order below), and both before routines that may call them.
  const routines = await q<ObjectRef & { kind: RoutineKind }>(
    `SELECT ROUTINE_SCHEMA AS db, ROUTINE_NAME AS name, ROUTINE_TYPE AS kind FROM information_schema.ROUTINES
      WHERE ROUTINE_SCHEMA IN (${inList})
      ORDER BY ROUTINE_SCHEMA, FIELD(ROUTINE_TYPE, 'PACKAGE', 'PACKAGE BODY', 'FUNCTION', 'PROCEDURE'), ROUTINE_NAME`,
  );
  const triggers = await q<ObjectRef & { table: string }>(
    `SELECT TRIGGER_SCHEMA AS db, TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS \`table\` FROM information_schema.TRIGGERS
      WHERE TRIGGER_SCHEMA IN (${inList})
      ORDER BY TRIGGER_SCHEMA, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER`,
  );
  // Overdue: a one-time event past its time that the server drops as soon as it is created again.
  const events = (
    await q<ObjectRef & { overdue: number | string }>(
      `SELECT EVENT_SCHEMA AS db, EVENT_NAME AS name,
              EVENT_TYPE = 'ONE TIME' AND ON_COMPLETION = 'NOT PRESERVE' AND EXECUTE_AT < NOW() AS overdue
         FROM information_schema.EVENTS WHERE EVENT_SCHEMA IN (${inList}) ORDER BY EVENT_SCHEMA, EVENT_NAME`,
    )
  ).map((e) => ({ db: e.db, name: e.name, overdue: Number(e.overdue) === 1 }));
  return { routines, triggers, events };
}

/**
 * The period columns of a table versioned by timestamp, whose history can be reloaded
 * (system_versioning_insert_history); undefined when versioned by transaction id (BIGINT), whose
 * history cannot be written back.
 */
function historyColumns(period: { name: string; expr: string; dataType: string }[]): { start: string; end: string } | undefined {
  if (period.length === 0) return { start: 'row_start', end: 'row_end' };
  const start = period.find((p) => p.expr === 'ROW START');
  const end = period.find((p) => p.expr === 'ROW END');
  if (!start || !end || start.dataType.toLowerCase() !== 'timestamp') return undefined;
  return { start: start.name, end: end.name };
}

/**
 * Applies --tables / --exclude-tables (names `table` or `db.table`) to the tables and views.
 * Throws E_USAGE for a name that matches nothing.
 */
export function filterCatalog(catalog: Catalog, include?: string[], exclude?: string[]): Catalog {
  const candidates = [...catalog.tables, ...catalog.views];
  const single = catalog.databases.length === 1;
  const matches = (pattern: string, o: ObjectRef) => pattern === `${o.db}.${o.name}` || (single && pattern === o.name);
  const unknown = [...(include ?? []), ...(exclude ?? [])].filter((p) => !candidates.some((o) => matches(p, o)));
  if (unknown.length) {
    throw new DbBackupError(
      'E_USAGE',
      `No table or view ${unknown.map((u) => `"${u}"`).join(', ')} in ${catalog.databases.map((d) => d.name).join(', ')}; ` +
        'check --tables/--exclude-tables (write db.table when backing up several databases).',
    );
  }
  if (!include && !exclude) return catalog;
  const keep = (o: ObjectRef) => (!include || include.some((p) => matches(p, o))) && !(exclude ?? []).some((p) => matches(p, o));
  const tables = catalog.tables.filter(keep);
  const kept = new Set(tables.map((t) => `${t.db}.${t.name}`));
  return {
    ...catalog,
    tables,
    views: catalog.views.filter(keep),
    triggers: catalog.triggers.filter((t) => kept.has(`${t.db}.${t.table}`)),
    // Routines and events belong to the database, not to a table: kept only for a whole-database backup.
    routines: include ? [] : catalog.routines,
    events: include ? [] : catalog.events,
  };
}

export async function useDatabase(conn: MysqlConnection, db: string): Promise<void> {
  await conn.query(`USE ${qi(db)}`);
}
