import { quoteIdent as qi, quoteLiteral as ql } from './connection.js';
import type { CatalogRows } from './postgres-catalog.js';
import type { TocItem } from './postgres-toc.js';

/**
 * Ordering rules that pg_depend alone does not give; each runs once the items' dependencies
 * are wired.
 */

/**
 * An index on a partitioned table is invalid until every partition's index is attached, and a
 * foreign key can only reference a valid one: whatever needs such an index (a foreign key to a
 * partitioned table) also waits for the indexes (and sub-partition indexes) attached to it.
 */
export function waitForAttachedIndexes(items: TocItem[], rows: CatalogRows, itemOf: (oid: number) => number | undefined): void {
  const children = new Map<number, number[]>();
  for (const i of rows.indexes) {
    if (!i.parent) continue;
    const parent = itemOf(i.parent);
    const child = itemOf(i.oid);
    if (parent === undefined || child === undefined || parent === child) continue;
    children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  if (children.size === 0) return;
  const descendants = (id: number, out = new Set<number>()): Set<number> => {
    for (const c of children.get(id) ?? []) if (!out.has(c)) descendants(c, out.add(c));
    return out;
  };
  const attached = new Set([...children.values()].flat());
  for (const item of items) {
    if (attached.has(item.id)) continue;
    const extra = item.deps.filter((d) => children.has(d)).flatMap((d) => [...descendants(d)]);
    if (extra.length) item.deps = [...new Set([...item.deps, ...extra])].filter((d) => d !== item.id).sort((a, b) => a - b);
  }
}

const EXPRESSION_KINDS = new Set(['index', 'constraint', 'check', 'refresh', 'statistics']);

/**
 * Restore runs with an empty search_path (pg_dump's defence against CVE-2018-1058), so an
 * expression index or check built on an extension's SQL function whose body names the extension's
 * own objects unqualified (earthdistance's ll_to_earth, many older extensions) fails to build,
 * as it does under pg_restore. Items that use an extension get the schemas of those extensions on
 * their search_path while they run (the objects there are the extension's own), then it is reset.
 */
export function pinExtensionSearchPath(items: TocItem[]): void {
  const byId = new Map(items.map((i) => [i.id, i]));
  for (const item of items) {
    if (!EXPRESSION_KINDS.has(item.kind)) continue;
    const schemas = [...new Set(item.deps.map((d) => byId.get(d)).filter((d) => d?.kind === 'extension').map((d) => d!.schema!))].sort();
    if (schemas.length === 0) continue;
    const path = ql(schemas.map((s) => qi(s)).join(', '));
    item.sql = `SELECT pg_catalog.set_config('search_path', ${path}, false);\n${item.sql}\nSELECT pg_catalog.set_config('search_path', '', false);`;
  }
}

/**
 * Event triggers and default privileges act on every later DDL statement (an event trigger may
 * log or refuse it; default privileges add grants to new objects), so, as in pg_dump, they come
 * after every other item.
 */
export function runLast(items: TocItem[], last: Set<string>): void {
  const others = items.filter((i) => !last.has(i.kind) && i.section !== 'data').map((i) => i.id);
  for (const item of items) if (last.has(item.kind)) item.deps = [...new Set([...item.deps, ...others])].sort((a, b) => a - b);
}
