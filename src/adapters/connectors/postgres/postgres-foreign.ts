import { quoteIdent as qi } from './connection.js';
import type { ColumnRow, ConstraintRow, RelationRow } from './postgres-catalog-types.js';
import type { ForeignRows } from './postgres-catalog-foreign.js';
import { aclSql, comment, ownerSql } from './postgres-ddl.js';
import type { TocItem } from './postgres-toc.js';

/**
 * Foreign data: wrappers (those not made by an extension), servers, user mappings and foreign
 * tables (their definition only; as pg_dump, their rows stay on the remote side). User mapping
 * options are kept as pg_dump keeps them, passwords included: the backup holds what the catalog
 * holds, so encrypt backups of databases that keep remote passwords there.
 */

type NewItem = Omit<TocItem, 'id' | 'deps' | 'tables'> & { tables?: string[] };

export function buildForeignItems(f: ForeignRows, add: (item: NewItem, ...keys: string[]) => TocItem, key: (catalog: string, oid: number) => string): void {
  const opts = (o: string | null) => (o ? ` OPTIONS (\n    ${o}\n)` : '');
  for (const w of f.wrappers) {
    const what = `FOREIGN DATA WRAPPER ${qi(w.name)}`;
    add(
      { kind: 'fdw', section: 'pre-data', schema: null, name: w.name,
        sql: `CREATE ${what}${w.handler ? ` HANDLER ${w.handler}` : ''}${w.validator ? ` VALIDATOR ${w.validator}` : ''}${opts(w.options)};${comment(what, w.comment)}`,
        owner: ownerSql(what.replace(` ${qi(w.name)}`, ''), qi(w.name), w.owner), acl: aclSql('FOREIGN DATA WRAPPER', qi(w.name), w.owner, w.acl),
        drop: `DROP FOREIGN DATA WRAPPER IF EXISTS ${qi(w.name)} CASCADE;` },
      key('pg_foreign_data_wrapper', w.oid),
    );
  }
  for (const s of f.servers) {
    const head = `CREATE SERVER ${qi(s.name)}${s.type !== null ? ` TYPE ${lit(s.type)}` : ''}${s.version !== null ? ` VERSION ${lit(s.version)}` : ''}`;
    add(
      { kind: 'server', section: 'pre-data', schema: null, name: s.name,
        sql: `${head} FOREIGN DATA WRAPPER ${qi(s.fdw)}${opts(s.options)};${comment(`SERVER ${qi(s.name)}`, s.comment)}`,
        owner: ownerSql('SERVER', qi(s.name), s.owner), acl: aclSql('FOREIGN SERVER', qi(s.name), s.owner, s.acl),
        drop: `DROP SERVER IF EXISTS ${qi(s.name)} CASCADE;` },
      key('pg_foreign_server', s.oid),
    );
  }
  for (const u of f.userMappings) {
    add(
      { kind: 'user-mapping', section: 'pre-data', schema: null, name: `${u.role} ${u.server}`,
        sql: `CREATE USER MAPPING FOR ${u.role} SERVER ${qi(u.server)}${opts(u.options)};`,
        drop: `DROP USER MAPPING IF EXISTS FOR ${u.role} SERVER ${qi(u.server)};` },
      key('pg_user_mapping', u.oid),
    );
  }
}

function lit(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** CREATE FOREIGN TABLE (a partition of a partitioned table too), with table and column options. */
export function foreignTableSql(r: RelationRow, columns: ColumnRow[], checks: ConstraintRow[]): string {
  const elements: string[] = [];
  for (const c of columns) {
    if (r.relispartition || !c.attislocal) continue;
    let col = `${qi(c.attname)} ${c.type}`;
    if (c.fdwoptions) col += ` OPTIONS (${c.fdwoptions})`;
    if (c.collation) col += ` COLLATE ${c.collation}`;
    if (c.attgenerated === 's') col += ` GENERATED ALWAYS AS (${c.def}) STORED`;
    else if (c.def !== null) col += ` DEFAULT ${c.def}`;
    if (c.attnotnull) col += ' NOT NULL';
    elements.push(col);
  }
  for (const c of checks) elements.push(`CONSTRAINT ${qi(c.conname)} ${c.def}`);
  const server = ` SERVER ${r.foreign?.server ?? ''}${r.foreign?.options ? ` OPTIONS (\n    ${r.foreign.options}\n)` : ''}`;
  let sql: string;
  if (r.relispartition) {
    sql = `CREATE FOREIGN TABLE ${r.ident} PARTITION OF ${r.parents![0]}${elements.length ? ` (\n    ${elements.join(',\n    ')}\n)` : ''}\n${r.bound}${server};`;
    for (const c of columns) if (c.fdwoptions) sql += `\nALTER FOREIGN TABLE ONLY ${r.ident} ALTER COLUMN ${qi(c.attname)} OPTIONS (${c.fdwoptions});`;
  } else {
    const inherits = r.parents?.length ? `\nINHERITS (${r.parents.join(', ')})` : '';
    sql = `CREATE FOREIGN TABLE ${r.ident} (\n    ${elements.join(',\n    ')}\n)${inherits}${server};`;
  }
  for (const c of columns) {
    if (c.attstattarget >= 0) sql += `\nALTER FOREIGN TABLE ONLY ${r.ident} ALTER COLUMN ${qi(c.attname)} SET STATISTICS ${c.attstattarget};`;
  }
  return sql;
}
