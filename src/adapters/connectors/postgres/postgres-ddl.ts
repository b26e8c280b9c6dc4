import { quoteIdent as qi, quoteLiteral as ql } from './connection.js';
import type { AclEntry, ColumnRow, ConstraintRow, FunctionRow, RelationRow, SequenceRow, TypeRow } from './postgres-catalog-types.js';

/** SQL text builders for one catalog row each; the server's pg_get_*def functions do the hard parts. */

export function comment(what: string, text: string | null | undefined): string {
  return text == null ? '' : `\nCOMMENT ON ${what} IS ${ql(text)};`;
}

export function ownerSql(keyword: string, ident: string, owner: string): string {
  return `ALTER ${keyword} ${ident} OWNER TO ${qi(owner)};`;
}

/**
 * GRANTs that rebuild an ACL exactly: revoke the defaults, then grant what the catalog lists.
 * A NULL ACL means "the defaults" and needs no statement.
 */
export function aclSql(keyword: string, ident: string, owner: string, acl: AclEntry[] | null): string | undefined {
  if (!acl) return undefined;
  const lines = [`REVOKE ALL ON ${keyword} ${ident} FROM PUBLIC;`, `REVOKE ALL ON ${keyword} ${ident} FROM ${qi(owner)};`];
  lines.push(...grantLines(acl, (privs) => `${privs} ON ${keyword} ${ident}`));
  return lines.join('\n');
}

function grantLines(acl: AclEntry[], on: (privs: string) => string): string[] {
  const groups = new Map<string, string[]>();
  for (const a of acl) {
    const key = `${a.g}\u0000${a.o ? '1' : '0'}`;
    groups.set(key, [...(groups.get(key) ?? []), a.p]);
  }
  return [...groups].map(([key, privs]) => {
    const [grantee, option] = key.split('\u0000');
    return `GRANT ${on(privs.join(', '))} TO ${grantee}${option === '1' ? ' WITH GRANT OPTION' : ''};`;
  });
}

export function columnAclSql(table: string, columns: ColumnRow[]): string[] {
  return columns.flatMap((c) => (c.acl ? grantLines(c.acl, (privs) => `${privs.split(', ').map((p) => `${p} (${qi(c.attname)})`).join(', ')} ON TABLE ${table}`) : []));
}

export function typeSql(t: TypeRow, constraints: ConstraintRow[]): string {
  switch (t.typtype) {
    case 'e':
      return `CREATE TYPE ${t.ident} AS ENUM (\n    ${(t.labels ?? []).join(',\n    ')}\n);`;
    case 'c':
      return `CREATE TYPE ${t.ident} AS (\n    ${(t.attrs ?? []).join(',\n    ')}\n);`;
    case 'r': {
      const opts = [`subtype = ${t.subtype}`];
      if (t.opclass) opts.push(`subtype_opclass = ${t.opclass}`);
      if (t.rngcollation) opts.push(`collation = ${t.rngcollation}`);
      if (t.canonical) opts.push(`canonical = ${t.canonical}`);
      if (t.subdiff) opts.push(`subtype_diff = ${t.subdiff}`);
      if (t.multirange) opts.push(`multirange_type_name = ${t.multirange}`);
      return `CREATE TYPE ${t.ident} AS RANGE (\n    ${opts.join(',\n    ')}\n);`;
    }
    case 'd': {
      let sql = `CREATE DOMAIN ${t.ident} AS ${t.basetype}`;
      if (t.collation) sql += ` COLLATE ${t.collation}`;
      if (t.typdefault !== null) sql += ` DEFAULT ${t.typdefault}`;
      if (t.typnotnull) sql += ' NOT NULL';
      for (const c of constraints.filter((c) => c.convalidated)) sql += `\n    CONSTRAINT ${qi(c.conname)} ${c.def}`;
      return `${sql};`;
    }
  }
}

