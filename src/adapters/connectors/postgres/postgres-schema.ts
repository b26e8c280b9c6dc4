import { quoteIdent as qi } from './connection.js';
import type { CatalogRows } from './postgres-catalog.js';
import type { ColumnRow, ConstraintRow, RelationRow, SequenceRow } from './postgres-catalog-types.js';
import {
  aclSql,
  columnAclSql,
  comment,
  functionSql,
  ownerSql,
  relationKeyword,
  sequenceSql,
  tableAttrsSql,
  tableSql,
  typeSql,
  viewSql,
} from './postgres-ddl.js';
import { buildLargeObjectItems } from './postgres-blob-items.js';
import { buildExtConfigItems } from './postgres-extconfig.js';
import { buildForeignItems, foreignTableSql } from './postgres-foreign.js';
import { buildKindItems, useShellTypes } from './postgres-kinds.js';
import { buildCatalogObjects } from './postgres-objects.js';
import { pinExtensionSearchPath, runLast, waitForAttachedIndexes } from './postgres-order.js';
import { buildPostData } from './postgres-post-data.js';
import type { DataTable, SchemaModel } from './postgres-schema-model.js';
import type { TocItem } from './postgres-toc.js';

type NewItem = Omit<TocItem, 'id' | 'deps' | 'tables'> & { tables?: string[] };

/**
 * Turns catalog rows into TOC items and wires their dependencies from pg_depend: every catalog
 * object maps to the item that creates it (an index to its constraint, a view's rule to the view,
 * an array type to its element, an extension's member to the extension).
 */
export function buildSchema(rows: CatalogRows): SchemaModel {
  const items: TocItem[] = [];
  const keyToItem = new Map<string, number>();
  const cls = rows.classIds;
  const key = (catalog: string, oid: number) => `${cls[catalog]}:${oid}`;
  const add = (item: NewItem, ...keys: string[]): TocItem => {
    // Copied key by key, the empty ones left out: deleting them instead would turn each of the
    // (tens of thousands of) items into a dictionary-mode object of ~1.3 kB more.
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(item)) if (v !== undefined && v !== '') fields[k] = typeof v === 'string' ? flat(v) : v;
    if (item.viaIndex) fields.viaIndex = { index: flat(item.viaIndex.index), attach: flat(item.viaIndex.attach) };
    fields.id = items.length + 1;
    fields.deps = [];
    fields.tables = item.tables ?? [];
    const full = fields as unknown as TocItem;
    items.push(full);
    for (const k of keys) keyToItem.set(k, full.id);
    return full;
  };
  const db = rows.objects.database;
  const extraWarnings = [
    ...(rows.foreign.hiddenMappings
      ? [`${rows.foreign.hiddenMappings} user mappings are backed up without their options (remote user names, passwords): this role may not read them; back up as a superuser or the foreign servers' owner to keep them.`]
      : []),
    ...(db.tablespaced ? [`${db.tablespaced} tables, indexes or materialized views are in tablespaces of their own; a restore puts them in the target's default tablespace.`] : []),
  ];
  const warnings = unsupportedWarnings(rows);

  buildTypesAndRoutines(rows, add, key, keyToItem);
  const extConfig = buildExtConfigItems(rows.extConfig, add, (oid) => keyToItem.get(key('pg_extension', oid)));
  const tables = buildRelations(rows, add, key, keyToItem);
  tables.data.push(...extConfig.tables);
  const sequences = [...buildSequences(rows, add, key, keyToItem, tables.byOid), ...extConfig.sequences];
  buildPostData(rows, add, key, tables.byOid);
  const relationOf = (oid: number) => {
    const r = tables.byOid.get(oid);
    return r && { object: objectName(r), ident: r.ident };
  };
  buildForeignItems(rows.foreign, add, key);
  buildCatalogObjects(rows.objects, add, key, relationOf, (oid) => keyToItem.get(key('pg_extension', oid)));
  buildLargeObjectItems(rows.objects.largeObjects, add);
  const shells = buildKindItems(rows.kinds, add, key, (k) => keyToItem.get(k));
  for (const u of rows.unsupported) {
    add({ kind: 'not-reproducible', section: 'pre-data', schema: null, name: `${u.kind} ${u.name}`,
      sql: `-- ${u.kind} ${u.name.replace(/\n/g, ' ')}: not reproduced by dbbackup`, skip: u.reason }, key(u.catalog, u.oid));
  }
  wireDependencies(rows, items, keyToItem, key);
  useShellTypes(items, shells);
  runLast(items, new Set(['event-trigger', 'default-acl', 'database']));
  waitForAttachedIndexes(items, rows, (oid) => keyToItem.get(key('pg_class', oid)));
  addRefreshes(items, tables.matviews, add);
  pinExtensionSearchPath(items);
  return { items, tables: tables.data, sequences, warnings: [...warnings, ...extraWarnings, ...extConfig.warnings], largeObjects: rows.objects.largeObjects.map((l) => l.oid) };
}

