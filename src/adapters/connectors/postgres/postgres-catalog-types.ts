/**
 * Row types of the catalog queries (postgres-catalog.ts), shared by the readers and the SQL
 * builders. Imports nothing, so any file of the connector may take them.
 */
export interface AclEntry {
  g: string;
  p: string;
  o: boolean;
}

interface Owned {
  owner: string;
  comment: string | null;
  acl: AclEntry[] | null;
}

export interface SchemaRow extends Owned {
  oid: number;
  name: string;
}
export interface ExtensionRow {
  oid: number;
  name: string;
  schema: string;
  comment: string | null;
  has_config: boolean;
}
export interface TypeRow extends Owned {
  oid: number;
  typtype: 'e' | 'd' | 'r' | 'c';
  ident: string;
  schema: string;
  typrelid: number;
  labels: string[] | null;
  basetype: string | null;
  typnotnull: boolean;
  typdefault: string | null;
  collation: string | null;
  subtype: string | null;
  opclass: string | null;
  rngcollation: string | null;
  canonical: string | null;
  subdiff: string | null;
  multirange: string | null;
  multirange_oid: number | null;
  attrs: string[] | null;
  /** Composite types: comments on their attributes (COMMENT ON COLUMN type.attr). */
  attr_comments: { name: string; comment: string }[] | null;
}
export interface FunctionRow extends Owned {
  oid: number;
  prokind: 'f' | 'p' | 'a' | 'w';
  ident: string;
  qname: string;
  schema: string;
  def: string | null;
  args: string;
  proparallel: string;
  agg: Record<string, string | number | boolean | null> | null;
}
export interface SequenceRow extends Owned {
  oid: number;
  ident: string;
  schema: string;
  name: string;
  relpersistence: string;
  type: string;
  seqstart: string;
  seqincrement: string;
  seqmin: string;
  seqmax: string;
  seqcache: string;
  seqcycle: boolean;
  owned_table: number | null;
  owned_column: string | null;
  deptype: string | null;
}
export interface RelationRow extends Owned {
  oid: number;
  relkind: 'r' | 'p' | 'v' | 'm' | 'f';
  ident: string;
  schema: string;
  name: string;
  relpersistence: string;
  relispartition: boolean;
  bound: string | null;
  partkey: string | null;
  parents: string[] | null;
  parent_oids: number[] | null;
  options: string | null;
  am: string | null;
  relrowsecurity: boolean;
  relforcerowsecurity: boolean;
  relreplident: string;
  relispopulated: boolean;
  viewdef: string | null;
  typed: boolean;
  relpages: number;
  /** Typed tables (CREATE TABLE … OF type): the type. */
  oftype: string | null;
  /** Foreign tables: the server (quoted) and the table's options (`k 'v', …`). */
  foreign: { server: string; options: string | null } | null;
}
export interface ColumnRow {
  attrelid: number;
  attnum: number;
  attname: string;
  type: string;
  attnotnull: boolean;
  attidentity: string;
  attgenerated: string;
  attislocal: boolean;
  def: string | null;
  /** pg_attrdef row of the default (or generation expression). */
  defoid: number | null;
  collation: string | null;
  comment: string | null;
  storage: string | null;
  attstattarget: number;
  attcompression: string;
  acl: AclEntry[] | null;
  /** Foreign table column options (`k 'v', …`). */
  fdwoptions: string | null;
  /** Attribute options (n_distinct …) as `k=v, …`. */
  attoptions: string | null;
}
export interface ConstraintRow {
  oid: number;
  conname: string;
  contype: string;
  conrelid: number;
  contypid: number;
  confrelid: number;
  conindid: number;
  conparentid: number;
  convalidated: boolean;
  conislocal: boolean;
  def: string;
  comment: string | null;
}
export interface IndexRow {
  oid: number;
  indrelid: number;
  ident: string;
  def: string;
  indisclustered: boolean;
  indisreplident: boolean;
  parent: number | null;
  is_constraint: boolean;
  comment: string | null;
}
export interface TriggerRow {
  oid: number;
  tgrelid: number;
  tgname: string;
  def: string;
  tgenabled: string;
  comment: string | null;
}
export interface RuleRow {
  oid: number;
  ev_class: number;
  rulename: string;
  def: string;
  ev_enabled: string;
  comment: string | null;
}
export interface PolicyRow {
  oid: number;
  polrelid: number;
  polname: string;
  polpermissive: boolean;
  polcmd: string;
  roles: string;
  qual: string | null;
  withcheck: string | null;
  comment: string | null;
}
export interface StatisticsRow {
  oid: number;
  stxrelid: number;
  ident: string;
  def: string;
  owner: string;
  comment: string | null;
  /** ALTER STATISTICS … SET STATISTICS (-1 or null: the default). */
  stattarget: number | null;
}
export interface DependRow {
  classid: number;
  objid: number;
  refclassid: number;
  refobjid: number;
  deptype: string;
}
