import type pg from 'pg';
import { ACL, NOT_EXT, USER_NS } from './postgres-sql.js';
import type { AclEntry } from './postgres-catalog-types.js';
import { allOf } from './postgres-pipelined.js';

/**
 * Catalog queries for the objects that live beside tables: collations, text search dictionaries
 * and configurations, operators, operator families and classes, casts, event triggers,
 * publications, default privileges and large objects. Read in the backup's snapshot with
 * search_path = '' (so reg* casts and format_type print qualified names). Columns that differ
 * between server versions are read through to_jsonb(row), which never fails on a missing one.
 */
const OWNED = (owner: string, oid: string, catalog: string) => `pg_get_userbyid(${owner}) AS owner, obj_description(${oid}, '${catalog}') AS comment`;

export interface CollationRow {
  oid: number;
  ident: string;
  schema: string;
  provider: string;
  deterministic: boolean;
  collate: string | null;
  ctype: string | null;
  icu_locale: string | null;
  icu_rules: string | null;
  owner: string;
  comment: string | null;
}
export interface TsDictRow {
  oid: number;
  ident: string;
  schema: string;
  template: string;
  options: string | null;
  owner: string;
  comment: string | null;
}
export interface TsParserRow {
  oid: number;
  ident: string;
  schema: string;
  start: string;
  gettoken: string;
  end: string;
  lextypes: string;
  headline: string | null;
  comment: string | null;
}
export interface TsTemplateRow {
  oid: number;
  ident: string;
  schema: string;
  init: string | null;
  lexize: string;
  comment: string | null;
}
export interface TsConfigRow {
  oid: number;
  ident: string;
  schema: string;
  parser: string;
  mappings: { token: string; dicts: string[] }[] | null;
  owner: string;
  comment: string | null;
}
export interface OperatorRow {
  oid: number;
  schema: string;
  name: string;
  signature: string;
  left: string | null;
  right: string | null;
  fn: string;
  commutator: string | null;
  negator: string | null;
  restrict: string | null;
  join: string | null;
  merges: boolean;
  hashes: boolean;
  owner: string;
  comment: string | null;
}
export interface OpMember {
  kind: 'op' | 'fn';
  n: number;
  types: string;
  ref: string;
  order_by: string | null;
}
export interface OpFamilyRow {
  oid: number;
  ident: string;
  schema: string;
  name: string;
  am: string;
  loose: OpMember[] | null;
  owner: string;
  comment: string | null;
}
export interface OpClassRow {
  oid: number;
  ident: string;
  schema: string;
  name: string;
  am: string;
  type: string;
  is_default: boolean;
  family: string;
  family_oid: number;
  family_same_name: boolean;
  storage: string | null;
  members: OpMember[] | null;
  owner: string;
  comment: string | null;
}
export interface CastRow {
  oid: number;
  source: string;
  target: string;
  method: 'f' | 'i' | 'b';
  context: 'e' | 'a' | 'i';
  fn: string | null;
  comment: string | null;
}
export interface EventTriggerRow {
  oid: number;
  name: string;
  event: string;
  fn: string;
  enabled: string;
  tags: string[] | null;
  owner: string;
  comment: string | null;
}
export interface PublicationRow {
  oid: number;
  name: string;
  all_tables: boolean;
  publish: string;
  via_root: boolean;
  owner: string;
  comment: string | null;
}
export interface PublicationMemberRow {
  oid: number;
  pubid: number;
  relid: number | null;
  schema: string | null;
  columns: string[] | null;
  qual: string | null;
}
export interface DefaultAclRow {
  oid: number;
  role: string;
  schema: string | null;
  objtype: string;
  acl: AclEntry[];
  defaults: AclEntry[];
}
/** An extension's function or relation whose grants were changed since CREATE EXTENSION. */
export interface ExtensionAclRow {
  keyword: 'FUNCTION' | 'TABLE' | 'SEQUENCE';
  ident: string;
  owner: string;
  ext: number;
  acl: AclEntry[] | null;
}
export interface LargeObjectRow {
  oid: number;
  owner: string;
  comment: string | null;
  acl: AclEntry[] | null;
}

