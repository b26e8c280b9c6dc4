import type BetterSqlite3 from 'better-sqlite3';
import { DbBackupError } from '../../../domain/errors.js';
import type { ObjectEntry } from '../../../domain/manifest.js';
import { Database } from './sqlite-file.js';
import { isVirtual, sameName, type SchemaRow, userTables } from './sqlite-schema.js';

/**
 * A backup's database file is data: the SQL its schema rows hold is run on the target only when
 * each text is exactly one CREATE statement of the kind and name the row declares (and, for an
 * index or trigger, on the table it declares), and the object is one the manifest lists. The
 * checks run before the target is touched: leading keywords first, then SQLite itself compiles
 * and runs each statement in a private in-memory database (one statement only: better-sqlite3
 * refuses any tail) and must end up with that very object.
 */

/** The kind a schema row declares, as the manifest names it. */
export function declaredType(row: SchemaRow): string {
  return isVirtual(row) ? 'virtual table' : row.type;
}

/** Schema rows of a database file that a backup declares as objects (not SQLite's own, not shadow tables). */
export function declarableRows(rows: SchemaRow[]): SchemaRow[] {
  const tables = new Set(userTables(rows).map((r) => r.name));
  return rows.filter((r) => !r.name.startsWith('sqlite_') && (r.type !== 'table' || tables.has(r.name)));
}

/** Refuses a database file holding an object the manifest does not declare (by name and kind). */
export function refuseUndeclared(rows: SchemaRow[], objects: ObjectEntry[], backupId: string): void {
  // Names fold as SQLite folds them (sameName): one set, not one scan of the manifest per row.
  const declared = new Set(objects.map((o) => `${o.type}\0${o.name.toLowerCase()}`));
  for (const r of rows) {
    const type = declaredType(r);
    if (!declared.has(`${type}\0${r.name.toLowerCase()}`)) {
      throw new DbBackupError(
        'E_UNSAFE_BACKUP',
        `The database file of backup ${backupId} holds ${type} "${r.name}", which its manifest does not declare: the backup was altered. Nothing was restored.`,
        { details: { object: r.name, type } },
      );
    }
  }
}

export interface ObjectsToCreate {
  /** Plain tables and the shadow tables of virtual tables, created with their own SQL. */
  tables: SchemaRow[];
  virtualTables: SchemaRow[];
  indexes: SchemaRow[];
  views: SchemaRow[];
  triggers: SchemaRow[];
}

/** Checks every statement a partial restore will run (see the file comment); throws E_UNSAFE_BACKUP. */
export function checkObjectsSql(objects: ObjectsToCreate, backupId: string): void {
  const all = [...objects.tables, ...objects.virtualTables, ...objects.indexes, ...objects.views, ...objects.triggers];
  for (const row of all) checkHead(row, backupId);
  const scratch = new Database(':memory:');
  try {
    for (const row of [...objects.tables, ...objects.indexes, ...objects.views, ...objects.triggers]) compileAlone(scratch, row, backupId);
  } finally {
    scratch.close();
  }
  // A virtual table creates its shadow tables itself, so each is tried in a database of its own.
  for (const row of objects.virtualTables) {
    const own = new Database(':memory:');
    try {
      compileAlone(own, row, backupId);
    } finally {
      own.close();
    }
  }
}

/** Runs the row's SQL alone in `scratch` and checks that it made that object, of that kind, on that table. */
function compileAlone(scratch: BetterSqlite3.Database, row: SchemaRow, backupId: string): void {
  let statement: BetterSqlite3.Statement;
  try {
    statement = scratch.prepare(row.sql!);
  } catch (err) {
    if (err instanceof RangeError) throw unsafe(row, backupId, 'more than one statement');
    throw new DbBackupError('E_RESTORE_FAILED', `The ${declaredType(row)} "${row.name}" in backup ${backupId} cannot be created: ${(err as Error).message}. Nothing was restored.`, { cause: err });
  }
  statement.run();
  const made = scratch.prepare('SELECT type, tbl_name FROM main.sqlite_master WHERE name = ? COLLATE NOCASE').get(row.name) as { type: string; tbl_name: string } | undefined;
  if (!made || made.type !== row.type || !sameName(made.tbl_name, row.tbl_name)) {
    throw unsafe(row, backupId, made ? `it creates a ${made.type} on "${made.tbl_name}"` : 'it creates something else');
  }
}