const AGG_FIELDS: [string, string, (v: unknown, a: Record<string, unknown>) => boolean][] = [
  ['sfunc', 'SFUNC', () => true],
  ['stype', 'STYPE', () => true],
  ['sspace', 'SSPACE', (v) => Number(v) !== 0],
  ['finalfunc', 'FINALFUNC', (v) => v !== null],
  ['finalextra', 'FINALFUNC_EXTRA', (v) => v === true],
  ['combinefunc', 'COMBINEFUNC', (v) => v !== null],
  ['serialfunc', 'SERIALFUNC', (v) => v !== null],
  ['deserialfunc', 'DESERIALFUNC', (v) => v !== null],
  ['initcond', 'INITCOND', (v) => v !== null],
  ['msfunc', 'MSFUNC', (v) => v !== null],
  ['minvfunc', 'MINVFUNC', (v) => v !== null],
  ['mstype', 'MSTYPE', (v) => v !== null],
  ['msspace', 'MSSPACE', (v) => Number(v) !== 0],
  ['mfinalfunc', 'MFINALFUNC', (v) => v !== null],
  ['mfinalextra', 'MFINALFUNC_EXTRA', (v) => v === true],
  ['minitcond', 'MINITCOND', (v) => v !== null],
  ['sortop', 'SORTOP', (v) => v !== null],
];

const MODIFY: Record<string, string> = { r: 'READ_ONLY', s: 'SHAREABLE', w: 'READ_WRITE' };
const PARALLEL: Record<string, string> = { s: 'SAFE', r: 'RESTRICTED' };

export function functionSql(f: FunctionRow): string {
  if (f.prokind !== 'a') return `${(f.def ?? '').trimEnd()};`;
  const a = f.agg ?? {};
  const opts: string[] = [];
  for (const [key, label, include] of AGG_FIELDS) {
    const v = a[key];
    if (!include(v, a)) continue;
    if (label.endsWith('_EXTRA')) opts.push(label);
    else if (key === 'initcond' || key === 'minitcond') opts.push(`${label} = ${ql(String(v))}`);
    else if (key === 'sortop') opts.push(`${label} = OPERATOR(${String(v).replace(/\(.*$/, '')})`);
    else opts.push(`${label} = ${String(v)}`);
  }
  const defaultModify = a.kind === 'n' ? 'r' : 'w';
  if (a.finalfunc !== null && a.finalmodify !== defaultModify) opts.push(`FINALFUNC_MODIFY = ${MODIFY[String(a.finalmodify)]}`);
  if (a.mfinalfunc !== null && a.mfinalmodify !== defaultModify) opts.push(`MFINALFUNC_MODIFY = ${MODIFY[String(a.mfinalmodify)]}`);
  if (a.kind === 'h') opts.push('HYPOTHETICAL');
  if (PARALLEL[f.proparallel]) opts.push(`PARALLEL = ${PARALLEL[f.proparallel]}`);
  return `CREATE AGGREGATE ${f.qname}(${f.args || '*'}) (\n    ${opts.join(',\n    ')}\n);`;
}

export function sequenceOptions(s: SequenceRow): string {
  return (
    `START WITH ${s.seqstart} INCREMENT BY ${s.seqincrement} MINVALUE ${s.seqmin} MAXVALUE ${s.seqmax} CACHE ${s.seqcache}` +
    (s.seqcycle ? ' CYCLE' : '')
  );
}

export function sequenceSql(s: SequenceRow): string {
  const unlogged = s.relpersistence === 'u' ? 'UNLOGGED ' : '';
  return `CREATE ${unlogged}SEQUENCE ${s.ident}\n    AS ${s.type}\n    ${sequenceOptions(s)};`;
}

/** One column of CREATE TABLE, with its default, identity or generation expression. */
function columnSql(c: ColumnRow, identity: SequenceRow | undefined): string {
  let sql = `${qi(c.attname)} ${c.type}`;
  if (c.collation) sql += ` COLLATE ${c.collation}`;
  if (c.attgenerated === 's') sql += ` GENERATED ALWAYS AS (${c.def}) STORED`;
  else if (c.attidentity === 'a' || c.attidentity === 'd') {
    const seq = identity ? ` (SEQUENCE NAME ${identity.ident} ${sequenceOptions(identity)})` : '';
    sql += ` GENERATED ${c.attidentity === 'a' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY${seq}`;
  } else if (c.def !== null) sql += ` DEFAULT ${c.def}`;
  if (c.attnotnull) sql += ' NOT NULL';
  return sql;
}

