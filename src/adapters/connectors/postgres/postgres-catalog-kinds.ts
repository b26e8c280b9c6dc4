import type pg from 'pg';
import { ACL, NOT_EXT, USER_NS } from './postgres-sql.js';
import type { AclEntry } from './postgres-catalog-types.js';
import { allOf } from './postgres-pipelined.js';

/**
 * Catalog queries for the kinds pg_dump knows beyond tables and the objects of
 * postgres-catalog-objects: base types (made with a shell type and their I/O functions),
 * procedural languages, access methods, transforms, conversions, subscriptions, security labels,
 * and the database's own privileges and per-role settings. Read in the backup's snapshot with
 * search_path = '' (reg* casts print qualified names); columns that differ between server versions
 * through to_jsonb(row).
 */
const OWNED = (owner: string, oid: string, catalog: string) => `pg_get_userbyid(${owner}) AS owner, obj_description(${oid}, '${catalog}') AS comment`;
const PROC = (col: string) => `CASE WHEN ${col} <> 0 THEN ${col}::regproc::text END`;

export interface BaseTypeRow {
  oid: number;
  ident: string;
  schema: string;
  typlen: number;
  typbyval: boolean;
  typalign: string;
  typstorage: string;
  typcategory: string;
  typispreferred: boolean;
  typdelim: string;
  collatable: boolean;
  typdefault: string | null;
  element: string | null;
  input: string;
  output: string;
  receive: string | null;
  send: string | null;
  typmodin: string | null;
  typmodout: string | null;
  analyze: string | null;
  subscript: string | null;
  /** The I/O functions, which are created against the shell type. */
  io_oids: number[];
  owner: string;
  comment: string | null;
  acl: AclEntry[] | null;
}
export interface LanguageRow {
  oid: number;
  name: string;
  trusted: boolean;
  handler: string;
  inline: string | null;
  validator: string | null;
  owner: string;
  comment: string | null;
  acl: AclEntry[] | null;
}
export interface AccessMethodRow {
  oid: number;
  name: string;
  amtype: 't' | 'i';
  handler: string;
  comment: string | null;
}
export interface TransformRow {
  oid: number;
  type: string;
  lang: string;
  fromsql: string | null;
  tosql: string | null;
  comment: string | null;
}
export interface ConversionRow {
  oid: number;
  ident: string;
  schema: string;
  source: string;
  dest: string;
  fn: string;
  is_default: boolean;
  owner: string;
  comment: string | null;
}
export interface SubscriptionRow {
  oid: number;
  name: string;
  conninfo: string;
  publications: string[];
  slot: string | null;
  /** The pg_subscription row as JSON, for the options that differ between versions. */
  row: Record<string, unknown>;
  owner: string;
  comment: string | null;
}
export interface SecurityLabelRow {
  classoid: number;
  objoid: number;
  objtype: string;
  objname: string;
  provider: string;
  label: string;
}
export interface DatabaseGrantsRow {
  owner: string;
  acl: AclEntry[] | null;
  /** Per-role settings of this database (ALTER ROLE … IN DATABASE … SET). */
  role_settings: { role: string; settings: string[] }[] | null;
}

export interface KindRows {
  baseTypes: BaseTypeRow[];
  languages: LanguageRow[];
  accessMethods: AccessMethodRow[];
  transforms: TransformRow[];
  conversions: ConversionRow[];
  /** Undefined when the backup role may not read them (pg_subscription.subconninfo is for superusers). */
  subscriptions: SubscriptionRow[] | undefined;
  securityLabels: SecurityLabelRow[];
  database: DatabaseGrantsRow;
}

/** An array type the server made for its element (typarray), as opposed to a base type of the user's. */
const NOT_IMPLICIT_ARRAY = (t: string) =>
  `NOT (${t}.typelem <> 0 AND ${t}.typlen = -1 AND EXISTS (SELECT 1 FROM pg_type e WHERE e.oid = ${t}.typelem AND e.typarray = ${t}.oid))`;

