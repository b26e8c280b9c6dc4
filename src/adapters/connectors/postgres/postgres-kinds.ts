import { quoteIdent as qi, quoteLiteral as ql } from './connection.js';
import type { BaseTypeRow, KindRows, SubscriptionRow } from './postgres-catalog-kinds.js';
import { aclSql, comment, ownerSql } from './postgres-ddl.js';
import { LIST_SETTINGS } from './postgres-objects.js';
import type { TocItem } from './postgres-toc.js';

type NewItem = Omit<TocItem, 'id' | 'deps' | 'tables'> & { tables?: string[] };
type Add = (item: NewItem, ...keys: string[]) => TocItem;
type Key = (catalog: string, oid: number) => string;

/** A base type's shell item and the I/O functions that are created against it (see useShellTypes). */
export interface ShellLink {
  shell: number;
  type: number;
  functions: number[];
}

/**
 * TOC items for the kinds of KindRows, as pg_dump makes them. `itemOf` finds the item of an object
 * already added (by `classoid:oid`), for security labels; call this after every other object's
 * items exist. Returns the base types' shell links, applied once dependencies are wired.
 */
export function buildKindItems(k: KindRows, add: Add, key: Key, itemOf: (k: string) => number | undefined): ShellLink[] {
  const shells = k.baseTypes.map((t) => {
    const shell = add({ kind: 'shell-type', section: 'pre-data', schema: t.schema, name: t.ident, sql: `CREATE TYPE ${t.ident};` });
    const type = add(
      { kind: 'type', section: 'pre-data', schema: t.schema, name: t.ident, sql: `${baseTypeSql(t)}${comment(`TYPE ${t.ident}`, t.comment)}`,
        owner: ownerSql('TYPE', t.ident, t.owner), acl: aclSql('TYPE', t.ident, t.owner, t.acl), drop: `DROP TYPE IF EXISTS ${t.ident} CASCADE;` },
      key('pg_type', t.oid),
    );
    type.deps.push(shell.id);
    return { shell: shell.id, type: type.id, functions: t.io_oids.map((oid) => itemOf(key('pg_proc', oid))).filter((id): id is number => id !== undefined) };
  });
  for (const l of k.languages) {
    const sql = `CREATE ${l.trusted ? 'TRUSTED ' : ''}PROCEDURAL LANGUAGE ${l.name} HANDLER ${l.handler}${l.inline ? ` INLINE ${l.inline}` : ''}${l.validator ? ` VALIDATOR ${l.validator}` : ''};`;
    add({ kind: 'language', section: 'pre-data', schema: null, name: l.name, sql: `${sql}${comment(`LANGUAGE ${l.name}`, l.comment)}`,
      owner: ownerSql('LANGUAGE', l.name, l.owner), acl: aclSql('LANGUAGE', l.name, l.owner, l.acl), drop: `DROP PROCEDURAL LANGUAGE IF EXISTS ${l.name} CASCADE;` }, key('pg_language', l.oid));
  }
  for (const a of k.accessMethods) {
    add({ kind: 'access-method', section: 'pre-data', schema: null, name: a.name,
      sql: `CREATE ACCESS METHOD ${a.name} TYPE ${a.amtype === 't' ? 'TABLE' : 'INDEX'} HANDLER ${a.handler};${comment(`ACCESS METHOD ${a.name}`, a.comment)}`,
      drop: `DROP ACCESS METHOD IF EXISTS ${a.name} CASCADE;` }, key('pg_am', a.oid));
  }
  for (const t of k.transforms) {
    const what = `FOR ${t.type} LANGUAGE ${t.lang}`;
    const fns = [...(t.fromsql ? [`FROM SQL WITH FUNCTION ${t.fromsql}`] : []), ...(t.tosql ? [`TO SQL WITH FUNCTION ${t.tosql}`] : [])];
    add({ kind: 'transform', section: 'pre-data', schema: null, name: what, sql: `CREATE TRANSFORM ${what} (\n    ${fns.join(',\n    ')}\n);${comment(`TRANSFORM ${what}`, t.comment)}`,
      drop: `DROP TRANSFORM IF EXISTS ${what} CASCADE;` }, key('pg_transform', t.oid));
  }
  for (const c of k.conversions) {
    add({ kind: 'conversion', section: 'pre-data', schema: c.schema, name: c.ident,
      sql: `CREATE ${c.is_default ? 'DEFAULT ' : ''}CONVERSION ${c.ident} FOR ${ql(c.source)} TO ${ql(c.dest)} FROM ${c.fn};${comment(`CONVERSION ${c.ident}`, c.comment)}`,
      owner: ownerSql('CONVERSION', c.ident, c.owner), drop: `DROP CONVERSION IF EXISTS ${c.ident};` }, key('pg_conversion', c.oid));
  }
  for (const s of k.subscriptions ?? []) {
    add({ kind: 'subscription', section: 'post-data', schema: null, name: s.name, sql: `${subscriptionSql(s)}${comment(`SUBSCRIPTION ${s.name}`, s.comment)}`,
      owner: ownerSql('SUBSCRIPTION', s.name, s.owner), drop: dropSubscriptionSql(s.name) }, key('pg_subscription', s.oid));
  }
  for (const l of k.securityLabels) {
    const on = `${l.objtype.toUpperCase()} ${l.objname}`;
    const item = add({ kind: 'security-label', section: 'post-data', schema: null, name: `${l.provider} ${on}`,
      sql: `SECURITY LABEL FOR ${qi(l.provider)} ON ${on} IS ${ql(l.label)};` });
    const of = itemOf(`${l.classoid}:${l.objoid}`);
    if (of !== undefined) item.deps.push(of);
  }
  const grants = databaseGrantsSql(k);
  if (grants) add({ kind: 'database', section: 'post-data', schema: null, name: 'database privileges', sql: '-- privileges and per-role settings of the database', acl: grants });
  return shells;
}