export interface DatabaseRow {
  comment: string | null;
  /** `name=value` settings of ALTER DATABASE … SET (for every role). */
  settings: string[] | null;
  role_settings: number;
  has_acl: boolean;
  /** Tables, indexes and materialized views placed in a tablespace of their own. */
  tablespaced: number;
}

export interface CatalogObjects {
  database: DatabaseRow;
  collations: CollationRow[];
  tsParsers: TsParserRow[];
  tsTemplates: TsTemplateRow[];
  tsDicts: TsDictRow[];
  tsConfigs: TsConfigRow[];
  operators: OperatorRow[];
  opFamilies: OpFamilyRow[];
  opClasses: OpClassRow[];
  casts: CastRow[];
  eventTriggers: EventTriggerRow[];
  publications: PublicationRow[];
  publicationMembers: PublicationMemberRow[];
  defaultAcls: DefaultAclRow[];
  largeObjects: LargeObjectRow[];
  extensionAcls: ExtensionAclRow[];
}

const OP_MEMBERS = (catalog: 'pg_opclass' | 'pg_opfamily', oid: string) => `(SELECT json_agg(m ORDER BY m.kind DESC, m.n, m.types) FROM (
    SELECT 'op' AS kind, ao.amopstrategy::int AS n, format('%s, %s', format_type(ao.amoplefttype, NULL), format_type(ao.amoprighttype, NULL)) AS types,
      ao.amopopr::regoperator::text AS ref,
      CASE WHEN ao.amoppurpose = 'o' THEN (SELECT format('%I.%I', sn.nspname, sf.opfname) FROM pg_opfamily sf
        JOIN pg_namespace sn ON sn.oid = sf.opfnamespace WHERE sf.oid = ao.amopsortfamily) END AS order_by
    FROM pg_amop ao JOIN pg_depend d ON d.classid = 'pg_amop'::regclass AND d.objid = ao.oid
    WHERE d.refclassid = '${catalog}'::regclass AND d.refobjid = ${oid}
    UNION ALL
    SELECT 'fn', ap.amprocnum::int, format('%s, %s', format_type(ap.amproclefttype, NULL), format_type(ap.amprocrighttype, NULL)),
      ap.amproc::regprocedure::text, NULL
    FROM pg_amproc ap JOIN pg_depend d ON d.classid = 'pg_amproc'::regclass AND d.objid = ap.oid
    WHERE d.refclassid = '${catalog}'::regclass AND d.refobjid = ${oid}) m)`;

