import { quoteIdent as qi, quoteLiteral as ql } from './connection.js';
import type { AclEntry } from './postgres-catalog-types.js';
import type {
  CastRow,
  CatalogObjects,
  CollationRow,
  DefaultAclRow,
  EventTriggerRow,
  OpClassRow,
  OpFamilyRow,
  OpMember,
  OperatorRow,
  PublicationRow,
  TsConfigRow,
} from './postgres-catalog-objects.js';
import { aclSql, comment, ownerSql } from './postgres-ddl.js';
import type { TocItem } from './postgres-toc.js';

type NewItem = Omit<TocItem, 'id' | 'deps' | 'tables'> & { tables?: string[] };
type Add = (item: NewItem, ...keys: string[]) => TocItem;
type Key = (catalog: string, oid: number) => string;
/** A table's manifest name and quoted name, or undefined when it is not in the dump. */
type RelationOf = (oid: number) => { object: string; ident: string } | undefined;

/** TOC items for the objects of CatalogObjects (see there); large objects are in postgres-blob-items. */
export function buildCatalogObjects(o: CatalogObjects, add: Add, key: Key, relationOf: RelationOf, extensionItem: (oid: number) => number | undefined): void {
  buildCollationsAndTextSearch(o, add, key);
  buildOperatorsAndCasts(o, add, key);
  for (const e of o.eventTriggers) {
    add(
      { kind: 'event-trigger', section: 'post-data', schema: null, name: e.name, sql: `${eventTriggerSql(e)}${comment(`EVENT TRIGGER ${qi(e.name)}`, e.comment)}`,
        owner: ownerSql('EVENT TRIGGER', qi(e.name), e.owner), drop: `DROP EVENT TRIGGER IF EXISTS ${qi(e.name)};` },
      key('pg_event_trigger', e.oid),
    );
  }
  buildPublications(o, add, key, relationOf);
  const db = databaseSql(o);
  if (db) add({ kind: 'database', section: 'post-data', schema: null, name: 'database settings', sql: db });
  for (const a of o.extensionAcls) {
    // A NULL ACL (back to the built-in defaults) is restated as the defaults: revoke all, grant the owner.
    const acl = aclSql(a.keyword, a.ident, a.owner, a.acl ?? []) ?? '';
    const defaults = a.acl === null ? `\nGRANT ALL ON ${a.keyword} ${a.ident} TO ${qi(a.owner)};${a.keyword === 'FUNCTION' ? `\nGRANT ALL ON FUNCTION ${a.ident} TO PUBLIC;` : ''}` : '';
    add({ kind: 'extension-acl', section: 'post-data', schema: null, name: a.ident, sql: `-- grants of ${a.ident.replace(/\n/g, ' ')}, a member of an extension`,
      acl: `${acl}${defaults}` }).deps.push(...(extensionItem(a.ext) === undefined ? [] : [extensionItem(a.ext)!]));
  }
  for (const d of o.defaultAcls) {
    const sql = defaultAclSql(d);
    if (!sql) continue;
    add({ kind: 'default-acl', section: 'post-data', schema: d.schema, name: `${d.role} ${d.schema ?? ''} ${d.objtype}`.replace(/\s+/g, ' '),
      sql: `-- default privileges of ${d.role.replace(/\n/g, ' ')}`, acl: sql }, key('pg_default_acl', d.oid));
  }
}

