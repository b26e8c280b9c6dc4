import { quoteIdent as qi } from './connection.js';
import type { CatalogRows, ColumnRow, RelationRow, SequenceRow } from './postgres-catalog.js';
import {
  RULE_ENABLE,
  TRIGGER_ENABLE,
  aclSql,
  columnAclSql,
  comment,
  functionSql,
  ownerSql,
  policySql,
  relationKeyword,
  sequenceSql,
  tableAttrsSql,
  tableSql,
  typeSql,
  viewSql,
} from './postgres-ddl.js';
import type { TocItem } from './postgres-toc.js';

/** A table whose rows the dump copies. */
export interface DataTable {
  itemId: number;
  oid: number;
  object: string;
  ident: string;
  columns: string[];
  relpages: number;
}

export interface SchemaModel {
  items: TocItem[];
  tables: DataTable[];
  /** Sequences whose current value the dump records (identity ones included). */
  sequences: { oid: number; ident: string; itemId: number }[];
  warnings: string[];
}

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
    const full: TocItem = { ...item, id: items.length + 1, deps: [], tables: item.tables ?? [] };
    for (const k of Object.keys(full) as (keyof TocItem)[]) if (full[k] === undefined || full[k] === '') delete full[k];
    full.deps = [];
    full.tables = item.tables ?? [];
    items.push(full);
    for (const k of keys) keyToItem.set(k, full.id);
    return full;
  };
  const warnings = rows.unsupported.map((u) => `${u.n} ${u.kind}${u.n > 1 ? ' objects' : ''} not backed up: dbbackup cannot reproduce this kind yet.`);

  buildTypesAndRoutines(rows, add, key, keyToItem);
  const tables = buildRelations(rows, add, key, keyToItem);
  const sequences = buildSequences(rows, add, key, keyToItem, tables.byOid);
  buildPostData(rows, add, key, keyToItem, tables.byOid);
  wireDependencies(rows, items, keyToItem, key);
  addRefreshes(items, tables.matviews, add);
  return { items, tables: tables.data, sequences, warnings };
}