const Q = {
  database: `SELECT shobj_description(d.oid, 'pg_database') AS comment,
      (SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0) AS settings,
      (SELECT count(*)::int FROM pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole <> 0) AS role_settings,
      d.datacl IS NOT NULL AS has_acl,
      (SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.reltablespace <> 0 AND c.relkind IN ('r', 'p', 'm', 'i', 'I') AND ${USER_NS('n')}) AS tablespaced
    FROM pg_database d WHERE d.datname = current_database()`,
  collations: `SELECT c.oid, format('%I.%I', n.nspname, c.collname) AS ident, n.nspname AS schema, c.collprovider AS provider,
      c.collisdeterministic AS deterministic, to_jsonb(c) ->> 'collcollate' AS collate, to_jsonb(c) ->> 'collctype' AS ctype,
      coalesce(to_jsonb(c) ->> 'colllocale', to_jsonb(c) ->> 'colliculocale') AS icu_locale, to_jsonb(c) ->> 'collicurules' AS icu_rules,
      ${OWNED('c.collowner', 'c.oid', 'pg_collation')}
    FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace WHERE ${USER_NS('n')} AND ${NOT_EXT('pg_collation', 'c.oid')}`,
  tsParsers: `SELECT p.oid, format('%I.%I', n.nspname, p.prsname) AS ident, n.nspname AS schema, p.prsstart::regproc::text AS start,
      p.prstoken::regproc::text AS gettoken, p.prsend::regproc::text AS end, p.prslextype::regproc::text AS lextypes,
      NULLIF(p.prsheadline, 0)::regproc::text AS headline, obj_description(p.oid, 'pg_ts_parser') AS comment
    FROM pg_ts_parser p JOIN pg_namespace n ON n.oid = p.prsnamespace WHERE ${USER_NS('n')} AND ${NOT_EXT('pg_ts_parser', 'p.oid')}`,
  tsTemplates: `SELECT t.oid, format('%I.%I', n.nspname, t.tmplname) AS ident, n.nspname AS schema, NULLIF(t.tmplinit, 0)::regproc::text AS init,
      t.tmpllexize::regproc::text AS lexize, obj_description(t.oid, 'pg_ts_template') AS comment
    FROM pg_ts_template t JOIN pg_namespace n ON n.oid = t.tmplnamespace WHERE ${USER_NS('n')} AND ${NOT_EXT('pg_ts_template', 't.oid')}`,
  tsDicts: `SELECT d.oid, format('%I.%I', n.nspname, d.dictname) AS ident, n.nspname AS schema,
      (SELECT format('%I.%I', tn.nspname, t.tmplname) FROM pg_ts_template t JOIN pg_namespace tn ON tn.oid = t.tmplnamespace WHERE t.oid = d.dicttemplate) AS template,
      d.dictinitoption AS options, ${OWNED('d.dictowner', 'd.oid', 'pg_ts_dict')}
    FROM pg_ts_dict d JOIN pg_namespace n ON n.oid = d.dictnamespace WHERE ${USER_NS('n')} AND ${NOT_EXT('pg_ts_dict', 'd.oid')}`,
  tsConfigs: `SELECT c.oid, format('%I.%I', n.nspname, c.cfgname) AS ident, n.nspname AS schema,
      (SELECT format('%I.%I', pn.nspname, p.prsname) FROM pg_ts_parser p JOIN pg_namespace pn ON pn.oid = p.prsnamespace WHERE p.oid = c.cfgparser) AS parser,
      (SELECT json_agg(json_build_object('token', x.token, 'dicts', x.dicts) ORDER BY x.tokid) FROM (
        SELECT m.maptokentype AS tokid, (SELECT t.alias FROM ts_token_type(c.cfgparser) t WHERE t.tokid = m.maptokentype) AS token,
          array_agg(m.mapdict::regdictionary::text ORDER BY m.mapseqno) AS dicts
        FROM pg_ts_config_map m WHERE m.mapcfg = c.oid GROUP BY m.maptokentype) x) AS mappings,
      ${OWNED('c.cfgowner', 'c.oid', 'pg_ts_config')}
    FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace WHERE ${USER_NS('n')} AND ${NOT_EXT('pg_ts_config', 'c.oid')}`,
  operators: `SELECT o.oid, n.nspname AS schema, o.oprname AS name, o.oid::regoperator::text AS signature,
      CASE WHEN o.oprleft <> 0 THEN format_type(o.oprleft, NULL) END AS left, CASE WHEN o.oprright <> 0 THEN format_type(o.oprright, NULL) END AS right,
      o.oprcode::regprocedure::text AS fn,
      (SELECT format('OPERATOR(%I.%s)', cn.nspname, c.oprname) FROM pg_operator c JOIN pg_namespace cn ON cn.oid = c.oprnamespace WHERE c.oid = o.oprcom) AS commutator,
      (SELECT format('OPERATOR(%I.%s)', cn.nspname, c.oprname) FROM pg_operator c JOIN pg_namespace cn ON cn.oid = c.oprnamespace WHERE c.oid = o.oprnegate) AS negator,
      NULLIF(o.oprrest, 0)::regproc::text AS restrict, NULLIF(o.oprjoin, 0)::regproc::text AS join, o.oprcanmerge AS merges, o.oprcanhash AS hashes,
      ${OWNED('o.oprowner', 'o.oid', 'pg_operator')}
    FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace WHERE ${USER_NS('n')} AND ${NOT_EXT('pg_operator', 'o.oid')} AND o.oprcode <> 0`,
  opFamilies: `SELECT f.oid, format('%I.%I', n.nspname, f.opfname) AS ident, n.nspname AS schema, f.opfname AS name, quote_ident(am.amname) AS am,
      ${OP_MEMBERS('pg_opfamily', 'f.oid')} AS loose, ${OWNED('f.opfowner', 'f.oid', 'pg_opfamily')}
    FROM pg_opfamily f JOIN pg_namespace n ON n.oid = f.opfnamespace JOIN pg_am am ON am.oid = f.opfmethod
    WHERE ${USER_NS('n')} AND ${NOT_EXT('pg_opfamily', 'f.oid')}`,
  opClasses: `SELECT c.oid, format('%I.%I', n.nspname, c.opcname) AS ident, n.nspname AS schema, c.opcname AS name, quote_ident(am.amname) AS am,
      format_type(c.opcintype, NULL) AS type, c.opcdefault AS is_default, format('%I.%I', fn.nspname, f.opfname) AS family, f.oid AS family_oid,
      (f.opfname = c.opcname AND f.opfnamespace = c.opcnamespace) AS family_same_name,
      CASE WHEN c.opckeytype <> 0 THEN format_type(c.opckeytype, NULL) END AS storage,
      ${OP_MEMBERS('pg_opclass', 'c.oid')} AS members, ${OWNED('c.opcowner', 'c.oid', 'pg_opclass')}
    FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace JOIN pg_am am ON am.oid = c.opcmethod
      JOIN pg_opfamily f ON f.oid = c.opcfamily JOIN pg_namespace fn ON fn.oid = f.opfnamespace
    WHERE ${USER_NS('n')} AND ${NOT_EXT('pg_opclass', 'c.oid')}`,
  casts: `SELECT c.oid, format_type(c.castsource, NULL) AS source, format_type(c.casttarget, NULL) AS target, c.castmethod AS method,
      c.castcontext AS context, CASE WHEN c.castfunc <> 0 THEN c.castfunc::regprocedure::text END AS fn, obj_description(c.oid, 'pg_cast') AS comment
    FROM pg_cast c WHERE c.oid >= 16384 AND ${NOT_EXT('pg_cast', 'c.oid')}
      AND NOT EXISTS (SELECT 1 FROM pg_depend i WHERE i.classid = 'pg_cast'::regclass AND i.objid = c.oid AND i.deptype = 'i')`,
  /**
   * dbbackup's own change-capture objects (the publications dbbackup_<source>, the DDL trigger
   * dbbackup_ddl) belong to the source's capture, not to its data: a restored copy does not get them
   * (a copy with the capture publication would refuse UPDATE/DELETE on a table that loses its key).
   */
  eventTriggers: `SELECT et.oid, et.evtname AS name, et.evtevent AS event, et.evtfoid::regproc::text AS fn, et.evtenabled AS enabled, et.evttags AS tags,
      ${OWNED('et.evtowner', 'et.oid', 'pg_event_trigger')}
    FROM pg_event_trigger et WHERE ${NOT_EXT('pg_event_trigger', 'et.oid')} AND et.evtname <> 'dbbackup_ddl'`,
  publications: `SELECT p.oid, p.pubname AS name, p.puballtables AS all_tables, p.pubviaroot AS via_root,
      concat_ws(', ', CASE WHEN p.pubinsert THEN 'insert' END, CASE WHEN p.pubupdate THEN 'update' END,
        CASE WHEN p.pubdelete THEN 'delete' END, CASE WHEN p.pubtruncate THEN 'truncate' END) AS publish,
      ${OWNED('p.pubowner', 'p.oid', 'pg_publication')}
    FROM pg_publication p WHERE p.pubname NOT LIKE 'dbbackup\\_%'`,
  /** PostgreSQL 15 added column lists and row filters. */
  publicationTables: (v15: boolean) => `SELECT r.oid, r.prpubid AS pubid, r.prrelid AS relid, NULL AS schema,
      ${v15 ? `(SELECT array_agg(quote_ident(a.attname) ORDER BY k.i) FROM unnest(r.prattrs::int2[]) WITH ORDINALITY k(attnum, i)
        JOIN pg_attribute a ON a.attrelid = r.prrelid AND a.attnum = k.attnum)` : 'NULL'} AS columns,
      ${v15 ? 'pg_get_expr(r.prqual, r.prrelid)' : 'NULL'} AS qual
    FROM pg_publication_rel r`,
  publicationSchemas: `SELECT p.oid, p.pnpubid AS pubid, NULL::oid AS relid, n.nspname AS schema, NULL AS columns, NULL AS qual
    FROM pg_publication_namespace p JOIN pg_namespace n ON n.oid = p.pnnspid`,
  defaultAcls: `SELECT d.oid, quote_ident(pg_get_userbyid(d.defaclrole)) AS role, n.nspname AS schema, d.defaclobjtype AS objtype,
      ${ACL('d.defaclacl')} AS acl, ${ACL('acldefault(d.defaclobjtype, d.defaclrole)')} AS defaults
    FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace`,
  /** As pg_dump: the grants of extension members that differ from those the extension script left (pg_init_privs). */
  extensionAcls: `SELECT CASE WHEN d.classid = 'pg_proc'::regclass THEN 'FUNCTION' WHEN c.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS keyword,
      CASE WHEN d.classid = 'pg_proc'::regclass THEN p.oid::regprocedure::text ELSE format('%I.%I', n.nspname, c.relname) END AS ident,
      pg_get_userbyid(coalesce(p.proowner, c.relowner)) AS owner, d.refobjid AS ext,
      ${ACL('coalesce(p.proacl, c.relacl)')} AS acl
    FROM pg_depend d LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
      LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_init_privs ip ON ip.classoid = d.classid AND ip.objoid = d.objid AND ip.objsubid = 0
    WHERE d.deptype = 'e' AND d.refclassid = 'pg_extension'::regclass AND (p.oid IS NOT NULL OR c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f'))
      AND coalesce(p.proacl, c.relacl)::text IS DISTINCT FROM ip.initprivs::text`,
  largeObjects: `SELECT m.oid, pg_get_userbyid(m.lomowner) AS owner, obj_description(m.oid, 'pg_largeobject') AS comment, ${ACL('m.lomacl')} AS acl
    FROM pg_largeobject_metadata m ORDER BY m.oid`,
};