function buildCollationsAndTextSearch(o: CatalogObjects, add: Add, key: Key): void {
  for (const c of o.collations) {
    if (c.provider === 'd') continue; // the database default: cannot be created by name
    add(
      { kind: 'collation', section: 'pre-data', schema: c.schema, name: c.ident,
        sql: `${collationSql(c)}${comment(`COLLATION ${c.ident}`, c.comment)}`, owner: ownerSql('COLLATION', c.ident, c.owner),
        drop: `DROP COLLATION IF EXISTS ${c.ident} CASCADE;` },
      key('pg_collation', c.oid),
    );
  }
  for (const p of o.tsParsers) {
    const kw = 'TEXT SEARCH PARSER';
    const opts = [`START = ${p.start}`, `GETTOKEN = ${p.gettoken}`, `END = ${p.end}`, `LEXTYPES = ${p.lextypes}`, ...(p.headline ? [`HEADLINE = ${p.headline}`] : [])];
    add({ kind: 'ts-parser', section: 'pre-data', schema: p.schema, name: p.ident, sql: `CREATE ${kw} ${p.ident} (\n    ${opts.join(',\n    ')} );${comment(`${kw} ${p.ident}`, p.comment)}`,
      drop: `DROP ${kw} IF EXISTS ${p.ident} CASCADE;` }, key('pg_ts_parser', p.oid));
  }
  for (const t of o.tsTemplates) {
    const kw = 'TEXT SEARCH TEMPLATE';
    const opts = [...(t.init ? [`INIT = ${t.init}`] : []), `LEXIZE = ${t.lexize}`];
    add({ kind: 'ts-template', section: 'pre-data', schema: t.schema, name: t.ident, sql: `CREATE ${kw} ${t.ident} (\n    ${opts.join(',\n    ')} );${comment(`${kw} ${t.ident}`, t.comment)}`,
      drop: `DROP ${kw} IF EXISTS ${t.ident} CASCADE;` }, key('pg_ts_template', t.oid));
  }
  for (const d of o.tsDicts) {
    const kw = 'TEXT SEARCH DICTIONARY';
    add(
      { kind: 'ts-dict', section: 'pre-data', schema: d.schema, name: d.ident,
        sql: `CREATE ${kw} ${d.ident} (\n    TEMPLATE = ${d.template}${d.options ? `,\n    ${d.options}` : ''} );${comment(`${kw} ${d.ident}`, d.comment)}`,
        owner: ownerSql(kw, d.ident, d.owner), drop: `DROP ${kw} IF EXISTS ${d.ident} CASCADE;` },
      key('pg_ts_dict', d.oid),
    );
  }
  for (const c of o.tsConfigs) {
    const kw = 'TEXT SEARCH CONFIGURATION';
    add(
      { kind: 'ts-config', section: 'pre-data', schema: c.schema, name: c.ident, sql: `${tsConfigSql(c)}${comment(`${kw} ${c.ident}`, c.comment)}`,
        owner: ownerSql(kw, c.ident, c.owner), drop: `DROP ${kw} IF EXISTS ${c.ident} CASCADE;` },
      key('pg_ts_config', c.oid),
    );
  }
}

function buildOperatorsAndCasts(o: CatalogObjects, add: Add, key: Key): void {
  for (const op of o.operators) {
    add(
      { kind: 'operator', section: 'pre-data', schema: op.schema, name: op.signature,
        sql: `${operatorSql(op)}${comment(`OPERATOR ${op.signature}`, op.comment)}`, owner: ownerSql('OPERATOR', op.signature, op.owner),
        drop: `DROP OPERATOR IF EXISTS ${op.signature} CASCADE;` },
      key('pg_operator', op.oid),
    );
  }
  for (const f of o.opFamilies) {
    const what = `OPERATOR FAMILY ${f.ident} USING ${f.am}`;
    add(
      { kind: 'opfamily', section: 'pre-data', schema: f.schema, name: f.ident, sql: `${opFamilySql(f)}${comment(what, f.comment)}`,
        owner: `ALTER ${what} OWNER TO ${qi(f.owner)};`, drop: `DROP ${what.replace('FAMILY ', 'FAMILY IF EXISTS ')} CASCADE;` },
      key('pg_opfamily', f.oid),
    );
  }
  for (const c of o.opClasses) {
    const what = `OPERATOR CLASS ${c.ident} USING ${c.am}`;
    add(
      { kind: 'opclass', section: 'pre-data', schema: c.schema, name: c.ident, sql: `${opClassSql(c)}${comment(what, c.comment)}`,
        owner: `ALTER ${what} OWNER TO ${qi(c.owner)};`, drop: `DROP ${what.replace('CLASS ', 'CLASS IF EXISTS ')} CASCADE;` },
      key('pg_opclass', c.oid),
    );
  }
  for (const c of o.casts) {
    const what = `CAST (${c.source} AS ${c.target})`;
    add({ kind: 'cast', section: 'pre-data', schema: null, name: what, sql: `${castSql(c)}${comment(what, c.comment)}`, drop: `DROP ${what.replace('CAST', 'CAST IF EXISTS')};` }, key('pg_cast', c.oid));
  }
}

function collationSql(c: CollationRow): string {
  const opts: string[] = [];
  if (c.provider === 'i') {
    opts.push('provider = icu', `locale = ${ql(c.icu_locale ?? c.collate ?? '')}`);
    if (c.icu_rules) opts.push(`rules = ${ql(c.icu_rules)}`);
  } else if (c.collate === c.ctype) opts.push('provider = libc', `locale = ${ql(c.collate ?? '')}`);
  else opts.push('provider = libc', `lc_collate = ${ql(c.collate ?? '')}`, `lc_ctype = ${ql(c.ctype ?? '')}`);
  if (!c.deterministic) opts.push('deterministic = false');
  return `CREATE COLLATION ${c.ident} (${opts.join(', ')});`;
}

