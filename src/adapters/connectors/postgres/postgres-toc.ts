/**
 * The table of contents of a PostgreSQL backup (`toc.json`): every object as its own item with
 * the SQL that recreates it, the section it belongs to (as pg_dump's), and the items it depends
 * on. Restore runs pre-data in dependency order, loads data, then builds post-data in parallel.
 */
/**
 * 2 added object kinds (collations, text search, operators, casts, foreign data, event triggers,
 * publications, default privileges, database settings, split column defaults) and large objects
 * with data parts of their own: a reader of version 1 would silently leave those out.
 */
/**
 * 3 added items a restore skips (TocItem.skip, kind 'not-reproducible') and the kinds of issue 19
 * (base types, languages, access methods, transforms, conversions, subscriptions, security labels).
 */
export const TOC_VERSION = 3;
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
  | 'refresh'
  | 'collation'
  | 'ts-dict'
  | 'ts-config'
  | 'operator'
  | 'opfamily'
  | 'opclass'
  | 'cast'
  | 'large-objects'
  | 'publication'
  | 'publication-member'
  | 'event-trigger'
  | 'default-acl'
  | 'ts-parser'
  | 'ts-template'
  | 'fdw'
  | 'server'
  | 'user-mapping'
  | 'foreign-table'
  | 'database'
  | 'default'
  | 'extension-acl'
  | 'not-reproducible'
  | 'shell-type'
  | 'language'
  | 'access-method'
  | 'transform'
  | 'conversion'
  | 'subscription'
  | 'security-label';

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
  collation: 2.5,
  'ts-dict': 5.3,
  'ts-config': 5.4,
  operator: 5.5,
  opfamily: 5.6,
  opclass: 5.7,
  cast: 5.8,
  'large-objects': 12.5,
  publication: 30,
  'publication-member': 31,
  'event-trigger': 40,
  'default-acl': 41,
  'ts-parser': 5.1,
  'ts-template': 5.2,
  fdw: 5.85,
  server: 5.86,
  'user-mapping': 5.87,
  'foreign-table': 8.5,
  database: 42,
  default: 9.5,
  'extension-acl': 39,
  'not-reproducible': 5.9,
  'shell-type': 2.9,
  language: 5.05,
  'access-method': 5.45,
  transform: 5.82,
  conversion: 5.83,
  subscription: 32,
  'security-label': 43,
};

export interface CopyInfo {
  /** Object name as in the manifest (`schema.table`), and the quoted SQL name. */
  object: string;
  ident: string;
  /** Quoted column list for COPY (generated columns left out). */
  columns: string[];
  /** The rows join ones the table already holds (an extension's own): no TRUNCATE, no FREEZE. */
  append?: boolean;
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
  /**
   * A primary key or unique constraint that restore may build in two steps: `index` (CREATE UNIQUE
   * INDEX, which takes a share lock, so it builds beside the table's other indexes), then `attach`
   * (ADD CONSTRAINT … USING INDEX, a moment's exclusive lock) in place of `sql`. Absent where the
   * constraint cannot take over an index (partitioned tables, deferrable, INCLUDE, storage options).
   */
  viaIndex?: { index: string; attach: string };
  /**
   * Why the object cannot be reproduced (a kind dbbackup does not handle yet): the restore does not
   * run it, and skips it with everything that depends on it.
   */
  skip?: string;
}

/** The database's default collation provider beyond libc (PostgreSQL 15+: icu; 17+: builtin). */
export interface DatabaseLocale {
  provider: string | null;
  locale: string | null;
  icu_rules: string | null;
}

export interface Toc {
  version: number;
  serverVersion: string;
  encoding: string;
  collate: string;
  ctype: string;
  /** Absent for a libc database. */
  locale?: DatabaseLocale;
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
  // A binary heap keeps this O(n log n): databases with tens of thousands of objects are common.
  const ready = new Heap<TocItem>(compare);
  for (const i of items) if (waiting.get(i.id) === 0) ready.push(i);
  const out: TocItem[] = [];
  const done = new Set<number>();
  let rest: TocItem[] | undefined;
  while (out.length < items.length) {
    if (ready.size === 0) {
      // A loop: take the first remaining item in priority order and carry on.
      rest ??= [...items].sort(compare);
      while (done.has(rest[0]!.id)) rest.shift();
      ready.push(rest[0]!);
    }
    const next = ready.pop()!;
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

/** A minimal binary min-heap. */
class Heap<T> {
  private readonly a: T[] = [];
  constructor(private readonly less: (x: T, y: T) => number) {}
  get size(): number {
    return this.a.length;
  }
  push(v: T): void {
    const a = this.a;
    a.push(v);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (this.less(a[i]!, a[p]!) >= 0) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): T | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    a[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && this.less(a[l]!, a[m]!) < 0) m = l;
      if (r < a.length && this.less(a[r]!, a[m]!) < 0) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
    return top;
  }
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
