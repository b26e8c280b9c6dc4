import type BetterSqlite3 from 'better-sqlite3';
import { isVirtual, quoteIdent, type SchemaRow, schemaRows, userTables } from './sqlite-schema.js';

type Db = BetterSqlite3.Database;

/** Where the objects' foreign keys are read from, and how a missing object is put to the user. */
export interface DependencyContext {
  fkSchema: string;
  lacks: string;
  fix: string;
  /** Run PRAGMA foreign_key_check (a scan of each table) where parents are present. */
  checkRows: boolean;
}

/** A partial restore: the backup is attached as `src`, the target is `main`. */
export const RESTORE: DependencyContext = { fkSchema: 'src', lacks: 'the target does not have', fix: 'restore', checkRows: true };
/** A filtered backup: the snapshot copy (after the drops) is `main`. */
export const FILTERED_BACKUP: DependencyContext = { fkSchema: 'main', lacks: 'this backup leaves out', fix: 'back up', checkRows: false };

/**
 * What a partial restore left the restored objects without, as sentences for the user:
 * foreign-key parents the target lacks (or rows whose parent row is missing), and tables or views
 * that a restored view, trigger or external-content virtual table names but the target lacks.
 * Name matching in view/trigger SQL is by identifier token, so it may over-report, never miss.
 */
export function dependencyWarnings(db: Db, source: SchemaRow[], restored: SchemaRow[], context: DependencyContext = RESTORE): string[] {
  const { fkSchema, lacks, fix } = context;
  const target = schemaRows(db, 'main');
  const present = new Set(target.map((r) => r.name.toLowerCase()));
  const warnings: string[] = [];
  const tables = restored.filter((r) => r.type === 'table' && !isVirtual(r));
  const checked = new Set<string>();
  for (const t of tables) {
    const parents = foreignParents(db, fkSchema, t.name);
    const missing = parents.filter((p) => !present.has(p.toLowerCase()));
    for (const p of missing) {
      warnings.push(`"${t.name}" references "${p}" (foreign key), which ${lacks}: ${fix} "${p}" too (--tables ${t.name},${p}) or foreign-key checks will fail.`);
    }
    if (context.checkRows && !missing.length && parents.length) checked.add(t.name);
  }
  // Tables already in the target whose parent was just replaced (--clean) may now point nowhere.
  const restoredNames = new Set(tables.map((t) => t.name.toLowerCase()));
  for (const t of context.checkRows ? userTables(target) : []) {
    if (!restoredNames.has(t.name.toLowerCase()) && foreignParents(db, 'main', t.name).some((p) => restoredNames.has(p.toLowerCase()))) checked.add(t.name);
  }
  for (const name of checked) {
    const n = db.prepare(`SELECT count(*) AS n FROM pragma_foreign_key_check(?, 'main')`).get(name) as { n: number };
    if (n.n > 0) warnings.push(`"${name}" has ${n.n} row(s) whose foreign key points at a row the target does not have (see PRAGMA foreign_key_check).`);
  }
  const known = new Map([...userTables(source), ...source.filter((r) => r.type === 'view')].map((r) => [r.name.toLowerCase(), r.name]));
  for (const o of restored.filter((r) => r.type === 'view' || r.type === 'trigger' || isVirtual(r))) {
    const kind = isVirtual(o) ? 'virtual table' : o.type;
    for (const used of identifiers(o.sql ?? '')) {
      const name = known.get(used);
      if (name && used !== o.name.toLowerCase() && !present.has(used)) {
        warnings.push(`${kind} "${o.name}" uses "${name}", which ${lacks}: ${fix} "${name}" too or the ${kind} will fail when used.`);
      }
    }
  }
  return warnings;
}

function foreignParents(db: Db, schema: string, table: string): string[] {
  const rows = db.prepare(`SELECT DISTINCT "table" AS parent FROM pragma_foreign_key_list(?, ${quoteIdent(schema).replace(/"/g, "'")})`).all(table) as { parent: string }[];
  return rows.map((r) => r.parent).filter((p) => p.toLowerCase() !== table.toLowerCase());
}

/** Every identifier-like token in `sql` (bare, "quoted", `quoted`, [quoted], and words inside strings), lower-cased. */
function identifiers(sql: string): Set<string> {
  const out = new Set<string>();
  for (const m of sql.matchAll(/"((?:[^"]|"")+)"|`([^`]+)`|\[([^\]]+)\]|([A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*)/g)) {
    out.add((m[1]?.replace(/""/g, '"') ?? m[2] ?? m[3] ?? m[4]!).toLowerCase());
  }
  return out;
}
