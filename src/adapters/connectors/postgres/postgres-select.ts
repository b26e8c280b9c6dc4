import { DbBackupError } from '../../../domain/errors.js';
import { closure, type TocItem } from './postgres-toc.js';

export interface ItemFilter {
  tables?: string[];
  excludeTables?: string[];
  schemas?: string[];
}

export interface Selection {
  keep: Set<number>;
  warnings: string[];
}

const RELATION_KINDS = new Set(['table', 'view', 'matview', 'foreign-table']);

/**
 * Applies --tables / --schemas / --exclude-tables to TOC items.
 *
 * With --tables or --schemas, the chosen relations (a partitioned or inherited table brings its
 * partitions and children) plus everything they need (schemas, types, sequences, functions,
 * parent tables), then their indexes, constraints, triggers and the like whose dependencies are
 * all kept; a foreign key to a table left out is dropped with a warning. With --exclude-tables
 * alone, everything except those tables and whatever cannot exist without them.
 */
export function selectItems(items: TocItem[], filter: ItemFilter): Selection {
  const warnings: string[] = [];
  const relations = items.filter((i) => RELATION_KINDS.has(i.kind));
  const excluded = new Set(resolveNames(relations, filter.excludeTables ?? [], '--exclude-tables').map((i) => i.id));
  if (!filter.tables && !filter.schemas) {
    if (excluded.size === 0) return { keep: new Set(items.map((i) => i.id)), warnings };
    return { keep: withoutDependents(items, excluded, warnings), warnings };
  }
  const schemas = new Set(filter.schemas ?? []);
  const known = new Set(items.map((i) => i.schema));
  const missing = [...schemas].filter((s) => !known.has(s));
  if (missing.length) {
    throw new DbBackupError('E_USAGE', `There is no schema ${missing.map((m) => `"${m}"`).join(', ')} in the backup; it has: ${[...known].filter(Boolean).sort().join(', ')}.`);
  }
  const roots = new Set<number>();
  for (const item of resolveNames(relations, filter.tables ?? [], '--tables')) roots.add(item.id);
  for (const item of items) if (item.section === 'pre-data' && item.schema !== null && schemas.has(item.schema)) roots.add(item.id);
  // Partitions and inheritance children of a chosen table hold its rows.
  for (let grew = true; grew; ) {
    grew = false;
    const chosen = new Set(relations.filter((r) => roots.has(r.id)).map((r) => r.name));
    for (const r of relations) {
      if (!roots.has(r.id) && !excluded.has(r.id) && r.parents?.some((p) => chosen.has(p))) {
        roots.add(r.id);
        grew = true;
      }
    }
  }
  for (const id of excluded) roots.delete(id);
  const keep = closure(items, roots);
  for (const id of excluded) {
    if (keep.has(id)) warnings.push(`${items.find((i) => i.id === id)!.name} is kept although excluded: chosen objects need it.`);
  }
  addDependents(items, keep, warnings);
  return { keep, warnings };
}

/** Items hanging off kept ones (indexes, constraints, triggers, sequence values …) whose needs are all kept. */
function addDependents(items: TocItem[], keep: Set<number>, warnings: string[]): void {
  const byId = new Map(items.map((i) => [i.id, i]));
  const dependents = new Map<number, TocItem[]>();
  for (const item of items) {
    for (const d of item.deps) {
      const list = dependents.get(d);
      if (list) list.push(item);
      else dependents.set(d, [item]);
    }
  }
  const eligible = (item: TocItem) =>
    !keep.has(item.id) &&
    item.deps.length > 0 &&
    (item.section !== 'pre-data' || item.kind === 'sequence-owned' || item.kind === 'default') &&
    item.kind !== 'view' && item.kind !== 'matview' && item.kind !== 'foreign-table';
  // A worklist, not repeated passes: large schemas have tens of thousands of items.
  const queue = [...keep];
  while (queue.length) {
    for (const item of dependents.get(queue.pop()!) ?? []) {
      if (eligible(item) && item.deps.every((d) => keep.has(d))) {
        keep.add(item.id);
        queue.push(item.id);
      }
    }
  }
  const keptTables = new Set(items.filter((i) => i.kind === 'table' && keep.has(i.id)).map((i) => i.name));
  for (const item of items) {
    if (item.kind !== 'fk' || keep.has(item.id) || !keptTables.has(item.tables[0]!)) continue;
    const missing = item.deps.map((d) => byId.get(d)!).filter((d) => !keep.has(d.id) && d.kind === 'table');
    warnings.push(`Foreign key ${item.name} left out: it references ${missing.map((m) => m.name).join(', ') || 'a table'} that is not restored.`);
  }
}

/** Everything except `removed` and (recursively) what depends on it. */
function withoutDependents(items: TocItem[], removed: Set<number>, warnings: string[]): Set<number> {
  const gone = new Set(removed);
  for (let grew = true; grew; ) {
    grew = false;
    for (const item of items) {
      if (!gone.has(item.id) && item.deps.some((d) => gone.has(d))) {
        gone.add(item.id);
        grew = true;
        if (RELATION_KINDS.has(item.kind) || item.kind === 'function' || item.kind === 'fk') {
          warnings.push(`${item.name} left out: it depends on an excluded table.`);
        }
      }
    }
  }
  return new Set(items.filter((i) => !gone.has(i.id)).map((i) => i.id));
}

/**
 * Finds relations by name: `schema.table` exactly, else `public.<name>`, else a unique table of
 * that name in any schema. Unknown or ambiguous names are a usage error that lists what exists.
 */
export function resolveNames(relations: TocItem[], names: string[], flag: string): TocItem[] {
  const out: TocItem[] = [];
  for (const raw of names) {
    const name = raw.trim();
    let found = relations.filter((r) => r.name === name);
    if (found.length === 0) found = relations.filter((r) => r.name === `public.${name}`);
    if (found.length === 0) found = relations.filter((r) => r.schema !== null && r.name === `${r.schema}.${name}`);
    if (found.length === 0) found = relations.filter((r) => r.schema !== null && r.name.slice(r.schema.length + 1) === name);
    if (found.length !== 1) {
      const choices = relations.map((r) => r.name).sort();
      const list = choices.length > 30 ? `${choices.slice(0, 30).join(', ')} …` : choices.join(', ');
      throw new DbBackupError(
        'E_USAGE',
        found.length === 0
          ? `${flag} names "${name}", which is not a table or view here; there are: ${list || '(none)'}.`
          : `${flag} names "${name}", which matches ${found.map((f) => f.name).join(' and ')}; write it as schema.table.`,
      );
    }
    out.push(found[0]!);
  }
  return out;
}
