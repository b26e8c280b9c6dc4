import type pg from 'pg';
import { ACL, NOT_EXT } from './postgres-sql.js';
import type { AclEntry } from './postgres-catalog-types.js';
import { allOf } from './postgres-pipelined.js';

/** Catalog queries for foreign data (wrappers, servers, user mappings); their items are built in postgres-foreign. */
/** `k 'v', …` from an options array, as OPTIONS ( … ) takes it. */
export const OPTIONS = (col: string) => `(SELECT string_agg(format('%I %L', o.option_name, o.option_value), ', ') FROM pg_options_to_table(${col}) o)`;

interface FdwRow {
  oid: number;
  name: string;
  handler: string | null;
  validator: string | null;
  options: string | null;
  owner: string;
  acl: AclEntry[] | null;
  comment: string | null;
}
interface ServerRow {
  oid: number;
  name: string;
  fdw: string;
  type: string | null;
  version: string | null;
  options: string | null;
  owner: string;
  acl: AclEntry[] | null;
  comment: string | null;
}
interface UserMappingRow {
  oid: number;
  role: string;
  server: string;
  options: string | null;
}
export interface ForeignRows {
  wrappers: FdwRow[];
  servers: ServerRow[];
  userMappings: UserMappingRow[];
  /** User mappings whose options the dumping role may not read (pg_user_mappings shows NULL). */
  hiddenMappings: number;
}

/** Runs inside the caller's (snapshot) transaction, its queries started together (pipelined by the caller). */
export function readForeignRows(client: pg.Client): Promise<ForeignRows> {
  const rows = async <T>(sql: string): Promise<T[]> => (await client.query(sql)).rows as T[];
  return allOf<ForeignRows>({
    wrappers: rows(`SELECT w.oid, w.fdwname AS name, NULLIF(w.fdwhandler, 0)::regproc::text AS handler, NULLIF(w.fdwvalidator, 0)::regproc::text AS validator,
        ${OPTIONS('w.fdwoptions')} AS options, pg_get_userbyid(w.fdwowner) AS owner, ${ACL('w.fdwacl')} AS acl,
        obj_description(w.oid, 'pg_foreign_data_wrapper') AS comment
      FROM pg_foreign_data_wrapper w WHERE ${NOT_EXT('pg_foreign_data_wrapper', 'w.oid')}`),
    servers: rows(`SELECT s.oid, s.srvname AS name, w.fdwname AS fdw, s.srvtype AS type, s.srvversion AS version, ${OPTIONS('s.srvoptions')} AS options,
        pg_get_userbyid(s.srvowner) AS owner, ${ACL('s.srvacl')} AS acl, obj_description(s.oid, 'pg_foreign_server') AS comment
      FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw WHERE ${NOT_EXT('pg_foreign_server', 's.oid')}`),
    userMappings: rows(`SELECT u.umid AS oid, CASE WHEN u.umuser = 0 THEN 'PUBLIC' ELSE quote_ident(u.usename) END AS role, u.srvname AS server,
        ${OPTIONS('u.umoptions')} AS options FROM pg_user_mappings u
      WHERE ${NOT_EXT('pg_foreign_server', 'u.srvid')}`),
    hiddenMappings: rows<{ n: number }>(`SELECT count(*)::int AS n FROM pg_user_mapping m JOIN pg_foreign_server s ON s.oid = m.umserver
        WHERE NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AND NOT pg_has_role(s.srvowner, 'USAGE')
          AND NOT (m.umuser = (SELECT oid FROM pg_roles WHERE rolname = current_user) AND has_server_privilege(s.oid, 'USAGE'))`).then((r) => r[0]!.n),
  });
}