type Add = (item: NewItem, ...keys: string[]) => TocItem;

/**
 * `s` made one flat string in place. SQL built by concatenation is a rope of one node per piece
 * (32 bytes each, several times the text): reading a character makes V8 copy it flat once, and
 * the pieces become garbage. Every item's SQL stays in memory until the TOC is written.
 */
function flat(s: string): string {
  s.charCodeAt(0);
  return s;
}

/** One warning per kind the dump cannot reproduce: the restore skips those objects and what needs them. */
function unsupportedWarnings(rows: CatalogRows): string[] {
  const counts = new Map<string, number>();
  for (const u of rows.unsupported) counts.set(u.kind, (counts.get(u.kind) ?? 0) + 1);
  const reasons = new Map(rows.unsupported.map((u) => [u.kind, u.reason]));
  return [...counts].map(([kind, n]) => `${n} ${kind}${n > 1 ? ' objects' : ''} not backed up (${reasons.get(kind)}): a restore skips ${n > 1 ? 'them' : 'it'} and what depends on ${n > 1 ? 'them' : 'it'}.`);
}

function push<K, V>(map: Map<K, V[]>, k: K, v: V): void {
  const list = map.get(k);
  if (list) list.push(v);
  else map.set(k, [v]);
}
type Key = (catalog: string, oid: number) => string;

/** Schemas, extensions, types (with domain constraints) and functions: the start of pre-data. */
function buildTypesAndRoutines(rows: CatalogRows, add: Add, key: Key, keyToItem: Map<string, number>): void {
  for (const s of rows.schemas) {
    const ident = qi(s.name);
    add(
      {
        kind: 'schema', section: 'pre-data', schema: s.name, name: s.name,
        sql: `CREATE SCHEMA IF NOT EXISTS ${ident};${comment(`SCHEMA ${ident}`, s.comment)}`,
        owner: ownerSql('SCHEMA', ident, s.owner), acl: aclSql('SCHEMA', ident, s.owner, s.acl),
        drop: s.name === 'public' ? undefined : `DROP SCHEMA IF EXISTS ${ident};`,
      },
      key('pg_namespace', s.oid),
    );
  }
  for (const x of rows.extensions) {
    add(
      {
        kind: 'extension', section: 'pre-data', schema: x.schema, name: x.name,
        sql: `CREATE EXTENSION IF NOT EXISTS ${qi(x.name)} WITH SCHEMA ${qi(x.schema)};${comment(`EXTENSION ${qi(x.name)}`, x.comment)}`,
        drop: `DROP EXTENSION IF EXISTS ${qi(x.name)};`,
      },
      key('pg_extension', x.oid),
    );
  }
  const domainChecks = new Map<number, typeof rows.constraints>();
  for (const c of rows.constraints) if (c.contypid) push(domainChecks, c.contypid, c);
  for (const t of rows.types) {
    const checks = domainChecks.get(t.oid) ?? [];
    const kw = t.typtype === 'd' ? 'DOMAIN' : 'TYPE';
    const comments = checks.map((c) => comment(`CONSTRAINT ${qi(c.conname)} ON DOMAIN ${t.ident}`, c.comment)).join('');
    const item = add(
      {
        kind: t.typtype === 'd' ? 'domain' : 'type', section: 'pre-data', schema: t.schema, name: t.ident,
        sql: `${typeSql(t, checks)}${comment(`${kw} ${t.ident}`, t.comment)}${comments}${(t.attr_comments ?? []).map((a) => comment(`COLUMN ${t.ident}.${a.name}`, a.comment)).join('')}`,
        owner: ownerSql(kw, t.ident, t.owner), acl: aclSql(kw, t.ident, t.owner, t.acl),
        drop: `DROP ${kw} IF EXISTS ${t.ident} CASCADE;`,
      },
      key('pg_type', t.oid),
      ...(t.typrelid ? [key('pg_class', t.typrelid)] : []),
      ...(t.multirange_oid ? [key('pg_type', t.multirange_oid)] : []),
    );
    for (const c of checks) {
      if (c.convalidated) keyToItem.set(key('pg_constraint', c.oid), item.id);
      else {
        add(
          { kind: 'check', section: 'post-data', schema: t.schema, name: `${t.ident} ${c.conname}`,
            sql: `ALTER DOMAIN ${t.ident} ADD CONSTRAINT ${qi(c.conname)} ${c.def};${comment(`CONSTRAINT ${qi(c.conname)} ON DOMAIN ${t.ident}`, c.comment)}` },
          key('pg_constraint', c.oid),
        );
      }
    }
  }
  for (const f of rows.functions) {
    const kw = f.prokind === 'p' ? 'PROCEDURE' : f.prokind === 'a' ? 'AGGREGATE' : 'FUNCTION';
    add(
      {
        kind: f.prokind === 'a' ? 'aggregate' : 'function', section: 'pre-data', schema: f.schema, name: f.ident,
        sql: `${functionSql(f)}${comment(`${kw} ${f.ident}`, f.comment)}`,
        owner: ownerSql(kw, f.ident, f.owner), acl: aclSql(kw === 'PROCEDURE' ? 'PROCEDURE' : 'FUNCTION', f.ident, f.owner, f.acl),
        drop: `DROP ${kw} IF EXISTS ${f.ident} CASCADE;`,
      },
      key('pg_proc', f.oid),
    );
  }
}

