import { rmSync, statSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import type { RestoreOutcome } from '../../../application/ports/restore-plan.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { Manifest } from '../../../domain/manifest.js';
import { dependencyWarnings } from './sqlite-dependencies.js';
import { checkObjectsSql, type ObjectsToCreate, refuseUndeclared } from './sqlite-schema-check.js';
import { Database } from './sqlite-file.js';
import { belongsTo, isKnownModule, isVirtual, moduleOf, quoteIdent, type SchemaRow, schemaRows, selectObjects, shadowTablesOf } from './sqlite-schema.js';

type Db = BetterSqlite3.Database;

interface ColumnInfo {
  name: string;
  hidden: number;
}

/** What a partial restore creates, read from the backup's file and checked against its manifest. */
interface Selection extends ObjectsToCreate {
  rows: SchemaRow[];
  /** The chosen tables, virtual tables and views. */
  chosen: SchemaRow[];
  /** Their indexes and triggers. */
  related: SchemaRow[];
  shadows: SchemaRow[];
}

/**
 * Copies chosen tables, virtual tables and views (with their indexes, triggers and AUTOINCREMENT
 * counters) from a verified snapshot file into `targetPath`, in one transaction: all of it lands,
 * or none (and a target file this call created is removed again). Dependencies left behind
 * (foreign-key parents, tables a view or trigger uses) are reported as warnings, not refused.
 * The snapshot is untrusted: every object must be one `manifest` declares, and every statement
 * passes checkObjectsSql before the target is opened.
 */
export function restoreTables(snapshot: string, targetPath: string, tables: string[], clean: boolean, manifest: Pick<Manifest, 'id' | 'objects'>): RestoreOutcome {
  const selection = selectFromSnapshot(snapshot, tables, manifest);
  const existed = statSync(targetPath, { throwIfNoEntry: false }) !== undefined;
  try {
    return restoreInto(snapshot, targetPath, selection, clean);
  } catch (err) {
    if (!existed) rmSync(targetPath, { force: true });
    throw err;
  }
}

function selectFromSnapshot(snapshot: string, tables: string[], manifest: Pick<Manifest, 'id' | 'objects'>): Selection {
  const src = new Database(snapshot, { readonly: true });
  let rows: SchemaRow[];
  try {
    rows = schemaRows(src);
  } finally {
    src.close();
  }
  const { keep, unknown } = selectObjects(rows, tables);
  if (unknown.length) {
    throw new DbBackupError('E_USAGE', `The backup has no table or view ${unknown.map((u) => `"${u}"`).join(', ')}.`);
  }
  const chosen = rows.filter((r) => keep.has(r.name));
  refuseMissingModules(chosen);
  const owned = belongsTo(keep);
  const related = rows.filter((r) => (r.type === 'index' || r.type === 'trigger') && owned(r) && r.sql);
  refuseUndeclared([...chosen, ...related], manifest.objects, manifest.id);
  const shadows = chosen.filter(isVirtual).flatMap((v) => shadowTablesOf(rows, v));
  const selection: Selection = {
    rows,
    chosen,
    related,
    shadows,
    tables: [...chosen.filter((r) => r.type === 'table' && !isVirtual(r)), ...shadows],
    virtualTables: chosen.filter(isVirtual),
    indexes: related.filter((r) => r.type === 'index'),
    views: chosen.filter((r) => r.type === 'view'),
    triggers: related.filter((r) => r.type === 'trigger'),
  };
  checkObjectsSql(selection, manifest.id);
  return selection;
}

function restoreInto(snapshot: string, targetPath: string, selection: Selection, clean: boolean): RestoreOutcome {
  const { rows, chosen, related, shadows } = selection;
  const db = new Database(targetPath);
  try {
    db.pragma('busy_timeout = 10000');
    db.pragma('foreign_keys = OFF');
    matchEncoding(db, snapshot);
    db.prepare('ATTACH DATABASE ? AS src').run(snapshot);
    try {
      const existing = new Map(schemaRows(db, 'main').map((r) => [r.name.toLowerCase(), r]));
      const clashes = [...chosen, ...shadows, ...related].filter((r) => existing.has(r.name.toLowerCase()));
      if (clashes.length && !clean) {
        throw new DbBackupError(
          'E_TARGET_EXISTS',
          `${targetPath} already has ${clashes.map((c) => `${c.type} "${c.name}"`).join(', ')}; pass --clean to replace them.`,
        );
      }
      let total = 0;
      // SQLite's defensive mode stays on while the backup's statements run; it is off (for this
      // connection) only to drop what --clean replaces and to rebuild virtual tables, whose shadow
      // tables and sqlite_master row cannot be written otherwise.
      const unsafe = <T>(work: () => T): T => {
        db.unsafeMode(true);
        try {
          return work();
        } finally {
          db.unsafeMode(false);
        }
      };
      db.transaction(() => {
        unsafe(() => clashes.forEach((c) => dropObject(db, existing.get(c.name.toLowerCase())!)));
        for (const t of chosen.filter((r) => r.type === 'table')) {
          total += isVirtual(t) ? unsafe(() => copyVirtualTable(db, rows, t)) : createAndCopy(db, t);
        }
        for (const r of selection.indexes) runCreate(db, r);
        for (const v of selection.views) runCreate(db, v);
        for (const r of selection.triggers) runCreate(db, r);
        copySequences(db, chosen.map((r) => r.name));
      })();
      const warnings = dependencyWarnings(db, rows, [...chosen, ...related]);
      return { objects: chosen.map((r) => r.name), rows: total, ...(warnings.length ? { warnings } : {}) };
    } finally {
      db.exec('DETACH DATABASE src');
    }
  } finally {
    db.close();
  }
}

/** Runs one checked CREATE statement; prepare() compiles exactly one statement and refuses any tail. */
function runCreate(db: Db, row: SchemaRow): void {
  db.prepare(row.sql!).run();
}

/**
 * SQLite attaches only databases of the main database's text encoding. A new (empty) target takes
 * the backup's encoding; a target that has content keeps its own and the attach says why it fails.
 */
function matchEncoding(db: Db, snapshot: string): void {
  if (db.prepare('SELECT 1 FROM main.sqlite_master LIMIT 1').get() !== undefined) return;
  const src = new Database(snapshot, { readonly: true });
  try {
    const encoding = String(src.pragma('encoding', { simple: true }));
    if (encoding !== db.pragma('encoding', { simple: true })) db.pragma(`encoding = '${encoding}'`);
  } finally {
    src.close();
  }
}

/** A virtual table of an extension this build lacks cannot be rebuilt or checked here. */
function refuseMissingModules(chosen: SchemaRow[]): void {
  for (const v of chosen.filter(isVirtual)) {
    if (!isKnownModule(moduleOf(v))) {
      throw new DbBackupError(
        'E_UNSUPPORTED',
        `Virtual table "${v.name}" uses module ${moduleOf(v) ?? '?'} (an extension), so it cannot be restored on its own; ` +
          'restore the whole database instead (its file keeps the table intact).',
      );
    }
  }
}

function dropObject(db: Db, row: SchemaRow): void {
  if (row.type === 'index' && row.name.startsWith('sqlite_autoindex_')) return;
  db.exec(`DROP ${row.type.toUpperCase()} IF EXISTS main.${quoteIdent(row.name)}`);
}

function createAndCopy(db: Db, table: SchemaRow): number {
  runCreate(db, table);
  return copyRows(db, table);
}

/** INSERT … SELECT of the stored columns, keeping rowids (they may be referenced elsewhere). */
function copyRows(db: Db, table: SchemaRow): number {
  const q = quoteIdent(table.name);
  const columns = db.prepare(`SELECT name, hidden FROM pragma_table_xinfo(?, 'src')`).all(table.name) as ColumnInfo[];
  const stored = columns.filter((c) => c.hidden === 0).map((c) => quoteIdent(c.name));
  const withoutRowid = /\bWITHOUT\s+ROWID\b/i.test(table.sql ?? '');
  const names = new Set(columns.map((c) => c.name.toLowerCase()));
  const rowidAlias = !withoutRowid ? ['rowid', 'oid', '_rowid_'].find((a) => !names.has(a)) : undefined;
  const cols = rowidAlias ? [rowidAlias, ...stored] : stored;
  const list = cols.join(', ');
  return db.prepare(`INSERT INTO main.${q} (${list}) SELECT ${list} FROM src.${q}`).run().changes;
}

/**
 * A built-in virtual table (FTS3/4/5, R*Tree) is restored the way `sqlite3 .dump` does it: its
 * shadow tables are copied row for row, then its schema row is written. Re-inserting through the
 * module instead would lose contentless FTS indexes and external-content rowids.
 */
function copyVirtualTable(db: Db, rows: SchemaRow[], vtab: SchemaRow): number {
  for (const shadow of shadowTablesOf(rows, vtab)) createAndCopy(db, shadow);
  db.pragma('writable_schema = ON');
  try {
    db.prepare("INSERT INTO main.sqlite_master (type, name, tbl_name, rootpage, sql) VALUES ('table', ?, ?, 0, ?)").run(vtab.name, vtab.tbl_name, vtab.sql);
    // A new schema cookie makes SQLite re-read the schema and see the virtual table.
    db.pragma(`main.schema_version = ${Number(db.pragma('main.schema_version', { simple: true })) + 1}`);
  } finally {
    db.pragma('writable_schema = OFF');
  }
  return (db.prepare(`SELECT count(*) AS n FROM main.${quoteIdent(vtab.name)}`).get() as { n: number }).n;
}

function copySequences(db: Db, tables: string[]): void {
  const hasSeq = (schema: string) =>
    db.prepare(`SELECT 1 FROM ${schema}.sqlite_master WHERE name = 'sqlite_sequence'`).get() !== undefined;
  if (!hasSeq('src') || !hasSeq('main')) return;
  const del = db.prepare('DELETE FROM main.sqlite_sequence WHERE name = ?');
  const ins = db.prepare('INSERT INTO main.sqlite_sequence (name, seq) SELECT name, seq FROM src.sqlite_sequence WHERE name = ?');
  for (const t of tables) {
    del.run(t);
    ins.run(t);
  }
}