type Add = (item: NewItem, ...keys: string[]) => TocItem;
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
  for (const c of rows.constraints) if (c.contypid) domainChecks.set(c.contypid, [...(domainChecks.get(c.contypid) ?? []), c]);
  for (const t of rows.types) {
    const checks = domainChecks.get(t.oid) ?? [];
    const kw = t.typtype === 'd' ? 'DOMAIN' : 'TYPE';
    const comments = checks.map((c) => comment(`CONSTRAINT ${qi(c.conname)} ON DOMAIN ${t.ident}`, c.comment)).join('');
    const item = add(
      {
        kind: t.typtype === 'd' ? 'domain' : 'type', section: 'pre-data', schema: t.schema, name: t.ident,
        sql: `${typeSql(t, checks)}${comment(`${kw} ${t.ident}`, t.comment)}${comments}`,
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
  for (const c of rows.columns) columnsOf.set(c.attrelid, [...(columnsOf.get(c.attrelid) ?? []), c]);
  const identities = new Map<string, SequenceRow>();
  for (const s of rows.sequences) if (s.deptype === 'i' && s.owned_table) identities.set(`${s.owned_table}:${s.owned_column}`, s);
  const inlineChecks = (r: RelationRow) =>
    rows.constraints.filter((c) => c.conrelid === r.oid && c.contype === 'c' && c.conislocal && c.convalidated);
  const byOid = new Map<number, RelationRow>();
  const data: DataTable[] = [];
  const matviews: { oid: number; itemId: number; populated: boolean; ident: string; object: string }[] = [];
  const parentNames = new Map(rows.relations.map((r) => [r.oid, objectName(r)]));
  for (const r of rows.relations) {
    if (r.relkind === 'f') continue;
    byOid.set(r.oid, r);
    const columns = columnsOf.get(r.oid) ?? [];
    const object = objectName(r);
    const kw = relationKeyword(r.relkind);
    const colComments = columns.map((c) => comment(`COLUMN ${r.ident}.${qi(c.attname)}`, c.comment)).join('');
    const isTable = r.relkind === 'r' || r.relkind === 'p';
    const checks = isTable ? inlineChecks(r) : [];
    const checkComments = checks.map((c) => comment(`CONSTRAINT ${qi(c.conname)} ON ${r.ident}`, c.comment)).join('');
    const sql = isTable ? tableSql(r, columns, checks, identities) : viewSql(r);
    const acl = [aclSql('TABLE', r.ident, r.owner, r.acl), ...columnAclSql(r.ident, columns)].filter(Boolean).join('\n');
    const copyColumns = columns.filter((c) => c.attgenerated === '').map((c) => qi(c.attname));
    const item = add(
      {
        kind: isTable ? 'table' : r.relkind === 'v' ? 'view' : 'matview', section: 'pre-data', schema: r.schema, name: object,
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
    for (const s of identities.values()) if (s.owned_table === r.oid) keyToItem.set(key('pg_class', s.oid), item.id);
  }
  return { byOid, data, matviews };
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

/** ALTER INDEX … ATTACH PARTITION and CLUSTER / REPLICA IDENTITY statements that follow an index. */
function indexHelpers(rows: CatalogRows) {
  const indexIdent = new Map(rows.indexes.map((i) => [i.oid, i]));
  const attach = (indexOid: number) => {
    const parent = indexIdent.get(indexOid)?.parent;
    const p = parent ? indexIdent.get(parent) : undefined;
    return p ? `\nALTER INDEX ${p.ident} ATTACH PARTITION ${indexIdent.get(indexOid)!.ident};` : '';
  };
  const indexExtras = (indexOid: number, table: RelationRow) => {
    const i = indexIdent.get(indexOid);
    if (!i) return '';
    const name = i.ident.slice(i.ident.indexOf('.') + 1);
    return (
      (i.indisclustered ? `\nALTER TABLE ${table.ident} CLUSTER ON ${name};` : '') +
      (i.indisreplident ? `\nALTER TABLE ONLY ${table.ident} REPLICA IDENTITY USING INDEX ${name};` : '')
    );
  };
  return { attach, indexExtras };
}

function buildConstraints(rows: CatalogRows, add: Add, key: Key, rels: Map<number, RelationRow>): void {
  const { attach, indexExtras } = indexHelpers(rows);
  for (const c of rows.constraints) {
    const t = rels.get(c.conrelid);
    if (!t || c.contype === 't' || c.contype === 'n') continue;
    const object = objectName(t);
    const cmt = comment(`CONSTRAINT ${qi(c.conname)} ON ${t.ident}`, c.comment);
    if (c.contype === 'c') {
      if (!c.conislocal || c.convalidated) continue;
      add({ kind: 'check', section: 'post-data', schema: t.schema, name: `${object} ${c.conname}`, tables: [object],
        sql: `ALTER TABLE ${t.relkind === 'p' ? '' : 'ONLY '}${t.ident} ADD CONSTRAINT ${qi(c.conname)} ${c.def};${cmt}` }, key('pg_constraint', c.oid));
    } else if (c.contype === 'f') {
      if (c.conparentid) continue; // cloned from the partitioned parent's key
      const ref = rels.get(c.confrelid);
      add({ kind: 'fk', section: 'post-data', schema: t.schema, name: `${object} ${c.conname}`, tables: [object, ...(ref ? [objectName(ref)] : [])],
        sql: `ALTER TABLE ${t.relkind === 'p' ? '' : 'ONLY '}${t.ident} ADD CONSTRAINT ${qi(c.conname)} ${c.def};${cmt}` }, key('pg_constraint', c.oid));
    } else {
      add({ kind: 'constraint', section: 'post-data', schema: t.schema, name: `${object} ${c.conname}`, tables: [object],
        sql: `ALTER TABLE ONLY ${t.ident} ADD CONSTRAINT ${qi(c.conname)} ${c.def};${attach(c.conindid)}${indexExtras(c.conindid, t)}${cmt}` },
        key('pg_constraint', c.oid), key('pg_class', c.conindid));
    }
  }
}

function buildPostData(rows: CatalogRows, add: Add, key: Key, keyToItem: Map<string, number>, rels: Map<number, RelationRow>) {
  buildConstraints(rows, add, key, rels);
  const { attach, indexExtras } = indexHelpers(rows);
  for (const i of rows.indexes) {
    const t = rels.get(i.indrelid);
    if (!t || i.is_constraint) continue;
    add({ kind: 'index', section: 'post-data', schema: t.schema, name: i.ident, tables: [objectName(t)],
      sql: `${i.def};${attach(i.oid)}${indexExtras(i.oid, t)}${comment(`INDEX ${i.ident}`, i.comment)}` }, key('pg_class', i.oid));
  }
  for (const tg of rows.triggers) {
    const t = rels.get(tg.tgrelid);
    if (!t) continue;
    const enable = TRIGGER_ENABLE[tg.tgenabled] ? `\nALTER TABLE ${t.ident} ${TRIGGER_ENABLE[tg.tgenabled]} ${qi(tg.tgname)};` : '';
    add({ kind: 'trigger', section: 'post-data', schema: t.schema, name: `${objectName(t)} ${tg.tgname}`, tables: [objectName(t)],
      sql: `${tg.def};${enable}${comment(`TRIGGER ${qi(tg.tgname)} ON ${t.ident}`, tg.comment)}` }, key('pg_trigger', tg.oid));
  }
  for (const r of rows.rules) {
    const t = rels.get(r.ev_class);
    if (!t) continue;
    const enable = RULE_ENABLE[r.ev_enabled] ? `\nALTER TABLE ${t.ident} ${RULE_ENABLE[r.ev_enabled]} ${qi(r.rulename)};` : '';
    add({ kind: 'rule', section: 'post-data', schema: t.schema, name: `${objectName(t)} ${r.rulename}`, tables: [objectName(t)],
      sql: `${r.def.trim()}${enable}${comment(`RULE ${qi(r.rulename)} ON ${t.ident}`, r.comment)}` }, key('pg_rewrite', r.oid));
  }
  for (const p of rows.policies) {
    const t = rels.get(p.polrelid);
    if (!t) continue;
    add({ kind: 'policy', section: 'post-data', schema: t.schema, name: `${objectName(t)} ${p.polname}`, tables: [objectName(t)],
      sql: `${policySql(p, t.ident)}${comment(`POLICY ${qi(p.polname)} ON ${t.ident}`, p.comment)}` }, key('pg_policy', p.oid));
  }
  for (const s of rows.statistics) {
    const t = rels.get(s.stxrelid);
    if (!t) continue;
    add({ kind: 'statistics', section: 'post-data', schema: t.schema, name: s.ident, tables: [objectName(t)],
      sql: `${s.def};${comment(`STATISTICS ${s.ident}`, s.comment)}`, owner: ownerSql('STATISTICS', s.ident, s.owner) }, key('pg_statistic_ext', s.oid));
  }
}

/**
 * Adds each item's dependencies from pg_depend. Objects without an item of their own (column
 * defaults, a view's rewrite rule, array types) stand for the item they belong to.
 */
function wireDependencies(rows: CatalogRows, items: TocItem[], keyToItem: Map<string, number>, key: Key): void {
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
  for (const d of rows.depends) {
    if (d.deptype === 'e') continue;
    const fromKey = `${d.classid}:${d.objid}`;
    // A sequence OWNED BY a column is handled by its 'sequence-owned' item, not as a dependency.
    if (d.deptype === 'a' && seqClass.has(fromKey)) continue;
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
    for (const [mv, r] of refreshOf) if (item.deps.includes(mv)) item.deps.push(r.id);
  }
}