interface Token {
  /** A bare word, upper-cased. */
  word?: string;
  /** The identifier a bare word, quoted name or string stands for. */
  name?: string;
  /** Any other single character. */
  punct?: string;
}

/** What each declared kind must start with: CREATE, the kind's keywords, then the object's own name. */
const HEADS: Record<string, string[][]> = {
  table: [['TABLE']],
  'virtual table': [['VIRTUAL', 'TABLE']],
  index: [['INDEX'], ['UNIQUE', 'INDEX']],
  view: [['VIEW']],
  trigger: [['TRIGGER']],
};

/**
 * Refuses SQL that does not begin `CREATE <kind> [IF NOT EXISTS] <name>` with the row's own
 * (unqualified) name, followed by what that kind has there: `(` for a table, USING for a virtual
 * table, ON the row's table for an index, AS or a column list for a view, and for a trigger its
 * event and ON the row's table. TEMP objects, schema-qualified names and CREATE TABLE … AS
 * SELECT are refused.
 */
function checkHead(row: SchemaRow, backupId: string): void {
  const kind = declaredType(row);
  const t = tokens(row.sql ?? '', 200);
  let i = 0;
  const fail = (what: string): never => {
    throw unsafe(row, backupId, what);
  };
  if (t[i++]?.word !== 'CREATE') fail('it is not a CREATE statement');
  const head = HEADS[kind]?.find((words) => words.every((w, k) => t[i + k]?.word === w));
  if (!head) fail(`it does not create a ${kind}`);
  i += head!.length;
  if (t[i]?.word === 'IF' && t[i + 1]?.word === 'NOT' && t[i + 2]?.word === 'EXISTS') i += 3;
  const name = t[i++]?.name;
  if (name === undefined || !sameName(name, row.name)) fail(`it names "${name ?? '?'}"`);
  if (t[i]?.punct === '.') fail('its name is qualified with a database');
  const next = t[i];
  if (kind === 'table' && next?.punct !== '(') fail('it is not a table definition');
  if (kind === 'virtual table' && next?.word !== 'USING') fail('it is not a virtual table definition');
  if (kind === 'view' && next?.word !== 'AS' && next?.punct !== '(') fail('it is not a view definition');
  if (kind === 'index' || kind === 'trigger') {
    const on = t.findIndex((x, k) => k >= i && x.word === 'ON');
    const table = on < 0 ? undefined : t[on + 1]?.name;
    if (table === undefined || !sameName(table, row.tbl_name)) fail(`it is on "${table ?? '?'}", not on "${row.tbl_name}"`);
    if (t[on + 2]?.punct === '.') fail('its table is qualified with a database');
  }
}

function unsafe(row: SchemaRow, backupId: string, found: string): DbBackupError {
  const kind = declaredType(row);
  return new DbBackupError(
    'E_UNSAFE_BACKUP',
    `The ${kind} "${row.name}" in backup ${backupId} is not a single CREATE ${kind.toUpperCase()} statement for it (${found}): the backup was altered or damaged. Nothing was restored.`,
    { details: { object: row.name, type: kind, found } },
  );
}

/** The first `limit` tokens of SQLite SQL, comments skipped. */
function tokens(sql: string, limit: number): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < sql.length && out.length < limit) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (sql.startsWith('--', i)) {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
    } else if (sql.startsWith('/*', i)) {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (c === '"' || c === '`' || c === '[' || c === "'") {
      const close = c === '[' ? ']' : c;
      let j = i + 1;
      let value = '';
      for (; j < sql.length; j++) {
        if (sql[j] === close) {
          if (close !== ']' && sql[j + 1] === close) {
            value += close;
            j++;
          } else break;
        } else value += sql[j];
      }
      // SQLite takes a 'string' where a name is expected (its FTS5 shadow tables are created so).
      out.push({ name: value });
      i = j + 1;
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      const word = /^[A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*/.exec(sql.slice(i, i + 1024))![0];
      out.push({ word: word.toUpperCase(), name: word });
      i += word.length;
    } else {
      out.push({ punct: c });
      i++;
    }
  }
  return out;
}
