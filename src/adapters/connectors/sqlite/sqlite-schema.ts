import type BetterSqlite3 from 'better-sqlite3';
import type { ObjectEntry } from '../../../domain/manifest.js';

export interface SchemaRow {
  type: 'table' | 'index' | 'view' | 'trigger';
  name: string;
  tbl_name: string;
  sql: string | null;
}

/** Quotes an identifier for SQLite ("a""b"). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function schemaRows(db: BetterSqlite3.Database, schema = 'main'): SchemaRow[] {
  return db
    .prepare(`SELECT type, name, tbl_name, sql FROM ${quoteIdent(schema)}.sqlite_master ORDER BY rowid`)
    .all() as SchemaRow[];
}

/**
 * Shadow tables each built-in virtual-table module creates (`<vtab>_<suffix>`). A module we do not
 * know (an extension such as sqlite-vec's vec0) is assumed to own every `<vtab>_*` table.
 */
const SHADOW_SUFFIXES: Record<string, string[]> = {
  fts5: ['data', 'idx', 'content', 'docsize', 'config'],
  fts4: ['content', 'segments', 'segdir', 'docsize', 'stat'],
  fts3: ['content', 'segments', 'segdir', 'docsize', 'stat'],
  rtree: ['node', 'rowid', 'parent'],
  rtree_i32: ['node', 'rowid', 'parent'],
  geopoly: ['node', 'rowid', 'parent'],
  // Built in, but keep no data of their own (they read another table).
  fts5vocab: [],
  fts4aux: [],
  dbstat: [],
};

export function isVirtual(row: SchemaRow): boolean {
  return row.type === 'table' && /^\s*CREATE\s+VIRTUAL\s+TABLE/i.test(row.sql ?? '');
}

/** The module of a virtual table (`fts5`, `rtree`, `vec0`, …), lower-cased. */
export function moduleOf(row: SchemaRow): string | undefined {
  return isVirtual(row) ? /\bUSING\s+([A-Za-z_][\w$]*)/i.exec(row.sql ?? '')?.[1]?.toLowerCase() : undefined;
}

/** Whether SQLite's own code (not an extension) implements this module, so every build has it. */
export function isKnownModule(module: string | undefined): boolean {
  return module !== undefined && module in SHADOW_SUFFIXES;
}

/** The shadow tables of virtual table `vtab` (they hold its data; SQLite creates and drops them with it). */
export function shadowTablesOf(rows: SchemaRow[], vtab: SchemaRow): SchemaRow[] {
  const prefix = `${vtab.name.toLowerCase()}_`;
  const suffixes = SHADOW_SUFFIXES[moduleOf(vtab) ?? ''];
  return rows.filter((r) => {
    if (r.type !== 'table' || isVirtual(r)) return false;
    const name = r.name.toLowerCase();
    return name.startsWith(prefix) && (suffixes === undefined || suffixes.includes(name.slice(prefix.length)));
  });
}

/** User tables: not SQLite's own (sqlite_*) and not the shadow tables of virtual tables. */
export function userTables(rows: SchemaRow[]): SchemaRow[] {
  const shadows = new Set(rows.filter(isVirtual).flatMap((v) => shadowTablesOf(rows, v)).map((r) => r.name));
  return rows.filter((r) => r.type === 'table' && !r.name.startsWith('sqlite_') && !shadows.has(r.name));
}

/** Below this file size the manifest gets bytes per table from dbstat (a walk of every page). */
export const SIZES_UP_TO_BYTES = 64 * 1024 * 1024;

/**
 * Objects with exact row counts and, when `sizes` is set (and dbstat is compiled in), their bytes
 * on disk. A virtual table whose module this build lacks cannot be counted: it gets no row count
 * and a warning (its data is in the file all the same).
 */
