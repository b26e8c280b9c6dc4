/**
 * SQL fragments the catalog queries share (postgres-catalog, -catalog-objects, -foreign).
 */

/** Objects outside the system schemas. */
export const USER_NS = (n: string) => `${n}.nspname <> 'information_schema' AND ${n}.nspname !~ '^pg_'`;

/** Not a member of an extension (the extension recreates its members). */
export const NOT_EXT = (catalog: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '${catalog}'::regclass AND e.objid = ${oid} AND e.deptype = 'e')`;

/** Objects the server made as part of another (a range type's constructors and casts). */
export const NOT_INTERNAL = (catalog: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend i WHERE i.classid = '${catalog}'::regclass AND i.objid = ${oid} AND i.deptype = 'i')`;

/** An ACL column as JSON AclEntry rows (grantee, privilege, grantable); NULL for the default ACL. */
export const ACL = (col: string) =>
  `CASE WHEN ${col} IS NULL THEN NULL ELSE coalesce((SELECT json_agg(json_build_object('g', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ` +
  `ELSE quote_ident(pg_get_userbyid(a.grantee)) END, 'p', a.privilege_type, 'o', a.is_grantable)) FROM aclexplode(${col}) a), '[]'::json) END`;