function tsConfigSql(c: TsConfigRow): string {
  const lines = [`CREATE TEXT SEARCH CONFIGURATION ${c.ident} (\n    PARSER = ${c.parser} );`];
  for (const m of c.mappings ?? []) lines.push(`ALTER TEXT SEARCH CONFIGURATION ${c.ident}\n    ADD MAPPING FOR ${qi(m.token)} WITH ${m.dicts.join(', ')};`);
  return lines.join('\n');
}

function operatorSql(op: OperatorRow): string {
  const opts = [`FUNCTION = ${op.fn.replace(/\(.*$/s, '')}`];
  if (op.left) opts.push(`LEFTARG = ${op.left}`);
  if (op.right) opts.push(`RIGHTARG = ${op.right}`);
  if (op.commutator) opts.push(`COMMUTATOR = ${op.commutator}`);
  if (op.negator) opts.push(`NEGATOR = ${op.negator}`);
  if (op.merges) opts.push('MERGES');
  if (op.hashes) opts.push('HASHES');
  if (op.restrict) opts.push(`RESTRICT = ${op.restrict}`);
  if (op.join) opts.push(`JOIN = ${op.join}`);
  return `CREATE OPERATOR ${qi(op.schema)}.${op.name} (\n    ${opts.join(',\n    ')}\n);`;
}

function memberSql(m: OpMember): string {
  if (m.kind === 'op') return `OPERATOR ${m.n} ${m.ref}${m.order_by ? ` FOR ORDER BY ${m.order_by}` : ''}`;
  return `FUNCTION ${m.n} (${m.types}) ${m.ref}`;
}

function opFamilySql(f: OpFamilyRow): string {
  let sql = `CREATE OPERATOR FAMILY ${f.ident} USING ${f.am};`;
  if (f.loose?.length) sql += `\nALTER OPERATOR FAMILY ${f.ident} USING ${f.am} ADD\n    ${f.loose.map(memberSql).join(',\n    ')};`;
  return sql;
}

function opClassSql(c: OpClassRow): string {
  const family = c.family_same_name ? '' : ` FAMILY ${c.family}`;
  const body = [...(c.storage ? [`STORAGE ${c.storage}`] : []), ...(c.members ?? []).map(memberSql)];
  // An operator class needs at least one clause; STORAGE of its own type is a harmless one.
  if (body.length === 0) body.push(`STORAGE ${c.type}`);
  return `CREATE OPERATOR CLASS ${c.ident}\n    ${c.is_default ? 'DEFAULT ' : ''}FOR TYPE ${c.type} USING ${c.am}${family} AS\n    ${body.join(',\n    ')};`;
}

function castSql(c: CastRow): string {
  const how = c.method === 'f' ? `WITH FUNCTION ${c.fn}` : c.method === 'i' ? 'WITH INOUT' : 'WITHOUT FUNCTION';
  const context = c.context === 'a' ? ' AS ASSIGNMENT' : c.context === 'i' ? ' AS IMPLICIT' : '';
  return `CREATE CAST (${c.source} AS ${c.target}) ${how}${context};`;
}

const EVENT_ENABLE: Record<string, string> = { D: 'DISABLE', R: 'ENABLE REPLICA', A: 'ENABLE ALWAYS' };

function eventTriggerSql(e: EventTriggerRow): string {
  const when = e.tags?.length ? `\n    WHEN TAG IN (${e.tags.map(ql).join(', ')})` : '';
  let sql = `CREATE EVENT TRIGGER ${qi(e.name)} ON ${qi(e.event)}${when}\n    EXECUTE FUNCTION ${e.fn}();`;
  if (EVENT_ENABLE[e.enabled]) sql += `\nALTER EVENT TRIGGER ${qi(e.name)} ${EVENT_ENABLE[e.enabled]};`;
  return sql;
}