function objectName(r: { schema: string; name: string }): string {
  return `${r.schema}.${r.name}`;
}

function buildRelations(rows: CatalogRows, add: Add, key: Key, keyToItem: Map<string, number>) {
  const columnsOf = new Map<number, ColumnRow[]>();
  const split = splitDefaults(rows);
  const splitColumns = new Map<number, ColumnRow[]>();
  for (const c of rows.columns) {
    if (split.has(c.defoid ?? 0)) push(splitColumns, c.attrelid, c);
    const column = split.has(c.defoid ?? 0) ? { ...c, def: null } : c;
    push(columnsOf, c.attrelid, column);
  }
  const identities = new Map<string, SequenceRow>();
  const identitiesOf = new Map<number, SequenceRow[]>();
  for (const s of rows.sequences) {
    if (s.deptype !== 'i' || !s.owned_table) continue;
    identities.set(`${s.owned_table}:${s.owned_column}`, s);
    push(identitiesOf, s.owned_table, s);
  }
  const constraintsOf = new Map<number, ConstraintRow[]>();
  for (const c of rows.constraints) if (c.conrelid) push(constraintsOf, c.conrelid, c);
  const inlineChecks = (r: RelationRow) => (constraintsOf.get(r.oid) ?? []).filter((c) => c.contype === 'c' && c.conislocal && c.convalidated);
  const byOid = new Map<number, RelationRow>();
  const data: DataTable[] = [];
  const matviews: { oid: number; itemId: number; populated: boolean; ident: string; object: string }[] = [];
  const parentNames = new Map(rows.relations.map((r) => [r.oid, objectName(r)]));
  for (const r of rows.relations) {
    byOid.set(r.oid, r);
    const columns = columnsOf.get(r.oid) ?? [];
    const object = objectName(r);
    const kw = relationKeyword(r.relkind);
    const colComments = columns.map((c) => comment(`COLUMN ${r.ident}.${qi(c.attname)}`, c.comment)).join('');
    const isTable = r.relkind === 'r' || r.relkind === 'p';
    const checks = isTable || r.relkind === 'f' ? inlineChecks(r) : [];
    const checkComments = checks.map((c) => comment(`CONSTRAINT ${qi(c.conname)} ON ${r.ident}`, c.comment)).join('');
    const parentColumns = (r.parent_oids ?? []).flatMap((p) => columnsOf.get(p) ?? []);
    const inherited = (constraintsOf.get(r.oid) ?? []).filter((c) => c.contype === 'c' && !c.conislocal);
    const sql = isTable ? tableSql(r, columns, checks, identities, parentColumns, inherited) : r.relkind === 'f' ? foreignTableSql(r, columns, checks) : viewSql(r);
    const acl = [aclSql('TABLE', r.ident, r.owner, r.acl), ...columnAclSql(r.ident, columns)].filter(Boolean).join('\n');
    const copyColumns = columns.filter((c) => c.attgenerated === '').map((c) => qi(c.attname));
    const item = add(
      {
        kind: isTable ? 'table' : r.relkind === 'v' ? 'view' : r.relkind === 'f' ? 'foreign-table' : 'matview', section: 'pre-data', schema: r.schema, name: object,
        tables: [object], sql: `${sql}${comment(`${kw} ${r.ident}`, r.comment)}${colComments}${checkComments}`,
        owner: ownerSql(kw, r.ident, r.owner), acl: acl || undefined,
        drop: `DROP ${kw} IF EXISTS ${r.ident} CASCADE;`,
        copy: r.relkind === 'r' ? { object, ident: r.ident, columns: copyColumns } : undefined,
        parents: r.parent_oids?.length ? r.parent_oids.map((p) => parentNames.get(p) ?? '') : undefined,
      },
      key('pg_class', r.oid),
      ...checks.map((c) => key('pg_constraint', c.oid)),
    );
    if (r.relkind === 'r') data.push({ itemId: item.id, oid: r.oid, object, ident: r.ident, columns: copyColumns, relpages: r.relpages });
    if (r.relkind === 'm') matviews.push({ oid: r.oid, itemId: item.id, populated: r.relispopulated, ident: r.ident, object });
    const attrs = tableAttrsSql(r);
    if (attrs) add({ kind: 'table-attrs', section: 'post-data', schema: r.schema, name: object, tables: [object], sql: attrs }).deps.push(item.id);
    for (const s of identitiesOf.get(r.oid) ?? []) keyToItem.set(key('pg_class', s.oid), item.id);
    for (const c of splitColumns.get(r.oid) ?? []) {
      const alter = r.relkind === 'f' ? 'FOREIGN TABLE' : 'TABLE';
      add({ kind: 'default', section: 'pre-data', schema: r.schema, name: `${object}.${c.attname}`, tables: [object],
        sql: `ALTER ${alter} ONLY ${r.ident} ALTER COLUMN ${qi(c.attname)} SET DEFAULT ${c.def};` }, key('pg_attrdef', c.defoid!)).deps.push(item.id);
    }
  }
  return { byOid, data, matviews };
}