export function describeObjects(db: BetterSqlite3.Database, options: { sizes: boolean } = { sizes: true }): { objects: ObjectEntry[]; warnings: string[] } {
  const rows = schemaRows(db);
  const sizes = options.sizes ? tableSizes(db) : new Map<string, number>();
  const tables = new Set(userTables(rows).map((r) => r.name));
  // Indexes by the (case-folded) table they belong to: one pass, not one scan of the schema per table.
  const indexesOf = new Map<string, string[]>();
  for (const i of rows) {
    if (i.type !== 'index') continue;
    const key = i.tbl_name.toLowerCase();
    const list = indexesOf.get(key);
    if (list) list.push(i.name);
    else indexesOf.set(key, [i.name]);
  }
  const objects: ObjectEntry[] = [];
  const warnings: string[] = [];
  for (const r of rows) {
    if (r.name.startsWith('sqlite_')) continue;
    if (r.type === 'table' && !tables.has(r.name)) continue;
    const entry: ObjectEntry = { name: r.name, type: isVirtual(r) ? 'virtual table' : r.type };
    if (r.type === 'table') {
      try {
        entry.rows = (db.prepare(`SELECT count(*) AS n FROM ${quoteIdent(r.name)}`).get() as { n: number }).n;
      } catch (err) {
        warnings.push(
          `Virtual table "${r.name}" uses module ${moduleOf(r) ?? '?'}, which this SQLite build lacks (${(err as Error).message}): ` +
            'it is in the backup, but its rows are not counted and it can only be restored with the whole database.',
        );
      }
      const own = [r, ...(isVirtual(r) ? shadowTablesOf(rows, r) : [])].map((t) => t.name);
      const indexes = own.flatMap((t) => indexesOf.get(t.toLowerCase()) ?? []);
      if (sizes.has(r.name) || own.some((t) => sizes.has(t))) entry.rawBytes = [...own, ...indexes].reduce((n, x) => n + (sizes.get(x) ?? 0), 0);
    }
    objects.push(entry);
  }
  return { objects, warnings };
}

function tableSizes(db: BetterSqlite3.Database): Map<string, number> {
  const sizes = new Map<string, number>();
  try {
    // aggregate=TRUE: one row per b-tree, not one per page (about a quarter faster on large files).
    for (const r of db.prepare('SELECT name, pgsize AS bytes FROM dbstat WHERE aggregate = TRUE').all() as { name: string; bytes: number }[]) {
      sizes.set(r.name, r.bytes);
    }
  } catch {
    /* dbstat not compiled in: sizes stay unknown */
  }
  return sizes;
}

/** The schema as SQL a person (or the sqlite3 shell) can read and run. */
export function schemaSql(rows: SchemaRow[], settings: Record<string, unknown> = {}): string {
  const order = { table: 0, index: 1, view: 2, trigger: 3 } as const;
  // SQLite's own tables (sqlite_sequence, sqlite_stat1) and shadow tables are created for you:
  // creating them again by hand fails.
  const shadows = new Set(rows.filter(isVirtual).flatMap((v) => shadowTablesOf(rows, v)).map((r) => r.name));
  // Settings first: page size, auto_vacuum and encoding only take effect before the first table.
  const pragmas = Object.entries(settings).map(([k, v]) => `PRAGMA ${k} = ${typeof v === 'number' ? v : `'${String(v)}'`};\n`);
  return pragmas.join('') + [...rows]
    .filter((r) => r.sql && !r.name.startsWith('sqlite_') && !shadows.has(r.name))
    .sort((a, b) => order[a.type] - order[b.type])
    .map((r) => `${r.sql};\n`)
    .join('');
}

/** SQLite compares names without regard to (ASCII) case: `Track` and `track` are one table. */
export function sameName(a: string, b: string): boolean {
  return a === b || a.toLowerCase() === b.toLowerCase();
}

/**
 * Whether an index or trigger belongs to one of `tables` (its tbl_name keeps the case it was written
 * in). The names are folded once, so testing every row of a 10,000-table schema stays linear.
 */
export function belongsTo(tables: Set<string>): (row: SchemaRow) => boolean {
  const folded = new Set([...tables].map((t) => t.toLowerCase()));
  return (row) => folded.has(row.tbl_name.toLowerCase());
}

/**
 * Applies --tables / --exclude-tables to a schema: the chosen tables and views, plus the indexes
 * and triggers that belong to them. Names match as SQLite matches them (case-insensitively).
 * Unknown names are returned so the caller can refuse them.
 */
export function selectObjects(rows: SchemaRow[], include?: string[], exclude?: string[]): { keep: Set<string>; unknown: string[] } {
  const candidates = [...userTables(rows), ...rows.filter((r) => r.type === 'view')].map((r) => r.name);
  const exact = new Set(candidates);
  const folded = new Map<string, string>();
  for (const c of candidates) if (!folded.has(c.toLowerCase())) folded.set(c.toLowerCase(), c);
  const resolve = (n: string) => (exact.has(n) ? n : folded.get(n.toLowerCase()));
  const unknown = [...(include ?? []), ...(exclude ?? [])].filter((n) => resolve(n) === undefined);
  const included = include === undefined ? undefined : new Set(include.map(resolve));
  const excluded = new Set((exclude ?? []).map(resolve));
  const chosen = new Set(candidates.filter((n) => (included === undefined || included.has(n)) && !excluded.has(n)));
  return { keep: chosen, unknown };
}