/**
 * A base type's I/O functions take or return the type itself: they are created against its shell
 * (as pg_dump does), and the full CREATE TYPE follows them.
 */
export function useShellTypes(items: TocItem[], links: ShellLink[]): void {
  const byId = new Map(items.map((i) => [i.id, i]));
  for (const l of links) {
    for (const f of l.functions) {
      const fn = byId.get(f);
      if (!fn) continue;
      fn.deps = [...new Set(fn.deps.map((d) => (d === l.type ? l.shell : d)).concat(l.shell))].sort((a, b) => a - b);
      const type = byId.get(l.type)!;
      if (!type.deps.includes(f)) type.deps.push(f);
    }
  }
}

const ALIGN: Record<string, string> = { c: 'char', s: 'int2', i: 'int4', d: 'double' };
const STORAGE: Record<string, string> = { p: 'plain', e: 'external', x: 'extended', m: 'main' };

export function baseTypeSql(t: BaseTypeRow): string {
  const opts = [`INTERNALLENGTH = ${t.typlen === -1 ? 'variable' : t.typlen}`, `INPUT = ${t.input}`, `OUTPUT = ${t.output}`];
  const fns: [string, string | null][] = [['RECEIVE', t.receive], ['SEND', t.send], ['TYPMOD_IN', t.typmodin], ['TYPMOD_OUT', t.typmodout], ['ANALYZE', t.analyze], ['SUBSCRIPT', t.subscript]];
  for (const [name, fn] of fns) if (fn) opts.push(`${name} = ${fn}`);
  if (t.typdefault !== null) opts.push(`DEFAULT = ${ql(t.typdefault)}`);
  if (t.typbyval) opts.push('PASSEDBYVALUE');
  opts.push(`ALIGNMENT = ${ALIGN[t.typalign] ?? 'int4'}`, `STORAGE = ${STORAGE[t.typstorage] ?? 'plain'}`);
  if (t.typcategory !== 'U') opts.push(`CATEGORY = ${ql(t.typcategory)}`);
  if (t.typispreferred) opts.push('PREFERRED = true');
  if (t.typdelim !== ',') opts.push(`DELIMITER = ${ql(t.typdelim)}`);
  if (t.element) opts.push(`ELEMENT = ${t.element}`);
  if (t.collatable) opts.push('COLLATABLE = true');
  return `CREATE TYPE ${t.ident} (\n    ${opts.join(',\n    ')}\n);`;
}