/**
 * Column defaults set apart from their CREATE TABLE, as pg_dump does to break loops: a view's
 * (CREATE VIEW has no place for one), and one that calls a user function, since that function may
 * itself need the table (a BEGIN ATOMIC body reading it, a table-typed argument).
 */
function splitDefaults(rows: CatalogRows): Set<number> {
  const attrdef = String(rows.classIds.pg_attrdef);
  const proc = String(rows.classIds.pg_proc);
  const userFunctions = new Set(rows.functions.map((f) => f.oid));
  const out = new Set<number>();
  for (const d of rows.depends) {
    if (String(d.classid) === attrdef && String(d.refclassid) === proc && userFunctions.has(d.refobjid)) out.add(d.objid);
  }
  const views = new Set(rows.relations.filter((r) => r.relkind === 'v').map((r) => r.oid));
  for (const c of rows.columns) if (c.defoid && views.has(c.attrelid)) out.add(c.defoid);
  for (const c of rows.columns) if (c.attgenerated && c.defoid) out.delete(c.defoid);
  return out;
}

function buildSequences(rows: CatalogRows, add: Add, key: Key, keyToItem: Map<string, number>, rels: Map<number, RelationRow>) {
  const out: SchemaModel['sequences'] = [];
  for (const s of rows.sequences) {
    if (s.deptype === 'i') {
      const itemId = keyToItem.get(key('pg_class', s.oid));
      if (itemId) out.push({ oid: s.oid, ident: s.ident, itemId });
      continue;
    }
    const item = add(
      {
        kind: 'sequence', section: 'pre-data', schema: s.schema, name: objectName(s),
        sql: `${sequenceSql(s)}${comment(`SEQUENCE ${s.ident}`, s.comment)}`,
        owner: ownerSql('SEQUENCE', s.ident, s.owner), acl: aclSql('SEQUENCE', s.ident, s.owner, s.acl),
        drop: `DROP SEQUENCE IF EXISTS ${s.ident} CASCADE;`,
      },
      key('pg_class', s.oid),
    );
    out.push({ oid: s.oid, ident: s.ident, itemId: item.id });
    const table = s.owned_table ? rels.get(s.owned_table) : undefined;
    if (table && s.owned_column) {
      const owned = add({
        kind: 'sequence-owned', section: 'pre-data', schema: s.schema, name: objectName(s), tables: [objectName(table)],
        sql: `ALTER SEQUENCE ${s.ident} OWNED BY ${table.ident}.${qi(s.owned_column)};`,
      });
      owned.deps.push(item.id, keyToItem.get(key('pg_class', table.oid))!);
    }
  }
  return out;
}

