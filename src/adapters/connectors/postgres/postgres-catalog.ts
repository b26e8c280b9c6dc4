import type pg from 'pg';
import { ACL, NOT_EXT, NOT_INTERNAL, USER_NS } from './postgres-sql.js';
import type {
  ColumnRow,
  ConstraintRow,
  DependRow,
  ExtensionRow,
  FunctionRow,
  IndexRow,
  PolicyRow,
  RelationRow,
  RuleRow,
  SchemaRow,
  SequenceRow,
  StatisticsRow,
  TriggerRow,
  TypeRow,
} from './postgres-catalog-types.js';
import { type CatalogObjects, readCatalogObjects } from './postgres-catalog-objects.js';
import { type ExtConfigRow, readExtConfig } from './postgres-catalog-extconfig.js';
import { type ForeignRows, OPTIONS, readForeignRows } from './postgres-catalog-foreign.js';
import { type KindRows, readKindRows } from './postgres-catalog-kinds.js';
import { allOf, pipelined } from './postgres-pipelined.js';

/**
 * Catalog queries: what a schema dump needs, read in the backup's snapshot with search_path = ''
 * so every name the server prints (format_type, pg_get_*def, regclass) is schema-qualified.
 * Objects in system schemas and members of extensions are left out (the extension recreates them).
 */
const COLLATION = (oid: string) =>
  `(SELECT format('%I.%I', cn.nspname, co.collname) FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = ${oid})`;

export interface CatalogRows {
  schemas: SchemaRow[];
  extensions: ExtensionRow[];
  types: TypeRow[];
  functions: FunctionRow[];
  sequences: SequenceRow[];
  relations: RelationRow[];
  columns: ColumnRow[];
  constraints: ConstraintRow[];
  indexes: IndexRow[];
  triggers: TriggerRow[];
  rules: RuleRow[];
  policies: PolicyRow[];
  statistics: StatisticsRow[];
  depends: DependRow[];
  /** Type oid → the oid whose item stands for it (array → element, multirange → range, rowtype → relation). */
  typeAliases: { oid: number; target: number; via: 'type' | 'class' }[];
  unsupported: UnsupportedRow[];
  /** Base types, languages, access methods, transforms, conversions, subscriptions, security labels, database privileges. */
  kinds: KindRows;
  classIds: Record<string, number>;
  /** Collations, text search, operators, casts, event triggers, publications, default privileges, large objects. */
  objects: CatalogObjects;
  foreign: ForeignRows;
  extConfig: ExtConfigRow[];
}

