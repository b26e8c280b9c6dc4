import { quoteIdent as qi } from './connection.js';
import type { CatalogRows } from './postgres-catalog.js';
import type { ConstraintRow, IndexRow, RelationRow } from './postgres-catalog-types.js';
import { RULE_ENABLE, TRIGGER_ENABLE, comment, ownerSql, policySql } from './postgres-ddl.js';
import type { TocItem } from './postgres-toc.js';

/**
 * Post-data items: constraints, indexes (attached to partitioned parents' ones), triggers,
 * rules, row-level security policies and extended statistics.
 */
type NewItem = Omit<TocItem, 'id' | 'deps' | 'tables'> & { tables?: string[] };
type Add = (item: NewItem, ...keys: string[]) => TocItem;
type Key = (catalog: string, oid: number) => string;

/** `name` of a quoted `schema.name` (the schema may itself hold dots or quotes: `"a.b"."x"`). */
export function unqualified(ident: string): string {
  return ident.replace(/^(?:"(?:[^"]|"")*"|[^".]*)\./, '');
}

function objectName(r: { schema: string; name: string }): string {
  return `${r.schema}.${r.name}`;
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
    const name = unqualified(i.ident);
    return (
      (i.indisclustered ? `\nALTER TABLE ${table.ident} CLUSTER ON ${name};` : '') +
      (i.indisreplident ? `\nALTER TABLE ONLY ${table.ident} REPLICA IDENTITY USING INDEX ${name};` : '')
    );
  };
  /** The comment of a constraint's index (COMMENT ON INDEX of a primary key, say). */
  const indexComment = (indexOid: number) => {
    const i = indexIdent.get(indexOid);
    return i ? comment(`INDEX ${i.ident}`, i.comment) : '';
  };
  return { attach, indexExtras, indexComment, indexOf: (indexOid: number) => indexIdent.get(indexOid) };
}

/**
 * The tables an index's item locks: its own, and when it is attached to a partitioned parent's
 * index, every ancestor too (ATTACH locks the parent index, a foreign key to the root locks every
 * partition: run side by side they deadlock).
 */
function lockSet(parentIndex: number | null, t: RelationRow, rels: Map<number, RelationRow>): string[] {
  const out = [objectName(t)];
  if (!parentIndex) return out;
  for (let p = t.parent_oids?.[0]; p !== undefined && t.relispartition; ) {
    const parent = rels.get(p);
    if (!parent || out.includes(objectName(parent))) break;
    out.push(objectName(parent));
    p = parent.relispartition ? parent.parent_oids?.[0] : undefined;
  }
  return out;
}

/**
 * A primary key or unique constraint of a plain table as CREATE UNIQUE INDEX plus ADD CONSTRAINT …
 * USING INDEX, where PostgreSQL allows that (a b-tree over plain columns in default order, no
 * INCLUDE, storage options, tablespace or deferral: the constraint's own definition lists nothing
 * but its columns). The index keeps its name; USING INDEX renames it to the constraint's otherwise.
 */
export function keyViaIndex(c: ConstraintRow, t: RelationRow, index: IndexRow): { index: string; attach: string } | undefined {
  const kind = /^(PRIMARY KEY|UNIQUE) \([^()]*\)$/.exec(c.def)?.[1];
  if (!kind || t.relkind !== 'r' || index.parent) return undefined;
  if (!/^CREATE UNIQUE INDEX \S+ ON (ONLY )?\S+ USING btree \([^()]*\)$/.test(index.def)) return undefined;
  const name = unqualified(index.ident);
  return { index: `${index.def};`, attach: `ALTER TABLE ONLY ${t.ident} ADD CONSTRAINT ${qi(c.conname)} ${kind} USING INDEX ${name};` };
}

function buildConstraints(rows: CatalogRows, add: Add, key: Key, rels: Map<number, RelationRow>): void {
  const { attach, indexExtras, indexComment, indexOf } = indexHelpers(rows);
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
      const after = `${attach(c.conindid)}${indexExtras(c.conindid, t)}${cmt}${indexComment(c.conindid)}`;
      const index = indexOf(c.conindid);
      const viaIndex = index ? keyViaIndex(c, t, index) : undefined;
      add({ kind: 'constraint', section: 'post-data', schema: t.schema, name: `${object} ${c.conname}`, tables: lockSet(c.conindid, t, rels),
        sql: `ALTER TABLE ONLY ${t.ident} ADD CONSTRAINT ${qi(c.conname)} ${c.def};${after}`,
        ...(viaIndex ? { viaIndex: { index: viaIndex.index, attach: `${viaIndex.attach}${after}` } } : {}) },
        key('pg_constraint', c.oid), key('pg_class', c.conindid));
    }
  }
}

export function buildPostData(rows: CatalogRows, add: Add, key: Key, rels: Map<number, RelationRow>): void {
  buildConstraints(rows, add, key, rels);
  const { attach, indexExtras } = indexHelpers(rows);
  for (const i of rows.indexes) {
    const t = rels.get(i.indrelid);
    if (!t || i.is_constraint) continue;
    add({ kind: 'index', section: 'post-data', schema: t.schema, name: i.ident, tables: lockSet(i.parent, t, rels),
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
      sql: `${s.def};${s.stattarget !== null && s.stattarget >= 0 ? `\nALTER STATISTICS ${s.ident} SET STATISTICS ${s.stattarget};` : ''}${comment(`STATISTICS ${s.ident}`, s.comment)}`, owner: ownerSql('STATISTICS', s.ident, s.owner) }, key('pg_statistic_ext', s.oid));
  }
}