/**
 * Adds each item's dependencies from pg_depend. Objects without an item of their own (column
 * defaults, a view's rewrite rule, array types) stand for the item they belong to.
 */
function wireDependencies(rows: CatalogRows, items: TocItem[], keyToItem: Map<string, number>, key: Key): void {
  const cls = rows.classIds;
  const extMember = new Map<string, string>();
  const ownerOf = new Map<string, string>();
  const seqClass = new Set(rows.sequences.map((s) => key('pg_class', s.oid)));
  for (const d of rows.depends) {
    const from = `${d.classid}:${d.objid}`;
    if (d.deptype === 'e') extMember.set(from, `${d.refclassid}:${d.refobjid}`);
    else if ((d.deptype === 'a' || d.deptype === 'i') && !ownerOf.has(from)) ownerOf.set(from, `${d.refclassid}:${d.refobjid}`);
  }
  const alias = new Map(rows.typeAliases.map((a) => [key('pg_type', a.oid), a.via === 'class' ? key('pg_class', a.target) : key('pg_type', a.target)]));
  const resolve = (k: string, depth = 0): number | undefined => {
    if (depth > 6) return undefined;
    const direct = keyToItem.get(k);
    if (direct !== undefined) return direct;
    const ext = extMember.get(k);
    if (ext) return keyToItem.get(ext);
    const next = alias.get(k) ?? ownerOf.get(k);
    return next ? resolve(next, depth + 1) : undefined;
  };
  const byId = new Map(items.map((i) => [i.id, i]));
  // Constraints and triggers without an item of their own are not emitted (a partition's clone of
  // its parent's foreign key or trigger, a constraint trigger's internal constraint, an inherited
  // check): their needs must not become their table's, or a partition would wait for its parent's
  // foreign key (post-data) and leave pre-data.
  const derived = new Set([Number(cls.pg_constraint), Number(cls.pg_trigger)]);
  for (const d of rows.depends) {
    if (d.deptype === 'e') continue;
    const fromKey = `${d.classid}:${d.objid}`;
    // A sequence OWNED BY a column is handled by its 'sequence-owned' item, not as a dependency.
    if (d.deptype === 'a' && seqClass.has(fromKey)) continue;
    if (derived.has(d.classid) && !keyToItem.has(fromKey)) continue;
    const from = resolve(fromKey);
    const to = resolve(`${d.refclassid}:${d.refobjid}`);
    if (from === undefined || to === undefined || from === to) continue;
    byId.get(from)!.deps.push(to);
  }
  for (const item of items) item.deps = [...new Set(item.deps)].sort((a, b) => a - b);
  // Something pre-data that needs a post-data object (a view grouping by a primary key) moves after it.
  for (let changed = true; changed; ) {
    changed = false;
    for (const item of items) {
      if (item.section === 'pre-data' && item.deps.some((d) => byId.get(d)!.section === 'post-data')) {
        item.section = 'post-data';
        changed = true;
      }
    }
  }
}

/** Materialized views are created empty; their REFRESH runs after the data, in dependency order. */
function addRefreshes(items: TocItem[], matviews: { itemId: number; populated: boolean; ident: string; object: string }[], add: Add): void {
  const byId = new Map(items.map((i) => [i.id, i]));
  const refreshOf = new Map<number, TocItem>();
  for (const m of matviews) {
    if (!m.populated) continue;
    const r = add({ kind: 'refresh', section: 'post-data', schema: byId.get(m.itemId)!.schema, name: m.object, tables: [m.object],
      sql: `REFRESH MATERIALIZED VIEW ${m.ident};` });
    r.deps.push(m.itemId);
    refreshOf.set(m.itemId, r);
  }
  for (const [mv, r] of refreshOf) {
    // Matviews this one reads (directly or through views) must be refreshed first.
    const seen = new Set<number>();
    const stack = [...byId.get(mv)!.deps];
    while (stack.length) {
      const id = stack.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      const other = refreshOf.get(id);
      if (other) r.deps.push(other.id);
      else if (byId.get(id)?.kind === 'view') stack.push(...byId.get(id)!.deps);
    }
  }
  for (const item of items) {
    if (item.kind !== 'index' && item.kind !== 'constraint') continue;
    for (const d of [...item.deps]) {
      const r = refreshOf.get(d);
      if (r) item.deps.push(r.id);
    }
  }
}