/** CREATE TABLE for a plain, partitioned, partition or inheriting table (pre-data part). */
export function tableSql(
  r: RelationRow,
  columns: ColumnRow[],
  checks: ConstraintRow[],
  identities: Map<string, SequenceRow>,
  parentColumns: ColumnRow[] = [],
  inheritedChecks: ConstraintRow[] = [],
): string {
  const unlogged = r.relpersistence === 'u' ? 'UNLOGGED ' : '';
  const elements: string[] = [];
  let head: string;
  let tail = '';
  let attach = '';
  const names = (cs: ColumnRow[]) => cs.map((c) => c.attname).join('\u0000');
  if (r.relispartition && names(columns) !== names(parentColumns)) {
    // Columns in another order than the parent's (a table attached later, dropped columns): as
    // pg_dump, a table of its own, then attached, so that the order survives.
    head = `CREATE ${unlogged}TABLE ${r.ident}`;
    for (const c of columns) elements.push(columnSql(c, undefined));
    // ATTACH wants the parent's checks present; it then marks them (and the columns) inherited.
    for (const c of inheritedChecks) elements.push(`CONSTRAINT ${qi(c.conname)} ${c.def}`);
    attach = `\nALTER TABLE ONLY ${r.parents![0]} ATTACH PARTITION ${r.ident} ${r.bound};`;
  } else if (r.oftype) {
    head = `CREATE ${unlogged}TABLE ${r.ident} OF ${r.oftype}`;
    for (const c of columns) {
      const opts = [c.def !== null ? `DEFAULT ${c.def}` : '', c.attnotnull ? 'NOT NULL' : ''].filter(Boolean);
      if (opts.length) elements.push(`${qi(c.attname)} WITH OPTIONS ${opts.join(' ')}`);
    }
  } else if (r.relispartition) {
    head = `CREATE ${unlogged}TABLE ${r.ident} PARTITION OF ${r.parents![0]}`;
    for (const c of columns) {
      if (c.attgenerated === 's' || c.attidentity) continue;
      const opts = [c.def !== null ? `DEFAULT ${c.def}` : '', c.attnotnull ? 'NOT NULL' : ''].filter(Boolean);
      if (opts.length) elements.push(`${qi(c.attname)} WITH OPTIONS ${opts.join(' ')}`);
    }
    tail = `\n${r.bound}`;
  } else {
    head = `CREATE ${unlogged}TABLE ${r.ident}`;
    for (const c of columns) if (c.attislocal) elements.push(columnSql(c, identities.get(`${r.oid}:${c.attname}`)));
    if (r.parents?.length) tail += `\nINHERITS (${r.parents.join(', ')})`;
  }
  for (const c of checks) elements.push(`CONSTRAINT ${qi(c.conname)} ${c.def}`);
  if (r.partkey) tail += `\nPARTITION BY ${r.partkey}`;
  if (r.am && r.relkind === 'r') tail += `\nUSING ${qi(r.am)}`;
  if (r.options) tail += `\nWITH (${r.options})`;
  const body = elements.length ? ` (\n    ${elements.join(',\n    ')}\n)` : r.relispartition || r.oftype ? '' : ' (\n)';
  let sql = `${head}${body}${tail};${attach}`;
  if (!r.relispartition) sql += inheritedColumnsSql(r, columns, parentColumns);
  for (const c of columns) {
    if (c.storage) sql += `\nALTER TABLE ONLY ${r.ident} ALTER COLUMN ${qi(c.attname)} SET STORAGE ${STORAGE[c.storage] ?? 'EXTENDED'};`;
    if (c.attstattarget >= 0) sql += `\nALTER TABLE ONLY ${r.ident} ALTER COLUMN ${qi(c.attname)} SET STATISTICS ${c.attstattarget};`;
    if (c.attoptions) sql += `\nALTER TABLE ONLY ${r.ident} ALTER COLUMN ${qi(c.attname)} SET (${c.attoptions});`;
    if (c.attcompression === 'l' || c.attcompression === 'p') {
      sql += `\nALTER TABLE ONLY ${r.ident} ALTER COLUMN ${qi(c.attname)} SET COMPRESSION ${c.attcompression === 'l' ? 'lz4' : 'pglz'};`;
    }
  }
  return sql;
}

