/**
 * The table of contents of a PostgreSQL backup (`toc.json`): every object as its own item with
 * the SQL that recreates it, the section it belongs to (as pg_dump's), and the items it depends
 * on. Restore runs pre-data in dependency order, loads data, then builds post-data in parallel.
 */
export const TOC_VERSION = 1;
export const TOC_PART = 'toc.json';

export type Section = 'pre-data' | 'data' | 'post-data';

export type TocKind =
  | 'schema'
  | 'extension'
  | 'type'
  | 'domain'
  | 'function'
  | 'aggregate'
  | 'sequence'
  | 'table'
  | 'sequence-owned'
  | 'view'
  | 'matview'
  | 'sequence-set'
  | 'constraint'
  | 'check'
  | 'index'
  | 'fk'
  | 'trigger'
  | 'rule'
  | 'policy'
  | 'table-attrs'
  | 'statistics'
  | 'refresh';

/** Order of kinds when dependencies allow any order (close to pg_dump's). */
const PRIORITY: Record<TocKind, number> = {
  schema: 1,
  extension: 2,
  type: 3,
  domain: 4,
  function: 5,
  aggregate: 6,
  sequence: 7,
  table: 8,
  'sequence-owned': 9,
  view: 10,
  matview: 11,
  'sequence-set': 12,
  constraint: 20,
  check: 21,
  index: 22,
  fk: 23,
  trigger: 24,
  rule: 25,
  policy: 26,
  'table-attrs': 27,
  statistics: 28,
  refresh: 29,
};

export interface CopyInfo {
  /** Object name as in the manifest (`schema.table`), and the quoted SQL name. */
  object: string;
  ident: string;
  /** Quoted column list for COPY (generated columns left out). */
  columns: string[];
}

export interface TocItem {
  id: number;
  kind: TocKind;
  section: Section;
  /** Schema the object lives in (null for extensions' own rows and the like). */
  schema: string | null;
  /** Readable name: `public.users`, `public.users_pkey`, `public.f(integer)`. */
  name: string;
  /** Tables (manifest object names) this item belongs to or locks while it runs. */
  tables: string[];
  deps: number[];
  /** Statements that create the object, with its comments. */
  sql: string;
  /** ALTER … OWNER TO …, applied only with --restore-owner. */
  owner?: string;
  /** GRANT/REVOKE statements, applied only with --restore-grants. */
  acl?: string;
  /** Statement that removes the object for --clean. */
  drop?: string;
  /** Tables: the parent tables (manifest names) it inherits from or is a partition of. */
  parents?: string[];
  /** Tables with data: how to COPY into them. */
  copy?: CopyInfo;
}

export interface Toc {
  version: number;
  serverVersion: string;
  encoding: string;
  collate: string;
  ctype: string;
  items: TocItem[];
}

export function priority(kind: TocKind): number {
  return PRIORITY[kind];
}

/**
 * Orders items so each comes after the items it depends on, and otherwise by kind priority and
 * name (a stable, readable order). A dependency loop is broken at its lowest-priority item.
 */
export function sortItems(items: TocItem[]): TocItem[] {
  const byId = new Map(items.map((i) => [i.id, i]));
  const waiting = new Map<number, number>();
  const dependents = new Map<number, number[]>();
  for (const item of items) {
    const deps = [...new Set(item.deps)].filter((d) => d !== item.id && byId.has(d));
    waiting.set(item.id, deps.length);
    for (const d of deps) {
      const list = dependents.get(d) ?? [];
      list.push(item.id);
      dependents.set(d, list);
    }
  }
  const compare = (a: TocItem, b: TocItem) => priority(a.kind) - priority(b.kind) || (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id);
  const ready = items.filter((i) => waiting.get(i.id) === 0);
  const out: TocItem[] = [];
  const done = new Set<number>();
  while (out.length < items.length) {
    if (ready.length === 0) {
      // A loop: take the first remaining item in priority order and carry on.
      const rest = items.filter((i) => !done.has(i.id)).sort(compare);
      ready.push(rest[0]!);
    }
    ready.sort(compare);
    const next = ready.shift()!;
    if (done.has(next.id)) continue;
    done.add(next.id);
    out.push(next);
    for (const d of dependents.get(next.id) ?? []) {
      const left = waiting.get(d)! - 1;
      waiting.set(d, left);
      if (left === 0 && !done.has(d)) ready.push(byId.get(d)!);
    }
  }
  return out;
}

/** Every item `roots` needs, following dependencies (roots included). */
export function closure(items: TocItem[], roots: Iterable<number>): Set<number> {
  const byId = new Map(items.map((i) => [i.id, i]));
  const seen = new Set<number>();
  const stack = [...roots];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const d of byId.get(id)?.deps ?? []) if (!seen.has(d)) stack.push(d);
  }
  return seen;
}