const Q = {
  schemas: `SELECT n.oid, n.nspname AS name, pg_get_userbyid(n.nspowner) AS owner, obj_description(n.oid, 'pg_namespace') AS comment,
      ${ACL('n.nspacl')} AS acl FROM pg_namespace n WHERE ${USER_NS('n')} AND ${NOT_EXT('pg_namespace', 'n.oid')}`,
  extensions: `SELECT x.oid, x.extname AS name, n.nspname AS schema, obj_description(x.oid, 'pg_extension') AS comment,
      x.extconfig IS NOT NULL AS has_config FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace WHERE x.extname <> 'plpgsql'`,
  types: `SELECT t.oid, t.typtype, format_type(t.oid, NULL) AS ident, n.nspname AS schema, t.typrelid, pg_get_userbyid(t.typowner) AS owner,
      obj_description(t.oid, 'pg_type') AS comment, ${ACL('t.typacl')} AS acl,
      CASE WHEN t.typtype = 'e' THEN (SELECT array_agg(quote_literal(enumlabel) ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = t.oid) END AS labels,
      CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS basetype, t.typnotnull,
      pg_get_expr(t.typdefaultbin, 'pg_type'::regclass) AS typdefault,
      CASE WHEN t.typtype = 'd' AND t.typcollation <> 0 AND t.typcollation <> (SELECT b.typcollation FROM pg_type b WHERE b.oid = t.typbasetype)
        THEN ${COLLATION('t.typcollation')} END AS collation,
      format_type(r.rngsubtype, NULL) AS subtype,
      CASE WHEN r.rngsubopc IS NOT NULL AND NOT opc.opcdefault THEN format('%I.%I', opcn.nspname, opc.opcname) END AS opclass,
      CASE WHEN r.rngcollation <> 0 AND r.rngcollation <> (SELECT s.typcollation FROM pg_type s WHERE s.oid = r.rngsubtype)
        THEN ${COLLATION('r.rngcollation')} END AS rngcollation,
      NULLIF(r.rngcanonical, 0)::regproc::text AS canonical, NULLIF(r.rngsubdiff, 0)::regproc::text AS subdiff,
      format_type(r.rngmultitypid, NULL) AS multirange, r.rngmultitypid AS multirange_oid,
      CASE WHEN t.typtype = 'c' THEN (SELECT array_agg(format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod),
          CASE WHEN a.attcollation <> at.typcollation THEN ' COLLATE ' || ${COLLATION('a.attcollation')} ELSE '' END) ORDER BY a.attnum)
        FROM pg_attribute a JOIN pg_type at ON at.oid = a.atttypid WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END AS attrs,
      CASE WHEN t.typtype = 'c' THEN (SELECT json_agg(json_build_object('name', quote_ident(a.attname), 'comment', d.description) ORDER BY a.attnum)
        FROM pg_attribute a JOIN pg_description d ON d.objoid = t.typrelid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum
        WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END AS attr_comments
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace LEFT JOIN pg_range r ON r.rngtypid = t.oid
      LEFT JOIN pg_opclass opc ON opc.oid = r.rngsubopc LEFT JOIN pg_namespace opcn ON opcn.oid = opc.opcnamespace
    WHERE ${USER_NS('n')} AND ${NOT_EXT('pg_type', 't.oid')}
      AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c')))`,
  functions: `SELECT p.oid, p.prokind, p.oid::regprocedure::text AS ident, format('%I.%I', n.nspname, p.proname) AS qname, n.nspname AS schema,
      CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END AS def, pg_get_function_arguments(p.oid) AS args, p.proparallel,
      pg_get_userbyid(p.proowner) AS owner, obj_description(p.oid, 'pg_proc') AS comment, ${ACL('p.proacl')} AS acl,
      CASE WHEN p.prokind = 'a' THEN (SELECT json_build_object('kind', a.aggkind, 'sfunc', a.aggtransfn::regproc::text,
          'stype', format_type(a.aggtranstype, NULL), 'sspace', a.aggtransspace, 'finalfunc', NULLIF(a.aggfinalfn, 0)::regproc::text,
          'finalextra', a.aggfinalextra, 'finalmodify', a.aggfinalmodify, 'combinefunc', NULLIF(a.aggcombinefn, 0)::regproc::text,
          'serialfunc', NULLIF(a.aggserialfn, 0)::regproc::text, 'deserialfunc', NULLIF(a.aggdeserialfn, 0)::regproc::text,
          'msfunc', NULLIF(a.aggmtransfn, 0)::regproc::text, 'minvfunc', NULLIF(a.aggminvtransfn, 0)::regproc::text,
          'mstype', CASE WHEN a.aggmtranstype <> 0 THEN format_type(a.aggmtranstype, NULL) END, 'msspace', a.aggmtransspace,
          'mfinalfunc', NULLIF(a.aggmfinalfn, 0)::regproc::text, 'mfinalextra', a.aggmfinalextra, 'mfinalmodify', a.aggmfinalmodify,
          'initcond', a.agginitval, 'minitcond', a.aggminitval, 'sortop', CASE WHEN a.aggsortop <> 0 THEN a.aggsortop::regoperator::text END)
        FROM pg_aggregate a WHERE a.aggfnoid = p.oid) END AS agg
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ${USER_NS('n')} AND ${NOT_EXT('pg_proc', 'p.oid')}
      AND ${NOT_INTERNAL('pg_proc', 'p.oid')}`,
  sequences: `SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS ident, n.nspname AS schema, c.relname AS name, c.relpersistence,
      format_type(s.seqtypid, NULL) AS type, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
      pg_get_userbyid(c.relowner) AS owner, obj_description(c.oid, 'pg_class') AS comment, ${ACL('c.relacl')} AS acl,
      d.refobjid AS owned_table, a.attname AS owned_column, d.deptype
    FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
      LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    WHERE ${USER_NS('n')} AND ${NOT_EXT('pg_class', 'c.oid')}`,
  relations: `SELECT c.oid, c.relkind, format('%I.%I', n.nspname, c.relname) AS ident, n.nspname AS schema, c.relname AS name,
      c.relpersistence, c.relispartition, CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS bound,
      CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partkey,
      (SELECT array_agg(format('%I.%I', pn.nspname, pc.relname) ORDER BY i.inhseqno) FROM pg_inherits i
        JOIN pg_class pc ON pc.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE i.inhrelid = c.oid) AS parents,
      (SELECT array_agg(i.inhparent ORDER BY i.inhseqno) FROM pg_inherits i WHERE i.inhrelid = c.oid) AS parent_oids,
      NULLIF(concat_ws(', ', NULLIF(array_to_string(c.reloptions, ', '), ''),
        (SELECT string_agg('toast.' || x, ', ') FROM pg_class tc, unnest(tc.reloptions) x WHERE tc.oid = c.reltoastrelid)), '') AS options, CASE WHEN am.amname <> 'heap' THEN am.amname END AS am,
      c.relrowsecurity, c.relforcerowsecurity, c.relreplident, c.relispopulated,
      CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END AS viewdef, c.reloftype <> 0 AS typed, c.relpages,
      CASE WHEN c.reloftype <> 0 THEN format_type(c.reloftype, NULL) END AS oftype,
      CASE WHEN c.relkind = 'f' THEN (SELECT json_build_object('server', quote_ident(s.srvname), 'options', ${OPTIONS('ft.ftoptions')})
        FROM pg_foreign_table ft JOIN pg_foreign_server s ON s.oid = ft.ftserver WHERE ft.ftrelid = c.oid) END AS foreign,
      pg_get_userbyid(c.relowner) AS owner, obj_description(c.oid, 'pg_class') AS comment, ${ACL('c.relacl')} AS acl
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_am am ON am.oid = c.relam
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ${USER_NS('n')} AND ${NOT_EXT('pg_class', 'c.oid')}`,
  columns: `SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, a.attidentity, a.attgenerated,
      a.attislocal, pg_get_expr(d.adbin, d.adrelid) AS def, d.oid AS defoid,
      CASE WHEN a.attcollation <> t.typcollation THEN ${COLLATION('a.attcollation')} END AS collation,
      col_description(a.attrelid, a.attnum) AS comment, CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage END AS storage,
      a.attstattarget, a.attcompression, ${ACL('a.attacl')} AS acl, ${OPTIONS('a.attfdwoptions')} AS fdwoptions,
      array_to_string(a.attoptions, ', ') AS attoptions
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum`,
  constraints: `SELECT co.oid, co.conname, co.contype, co.conrelid, co.contypid, co.confrelid, co.conindid, co.conparentid, co.convalidated,
      co.conislocal, pg_get_constraintdef(co.oid) AS def, obj_description(co.oid, 'pg_constraint') AS comment
    FROM pg_constraint co WHERE co.conrelid = ANY($1::oid[]) OR co.contypid = ANY($2::oid[])`,
  indexes: `SELECT i.indexrelid AS oid, i.indrelid, format('%I.%I', n.nspname, ic.relname) AS ident, pg_get_indexdef(i.indexrelid) AS def,
      i.indisclustered, i.indisreplident, (SELECT inhparent FROM pg_inherits WHERE inhrelid = i.indexrelid) AS parent,
      EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x')) AS is_constraint,
      obj_description(i.indexrelid, 'pg_class') AS comment
    FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace WHERE i.indrelid = ANY($1::oid[])`,
  triggers: `SELECT t.oid, t.tgrelid, t.tgname, pg_get_triggerdef(t.oid) AS def, t.tgenabled, obj_description(t.oid, 'pg_trigger') AS comment
    FROM pg_trigger t WHERE t.tgrelid = ANY($1::oid[]) AND NOT t.tgisinternal AND t.tgparentid = 0`,
  rules: `SELECT r.oid, r.ev_class, r.rulename, pg_get_ruledef(r.oid) AS def, r.ev_enabled, obj_description(r.oid, 'pg_rewrite') AS comment
    FROM pg_rewrite r WHERE r.ev_class = ANY($1::oid[]) AND r.rulename <> '_RETURN'`,
  policies: `SELECT p.oid, p.polrelid, p.polname, p.polpermissive, p.polcmd,
      CASE WHEN p.polroles = '{0}' THEN 'PUBLIC' ELSE (SELECT string_agg(quote_ident(rolname), ', ' ORDER BY rolname) FROM pg_roles WHERE oid = ANY(p.polroles)) END AS roles,
      pg_get_expr(p.polqual, p.polrelid) AS qual, pg_get_expr(p.polwithcheck, p.polrelid) AS withcheck, obj_description(p.oid, 'pg_policy') AS comment
    FROM pg_policy p WHERE p.polrelid = ANY($1::oid[])`,
  statistics: `SELECT s.oid, s.stxrelid, format('%I.%I', n.nspname, s.stxname) AS ident, pg_get_statisticsobjdef(s.oid) AS def,
      pg_get_userbyid(s.stxowner) AS owner, obj_description(s.oid, 'pg_statistic_ext') AS comment, (to_jsonb(s) ->> 'stxstattarget')::int AS stattarget
    FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace WHERE s.stxrelid = ANY($1::oid[])`,
  depends: `SELECT classid, objid, refclassid, refobjid, deptype FROM pg_depend
    WHERE deptype IN ('n', 'a', 'i', 'e', 'P', 'S') AND refobjid >= 16384`,
  /** An array type's element is found through typelem (indexed), never by scanning for typarray. */
  typeAliases: `SELECT t.oid, coalesce(CASE WHEN e.typarray = t.oid THEN e.oid END,
        (SELECT rngtypid FROM pg_range WHERE rngmultitypid = t.oid), NULLIF(t.typrelid, 0)) AS target,
      CASE WHEN t.typtype = 'c' THEN 'class' ELSE 'type' END AS via
    FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem AND e.typarray = t.oid
    WHERE t.oid >= 16384 AND (e.oid IS NOT NULL OR t.typtype IN ('m', 'c'))`,
  classIds: `SELECT json_object_agg(relname, oid) AS ids FROM pg_class WHERE relnamespace = 'pg_catalog'::regnamespace
    AND relname IN ('pg_class', 'pg_type', 'pg_proc', 'pg_namespace', 'pg_constraint', 'pg_attrdef', 'pg_rewrite', 'pg_trigger',
      'pg_extension', 'pg_policy', 'pg_statistic_ext', 'pg_collation', 'pg_ts_dict', 'pg_ts_config', 'pg_operator', 'pg_opfamily', 'pg_opclass',
      'pg_cast', 'pg_event_trigger', 'pg_foreign_data_wrapper', 'pg_foreign_server', 'pg_user_mapping', 'pg_ts_parser', 'pg_ts_template', 'pg_publication', 'pg_publication_rel', 'pg_publication_namespace', 'pg_default_acl', 'pg_amop', 'pg_amproc',
      'pg_subscription', 'pg_conversion', 'pg_language', 'pg_am', 'pg_transform')`,
};

