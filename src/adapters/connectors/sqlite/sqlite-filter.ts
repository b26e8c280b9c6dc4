import type BetterSqlite3 from 'better-sqlite3';
import { DbBackupError } from '../../../domain/errors.js';
import { dependencyWarnings, FILTERED_BACKUP } from './sqlite-dependencies.js';
import { belongsTo, isKnownModule, isVirtual, moduleOf, quoteIdent, schemaRows, selectObjects, shadowTablesOf, userTables } from './sqlite-schema.js';

export function refuseUnknown(unknown: string[], path: string): void {
  if (unknown.length) {
    throw new DbBackupError('E_USAGE', `${path} has no table or view ${unknown.map((u) => `"${u}"`).join(', ')}; check --tables/--exclude-tables.`);
  }
}

/**
 * Applies --tables / --exclude-tables to a private snapshot copy: drops every table and view not
 * chosen, with secure_delete on so that the dropped data is zeroed in the file. No VACUUM: it
 * renumbers the rowids of tables without an INTEGER PRIMARY KEY, which are data (the connector
 * contract caught a rowid gap closing). A virtual table whose module
 * this build lacks cannot be dropped with DROP TABLE; its schema row is removed directly (as
 * SQLite's documentation advises for such tables) and its shadow tables dropped as plain tables.
 * Returns warnings for what the kept objects still need from the dropped ones.
 */
export function dropUnselected(db: BetterSqlite3.Database, request: { tables?: string[]; excludeTables?: string[] }, path: string): string[] {
  db.pragma('foreign_keys = OFF');
  db.pragma('secure_delete = ON');
  const rows = schemaRows(db);
  const { keep, unknown } = selectObjects(rows, request.tables, request.excludeTables);
  refuseUnknown(unknown, path);
  const drop = [...userTables(rows), ...rows.filter((r) => r.type === 'view')].filter((r) => !keep.has(r.name));
  for (const r of drop) {
    if (r.type === 'view') {
      db.exec(`DROP VIEW IF EXISTS ${quoteIdent(r.name)}`);
    } else if (isVirtual(r) && !isKnownModule(moduleOf(r)) && !moduleLoaded(db, moduleOf(r))) {
      for (const s of shadowTablesOf(rows, r)) db.exec(`DROP TABLE IF EXISTS ${quoteIdent(s.name)}`);
      db.unsafeMode(true);
      try {
        db.pragma('writable_schema = ON');
        db.prepare("DELETE FROM sqlite_master WHERE type = 'table' AND name = ?").run(r.name);
        // A new schema cookie makes every connection (this one included) re-read the schema.
        db.pragma(`schema_version = ${Number(db.pragma('schema_version', { simple: true })) + 1}`);
        db.pragma('writable_schema = OFF');
      } finally {
        db.unsafeMode(false);
      }
    } else {
      db.exec(`DROP TABLE IF EXISTS ${quoteIdent(r.name)}`);
    }
  }
  const owned = belongsTo(keep);
  const kept = rows.filter((r) => keep.has(r.name) || ((r.type === 'index' || r.type === 'trigger') && owned(r)));
  return dependencyWarnings(db, rows, kept, FILTERED_BACKUP);
}

function moduleLoaded(db: BetterSqlite3.Database, module: string | undefined): boolean {
  try {
    return db.prepare('SELECT 1 FROM pragma_module_list WHERE name = ?').get(module) !== undefined;
  } catch {
    return false;
  }
}