const Q = {
  baseTypes: `SELECT t.oid, format_type(t.oid, NULL) AS ident, n.nspname AS schema, t.typlen, t.typbyval, t.typalign, t.typstorage, t.typcategory,
      t.typispreferred, t.typdelim, t.typcollation <> 0 AS collatable, t.typdefault,
      CASE WHEN t.typelem <> 0 THEN format_type(t.typelem, NULL) END AS element,
      t.typinput::regproc::text AS input, t.typoutput::regproc::text AS output, ${PROC('t.typreceive')} AS receive, ${PROC('t.typsend')} AS send,
      ${PROC('t.typmodin')} AS typmodin, ${PROC('t.typmodout')} AS typmodout, ${PROC('t.typanalyze')} AS analyze, ${PROC('t.typsubscript')} AS subscript,
      array_remove(ARRAY[t.typinput, t.typoutput, t.typreceive, t.typsend, t.typmodin, t.typmodout, t.typanalyze, t.typsubscript]::oid[], 0::oid) AS io_oids,
      ${OWNED('t.typowner', 't.oid', 'pg_type')}, ${ACL('t.typacl')} AS acl
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE t.typtype = 'b' AND ${NOT_IMPLICIT_ARRAY('t')} AND ${USER_NS('n')} AND ${NOT_EXT('pg_type', 't.oid')}`,
  languages: `SELECT l.oid, quote_ident(l.lanname) AS name, l.lanpltrusted AS trusted, l.lanplcallfoid::regproc::text AS handler,
      ${PROC('l.laninline')} AS inline, ${PROC('l.lanvalidator')} AS validator, ${OWNED('l.lanowner', 'l.oid', 'pg_language')}, ${ACL('l.lanacl')} AS acl
    FROM pg_language l WHERE l.oid >= 16384 AND ${NOT_EXT('pg_language', 'l.oid')}`,
  accessMethods: `SELECT a.oid, quote_ident(a.amname) AS name, a.amtype, a.amhandler::regproc::text AS handler, obj_description(a.oid, 'pg_am') AS comment
    FROM pg_am a WHERE a.oid >= 16384 AND ${NOT_EXT('pg_am', 'a.oid')}`,
  transforms: `SELECT t.oid, format_type(t.trftype, NULL) AS type, quote_ident(l.lanname) AS lang, CASE WHEN t.trffromsql <> 0 THEN t.trffromsql::regprocedure::text END AS fromsql,
      CASE WHEN t.trftosql <> 0 THEN t.trftosql::regprocedure::text END AS tosql, obj_description(t.oid, 'pg_transform') AS comment
    FROM pg_transform t JOIN pg_language l ON l.oid = t.trflang WHERE ${NOT_EXT('pg_transform', 't.oid')}`,
  conversions: `SELECT c.oid, format('%I.%I', n.nspname, c.conname) AS ident, n.nspname AS schema, pg_encoding_to_char(c.conforencoding) AS source,
      pg_encoding_to_char(c.contoencoding) AS dest, c.conproc::regproc::text AS fn, c.condefault AS is_default, ${OWNED('c.conowner', 'c.oid', 'pg_conversion')}
    FROM pg_conversion c JOIN pg_namespace n ON n.oid = c.connamespace WHERE ${USER_NS('n')} AND ${NOT_EXT('pg_conversion', 'c.oid')}`,
  subscriptions: `SELECT s.oid, quote_ident(s.subname) AS name, s.subconninfo AS conninfo, s.subpublications AS publications, s.subslotname AS slot,
      to_jsonb(s) - 'subconninfo' AS row, ${OWNED('s.subowner', 's.oid', 'pg_subscription')}
    FROM pg_subscription s WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  /** Labels of this database's objects (pg_seclabels also lists shared ones: roles, databases, tablespaces). */
  securityLabels: `SELECT l.classoid, l.objoid, l.objtype, l.objname, l.provider, l.label FROM pg_seclabels l
    WHERE l.objtype NOT IN ('role', 'database', 'tablespace') ORDER BY l.classoid, l.objoid, l.objsubid, l.provider`,
  database: `SELECT pg_get_userbyid(d.datdba) AS owner, ${ACL('d.datacl')} AS acl,
      (SELECT json_agg(json_build_object('role', quote_ident(r.rolname), 'settings', s.setconfig) ORDER BY r.rolname)
        FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE s.setdatabase = d.oid) AS role_settings
    FROM pg_database d WHERE d.datname = current_database()`,
  superuser: `SELECT rolsuper AS super FROM pg_roles WHERE rolname = current_user`,
};

/** Reads the kinds above; runs inside the caller's (snapshot) transaction, its queries started together (pipelined by the caller). */
export function readKindRows(client: pg.Client): Promise<KindRows> {
  const rows = async <T>(sql: string): Promise<T[]> => (await client.query(sql)).rows as T[];
  const superuser = rows<{ super: boolean }>(Q.superuser).then((r) => r[0]?.super === true);
  return allOf<KindRows>({
    baseTypes: rows(Q.baseTypes),
    languages: rows(Q.languages),
    accessMethods: rows(Q.accessMethods),
    transforms: rows(Q.transforms),
    conversions: rows(Q.conversions),
    subscriptions: superuser.then((yes) => (yes ? rows(Q.subscriptions) : undefined)),
    securityLabels: rows(Q.securityLabels),
    database: rows<DatabaseGrantsRow>(Q.database).then((r) => r[0]!),
  });
}