/** Reads the objects above; runs inside the caller's (snapshot) transaction, its queries started together (pipelined by the caller). */
export function readCatalogObjects(client: pg.Client, versionNum: number): Promise<CatalogObjects> {
  const rows = async <T>(sql: string): Promise<T[]> => (await client.query(sql)).rows as T[];
  const tables = rows<PublicationMemberRow>(Q.publicationTables(versionNum >= 150000));
  const schemas = versionNum >= 150000 ? rows<PublicationMemberRow>(Q.publicationSchemas) : Promise.resolve([]);
  return allOf<CatalogObjects>({
    database: rows<DatabaseRow>(Q.database).then((r) => r[0]!),
    collations: rows(Q.collations),
    tsParsers: rows(Q.tsParsers),
    tsTemplates: rows(Q.tsTemplates),
    tsDicts: rows(Q.tsDicts),
    tsConfigs: rows(Q.tsConfigs),
    operators: rows(Q.operators),
    opFamilies: rows(Q.opFamilies),
    opClasses: rows(Q.opClasses),
    casts: rows(Q.casts),
    eventTriggers: rows(Q.eventTriggers),
    publications: rows(Q.publications),
    publicationMembers: Promise.all([tables, schemas]).then(([t, s]) => [...t, ...s]),
    defaultAcls: rows(Q.defaultAcls),
    largeObjects: rows(Q.largeObjects),
    extensionAcls: rows(Q.extensionAcls),
  });
}