function buildPublications(o: CatalogObjects, add: Add, key: Key, relationOf: RelationOf): void {
  const byId = new Map<number, PublicationRow>();
  for (const p of o.publications) {
    byId.set(p.oid, p);
    const opts = [`publish = ${ql(p.publish)}`, ...(p.via_root ? ['publish_via_partition_root = true'] : [])];
    add(
      { kind: 'publication', section: 'post-data', schema: null, name: p.name,
        sql: `CREATE PUBLICATION ${qi(p.name)}${p.all_tables ? ' FOR ALL TABLES' : ''} WITH (${opts.join(', ')});${comment(`PUBLICATION ${qi(p.name)}`, p.comment)}`,
        owner: ownerSql('PUBLICATION', qi(p.name), p.owner), drop: `DROP PUBLICATION IF EXISTS ${qi(p.name)};` },
      key('pg_publication', p.oid),
    );
  }
  for (const m of o.publicationMembers) {
    const p = byId.get(m.pubid);
    if (!p) continue;
    if (m.schema !== null) {
      add({ kind: 'publication-member', section: 'post-data', schema: m.schema, name: `${p.name} ${m.schema}`,
        sql: `ALTER PUBLICATION ${qi(p.name)} ADD TABLES IN SCHEMA ${qi(m.schema)};` }, key('pg_publication_namespace', m.oid));
      continue;
    }
    const rel = m.relid === null ? undefined : relationOf(m.relid);
    if (!rel) continue;
    const cols = m.columns?.length ? ` (${m.columns.join(', ')})` : '';
    add({ kind: 'publication-member', section: 'post-data', schema: null, name: `${p.name} ${rel.object}`, tables: [rel.object],
      sql: `ALTER PUBLICATION ${qi(p.name)} ADD TABLE ONLY ${rel.ident}${cols}${m.qual ? ` WHERE (${m.qual})` : ''};` }, key('pg_publication_rel', m.oid));
  }
}

/** Settings whose value is a list written unquoted (quoting would make it one element). */
export const LIST_SETTINGS = new Set(['search_path', 'temp_tablespaces', 'session_preload_libraries', 'local_preload_libraries']);

/**
 * ALTER DATABASE … SET and COMMENT ON DATABASE for whatever database the restore runs in (its name
 * may differ from the source's), as pg_dump --create keeps them.
 */
function databaseSql(o: CatalogObjects): string | undefined {
  const forThisDatabase = (rest: string, before = '') =>
    `DO $dbbackup$ BEGIN EXECUTE ${ql(before)} || pg_catalog.quote_ident(pg_catalog.current_database()) || ${ql(rest)}; END $dbbackup$;`;
  const lines: string[] = [];
  for (const setting of o.database.settings ?? []) {
    const at = setting.indexOf('=');
    const name = setting.slice(0, at);
    const value = setting.slice(at + 1);
    lines.push(forThisDatabase(` SET ${qi(name)} TO ${LIST_SETTINGS.has(name.toLowerCase()) ? value : ql(value)}`, 'ALTER DATABASE '));
  }
  if (o.database.comment !== null) lines.push(forThisDatabase(` IS ${ql(o.database.comment)}`, 'COMMENT ON DATABASE '));
  return lines.length ? lines.join('\n') : undefined;
}

const DEFACL_OBJECTS: Record<string, string> = { r: 'TABLES', S: 'SEQUENCES', f: 'FUNCTIONS', T: 'TYPES', n: 'SCHEMAS' };

/**
 * ALTER DEFAULT PRIVILEGES that rebuild one pg_default_acl entry. A global entry replaces the
 * built-in defaults (so those it lacks are revoked first); a per-schema one only adds grants.
 */
function defaultAclSql(d: DefaultAclRow): string | undefined {
  const objects = DEFACL_OBJECTS[d.objtype];
  if (!objects) return undefined;
  const head = `ALTER DEFAULT PRIVILEGES FOR ROLE ${d.role}${d.schema !== null ? ` IN SCHEMA ${qi(d.schema)}` : ''}`;
  const lines: string[] = [];
  const has = (list: AclEntry[], e: AclEntry) => list.some((x) => x.g === e.g && x.p === e.p && x.o === e.o);
  if (d.schema === null) {
    for (const e of d.defaults) if (!has(d.acl, e)) lines.push(`${head} REVOKE ${e.p} ON ${objects} FROM ${e.g};`);
  }
  for (const e of d.acl) {
    if (d.schema === null && has(d.defaults, e)) continue;
    lines.push(`${head} GRANT ${e.p} ON ${objects} TO ${e.g}${e.o ? ' WITH GRANT OPTION' : ''};`);
  }
  return lines.length ? lines.join('\n') : undefined;
}