/**
 * As pg_dump: created with connect = false, so disabled, with no slot created and no data copied;
 * the slot name is kept. The restore says how to enable it.
 */
export function subscriptionSql(s: SubscriptionRow): string {
  const r = s.row;
  const opts = ['connect = false', `slot_name = ${s.slot === null ? 'NONE' : ql(s.slot)}`];
  if (r.subbinary === true) opts.push('binary = true');
  if (r.substream === true || r.substream === 't') opts.push('streaming = on');
  if (r.substream === 'p') opts.push('streaming = parallel');
  if (typeof r.subtwophasestate === 'string' && r.subtwophasestate !== 'd') opts.push('two_phase = on');
  if (r.subdisableonerr === true) opts.push('disable_on_error = true');
  if (typeof r.subsynccommit === 'string' && r.subsynccommit !== 'off') opts.push(`synchronous_commit = ${ql(r.subsynccommit)}`);
  if (typeof r.suborigin === 'string' && r.suborigin !== 'any') opts.push(`origin = ${ql(r.suborigin)}`);
  if (r.subpasswordrequired === false) opts.push('password_required = false');
  if (r.subrunasowner === true) opts.push('run_as_owner = true');
  if (r.subfailover === true) opts.push('failover = true');
  return `CREATE SUBSCRIPTION ${s.name} CONNECTION ${ql(s.conninfo)} PUBLICATION ${s.publications.map((p) => qi(p)).join(', ')} WITH (${opts.join(', ')});`;
}

/** --clean: a subscription is dropped without touching its slot on the publisher. */
function dropSubscriptionSql(name: string): string {
  const alter = (rest: string) => `EXECUTE ${ql(`ALTER SUBSCRIPTION ${name} ${rest}`)};`;
  return `DO $dbbackup$ BEGIN IF EXISTS (SELECT 1 FROM pg_catalog.pg_subscription WHERE pg_catalog.quote_ident(subname) = ${ql(name)}
  AND subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())) THEN
  ${alter('DISABLE')} ${alter('SET (slot_name = NONE)')} EXECUTE ${ql(`DROP SUBSCRIPTION ${name}`)}; END IF; END $dbbackup$;`;
}

const THIS_DATABASE = '\u0001';

/** GRANT … ON DATABASE and ALTER ROLE … IN DATABASE … SET, for whatever database the restore fills. */
function databaseGrantsSql(k: KindRows): string | undefined {
  const forThisDatabase = (statement: string) => {
    const [before, after] = statement.replace(/;$/, '').split(THIS_DATABASE) as [string, string];
    return `DO $dbbackup$ BEGIN EXECUTE ${ql(before)} || pg_catalog.quote_ident(pg_catalog.current_database()) || ${ql(after)}; END $dbbackup$;`;
  };
  const db = k.database;
  const lines = (aclSql('DATABASE', THIS_DATABASE, db.owner, db.acl) ?? '').split('\n').filter(Boolean);
  for (const r of db.role_settings ?? []) {
    for (const setting of r.settings) {
      const at = setting.indexOf('=');
      const name = setting.slice(0, at);
      const value = setting.slice(at + 1);
      lines.push(`ALTER ROLE ${r.role} IN DATABASE ${THIS_DATABASE} SET ${qi(name)} TO ${LIST_SETTINGS.has(name.toLowerCase()) ? value : ql(value)};`);
    }
  }
  return lines.length ? lines.map(forThisDatabase).join('\n') : undefined;
}