/** An object dbbackup cannot reproduce: it becomes a TOC item the restore skips, with what depends on it. */
export interface UnsupportedRow {
  catalog: string;
  oid: number;
  /** As pg_identify_object names them: `subscription`, with the name qualified. */
  kind: string;
  name: string;
  reason: string;
}

const IDENTIFY = (catalog: string, oid: string) =>
  `'${catalog}' AS catalog, ${oid} AS oid, (pg_identify_object('${catalog}'::regclass, ${oid}, 0)).type AS kind, (pg_identify_object('${catalog}'::regclass, ${oid}, 0)).identity AS name`;

/** Objects dbbackup cannot reproduce: subscriptions, when the backup role may not read their connection (superusers only). */
const UNSUPPORTED = `
  SELECT ${IDENTIFY('pg_subscription', 'x.oid')}, 'the backup role is not a superuser, so it could not read the subscription''s connection' AS reason
    FROM pg_subscription x WHERE x.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)`;

/**
 * Reads everything a schema dump needs; runs inside the caller's (snapshot) transaction. The
 * queries are pipelined (postgres-pipelined.ts): those that need nothing from another start
 * together, those that need the relations' oids once these are in: three round trips instead of
 * about fifty. With no relation (an empty database) the per-relation queries are not sent at all.
 */
