import type { RestoreOutcome } from '../../../application/ports/database-connector.js';
import { DbBackupError } from '../../../domain/errors.js';
import { Database } from './sqlite-file.js';
import { isVirtual, quoteIdent, type SchemaRow, schemaRows, selectObjects } from './sqlite-schema.js';

interface ColumnInfo {
  name: string;
  hidden: number;
  pk: number;
  type: string;
}

/**
 * Copies chosen tables and views (with their indexes, triggers and AUTOINCREMENT counters) from a
 * verified snapshot file into `targetPath`, in one transaction: all of it lands, or none.
 */
export function restoreTables(snapshot: string, targetPath: string, tables: string[], clean: boolean): RestoreOutcome {
  const db = new Database(targetPath);
  try {
    db.pragma('busy_timeout = 10000');
    db.pragma('foreign_keys = OFF');
    db.prepare('ATTACH DATABASE ? AS src').run(snapshot);
    try {
      const rows = schemaRows(db, 'src');
      const { keep, unknown } = selectObjects(rows, tables);
      if (unknown.length) {
        throw new DbBackupError('E_USAGE', `The backup has no table or view ${unknown.map((u) => `"${u}"`).join(', ')}.`);
      }
      const chosen = rows.filter((r) => keep.has(r.name));
      const related = rows.filter((r) => (r.type === 'index' || r.type === 'trigger') && keep.has(r.tbl_name) && r.sql);
      const existing = new Map(schemaRows(db, 'main').map((r) => [r.name, r]));
      const clashes = [...chosen, ...related].filter((r) => existing.has(r.name));
      if (clashes.length && !clean) {
        throw new DbBackupError(
          'E_TARGET_EXISTS',
          `${targetPath} already has ${clashes.map((c) => `${c.type} "${c.name}"`).join(', ')}; pass --clean to replace them.`,
        );
      }
      let total = 0;
      db.transaction(() => {
        for (const c of clashes) dropObject(db, existing.get(c.name)!);
        for (const t of chosen.filter((r) => r.type === 'table')) {
          db.exec(t.sql!);
          total += copyRows(db, t);
        }
        for (const r of related.filter((x) => x.type === 'index')) db.exec(r.sql!);
        for (const v of chosen.filter((r) => r.type === 'view')) db.exec(v.sql!);
        for (const r of related.filter((x) => x.type === 'trigger')) db.exec(r.sql!);
        copySequences(db, chosen.map((r) => r.name));
      })();
      return { objects: chosen.map((r) => r.name), rows: total };
    } finally {
      db.exec('DETACH DATABASE src');
    }
  } finally {
    db.close();
  }
}

function dropObject(db: InstanceType<typeof Database>, row: SchemaRow): void {
  if (row.type === 'index' && row.name.startsWith('sqlite_autoindex_')) return;
  db.exec(`DROP ${row.type.toUpperCase()} IF EXISTS main.${quoteIdent(row.name)}`);
}

/** INSERT … SELECT of the stored columns, keeping rowids (they may be referenced elsewhere). */
function copyRows(db: InstanceType<typeof Database>, table: SchemaRow): number {
  const q = quoteIdent(table.name);
  const columns = db.prepare(`SELECT name, hidden, pk, type FROM pragma_table_xinfo(?, 'src')`).all(table.name) as ColumnInfo[];
  const stored = columns.filter((c) => c.hidden === 0).map((c) => quoteIdent(c.name));
  const withoutRowid = /\bWITHOUT\s+ROWID\b/i.test(table.sql ?? '');
  const names = new Set(columns.map((c) => c.name.toLowerCase()));
  const rowidAlias = !withoutRowid && !isVirtual(table) ? ['rowid', 'oid', '_rowid_'].find((a) => !names.has(a)) : undefined;
  const cols = rowidAlias ? [rowidAlias, ...stored] : stored;
  const list = cols.join(', ');
  const info = db.prepare(`INSERT INTO main.${q} (${list}) SELECT ${list} FROM src.${q}`).run();
  return info.changes;
}

function copySequences(db: InstanceType<typeof Database>, tables: string[]): void {
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