/**
 * An inherited (not local) column takes NOT NULL and its default from its parents at CREATE
 * TABLE; one that was changed on the child since (SET NOT NULL, SET DEFAULT) needs it restated.
 */
function inheritedColumnsSql(r: RelationRow, columns: ColumnRow[], parentColumns: ColumnRow[]): string {
  let sql = '';
  for (const c of columns) {
    if (c.attislocal || c.attgenerated) continue;
    const fromParents = parentColumns.filter((p) => p.attname === c.attname);
    const alter = `\nALTER TABLE ONLY ${r.ident} ALTER COLUMN ${qi(c.attname)}`;
    if (c.attnotnull && !fromParents.some((p) => p.attnotnull)) sql += `${alter} SET NOT NULL;`;
    const parentDefaults = new Set(fromParents.map((p) => p.def));
    if (c.def !== null && !(parentDefaults.size === 1 && parentDefaults.has(c.def))) sql += `${alter} SET DEFAULT ${c.def};`;
    else if (c.def === null && fromParents.some((p) => p.def !== null)) sql += `${alter} DROP DEFAULT;`;
  }
  return sql;
}

const STORAGE: Record<string, string> = { p: 'PLAIN', e: 'EXTERNAL', m: 'MAIN', x: 'EXTENDED' };

export function viewSql(r: RelationRow): string {
  const def = (r.viewdef ?? '').trim().replace(/;$/, '');
  if (r.relkind === 'v') return `CREATE VIEW ${r.ident}${r.options ? ` WITH (${r.options})` : ''} AS\n${def};`;
  const am = r.am ? ` USING ${qi(r.am)}` : '';
  return `CREATE MATERIALIZED VIEW ${r.ident}${am}${r.options ? ` WITH (${r.options})` : ''} AS\n${def}\n  WITH NO DATA;`;
}

/** Statements that must run after the data: row security and replica identity of a table. */
export function tableAttrsSql(r: RelationRow): string {
  const out: string[] = [];
  if (r.relrowsecurity) out.push(`ALTER TABLE ${r.ident} ENABLE ROW LEVEL SECURITY;`);
  if (r.relforcerowsecurity) out.push(`ALTER TABLE ${r.ident} FORCE ROW LEVEL SECURITY;`);
  if (r.relkind !== 'r' && r.relkind !== 'p') return out.join('\n');
  if (r.relreplident === 'f') out.push(`ALTER TABLE ONLY ${r.ident} REPLICA IDENTITY FULL;`);
  if (r.relreplident === 'n') out.push(`ALTER TABLE ONLY ${r.ident} REPLICA IDENTITY NOTHING;`);
  return out.join('\n');
}

export function relationKeyword(relkind: string): string {
  return relkind === 'v' ? 'VIEW' : relkind === 'm' ? 'MATERIALIZED VIEW' : relkind === 'f' ? 'FOREIGN TABLE' : 'TABLE';
}

export function policySql(p: { polname: string; polpermissive: boolean; polcmd: string; roles: string; qual: string | null; withcheck: string | null }, table: string): string {
  const cmd = { r: 'SELECT', a: 'INSERT', w: 'UPDATE', d: 'DELETE', '*': 'ALL' }[p.polcmd] ?? 'ALL';
  let sql = `CREATE POLICY ${qi(p.polname)} ON ${table} AS ${p.polpermissive ? 'PERMISSIVE' : 'RESTRICTIVE'} FOR ${cmd} TO ${p.roles}`;
  if (p.qual !== null) sql += ` USING (${p.qual})`;
  if (p.withcheck !== null) sql += ` WITH CHECK (${p.withcheck})`;
  return `${sql};`;
}

export const TRIGGER_ENABLE: Record<string, string> = { D: 'DISABLE TRIGGER', R: 'ENABLE REPLICA TRIGGER', A: 'ENABLE ALWAYS TRIGGER' };
export const RULE_ENABLE: Record<string, string> = { D: 'DISABLE RULE', R: 'ENABLE REPLICA RULE', A: 'ENABLE ALWAYS RULE' };