export function readCatalogRows(client: pg.Client): Promise<CatalogRows> {
  return pipelined(client, async () => {
    const rows = async <T>(sql: string, params: unknown[] = []): Promise<T[]> => (await client.query(sql, params)).rows as T[];
    const perRelation = async <T>(sql: string, oids: number[], more: unknown[] = []): Promise<T[]> => (oids.length === 0 && more.every((m) => (m as unknown[]).length === 0) ? [] : rows<T>(sql, [oids, ...more]));
    const first = allOf({
      schemas: rows<SchemaRow>(Q.schemas),
      extensions: rows<ExtensionRow>(Q.extensions),
      types: rows<TypeRow>(Q.types),
      functions: rows<FunctionRow>(Q.functions),
      sequences: rows<SequenceRow>(Q.sequences),
      relations: rows<RelationRow>(Q.relations),
      depends: rows<DependRow>(Q.depends),
      typeAliases: rows<{ oid: number; target: number; via: 'type' | 'class' }>(Q.typeAliases),
      unsupported: rows<UnsupportedRow>(UNSUPPORTED),
      kinds: readKindRows(client),
      classIds: rows<{ ids: Record<string, number> }>(Q.classIds).then((r) => r[0]!.ids),
      foreign: readForeignRows(client),
      extConfig: readExtConfig(client),
      objects: rows<{ v: string }>(`SELECT current_setting('server_version_num') AS v`).then((r) => readCatalogObjects(client, Number(r[0]!.v))),
    });
    const got = await first;
    const relOids = got.relations.map((r) => r.oid);
    const typeOids = got.types.map((t) => t.oid);
    return {
      ...got,
      ...(await allOf({
        columns: perRelation<ColumnRow>(Q.columns, relOids),
        constraints: perRelation<ConstraintRow>(Q.constraints, relOids, [typeOids]),
        indexes: perRelation<IndexRow>(Q.indexes, relOids),
        triggers: perRelation<TriggerRow>(Q.triggers, relOids),
        rules: perRelation<RuleRow>(Q.rules, relOids),
        policies: perRelation<PolicyRow>(Q.policies, relOids),
        statistics: perRelation<StatisticsRow>(Q.statistics, relOids),
      })),
    };
  });
}
