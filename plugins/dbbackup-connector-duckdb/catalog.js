/**
 * What a DuckDB database holds, as the backup records it (manifest engineInfo) and restores it:
 * schemas, enum types, tables (with their columns and DDL), views and indexes.
 */

/** `"name"` with inner quotes doubled. */
export const quote = (name) => `"${String(name).replace(/"/g, '""')}"`;

/** The name an object has in manifests and `--tables`: bare in `main`, `schema.name` elsewhere. */
export const objectName = (schema, name) => (schema === 'main' ? name : `${schema}.${name}`);

/** `schema.table` quoted for SQL. */
export const qualified = (o) => `${quote(o.schema)}.${quote(o.table)}`;

async function rows(conn, sql) {
  return (await conn.runAndReadAll(sql)).getRowObjectsJson();
}

/**
 * The user objects of the open database, in creation order. Column types and enum values come
 * from DuckDB's own catalog functions, so the DDL is DuckDB's (`duckdb_tables().sql`).
 */
export async function readCatalog(conn) {
  const db = "database_name = current_database() AND NOT internal AND NOT temporary";
  const tables = await rows(conn, `SELECT schema_name, table_name, sql, table_oid FROM duckdb_tables() WHERE ${db} ORDER BY table_oid`);
  const columns = await rows(conn, `SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() AND NOT internal ORDER BY table_oid, column_index`);
  const views = await rows(conn, `SELECT schema_name, view_name, sql FROM duckdb_views() WHERE ${db} ORDER BY view_oid`);
  const indexes = await rows(conn, `SELECT schema_name, table_name, sql FROM duckdb_indexes() WHERE database_name = current_database() AND sql IS NOT NULL`);
  const enums = await rows(conn, `SELECT schema_name, type_name FROM duckdb_types() WHERE database_name = current_database() AND NOT internal AND logical_type = 'ENUM'`);
  const schemas = await rows(conn, `SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database() AND NOT internal AND schema_name <> 'main'`);
  const types = [];
  for (const e of enums) {
    const [{ v }] = await rows(conn, `SELECT enum_range(NULL::${quote(e.schema_name)}.${quote(e.type_name)})::VARCHAR[] AS v`);
    types.push({ name: objectName(e.schema_name, e.type_name), sql: `CREATE TYPE ${quote(e.schema_name)}.${quote(e.type_name)} AS ENUM (${v.map((s) => `'${s.replace(/'/g, "''")}'`).join(', ')});` });
  }
  return {
    schemas: schemas.map((s) => s.schema_name),
    types,
    objects: [
      ...tables.map((t) => ({
        name: objectName(t.schema_name, t.table_name),
        type: 'table',
        schema: t.schema_name,
        table: t.table_name,
        sql: t.sql,
        columns: columns.filter((c) => c.schema_name === t.schema_name && c.table_name === t.table_name).map((c) => ({ name: c.column_name, type: c.data_type })),
        indexes: indexes.filter((i) => i.schema_name === t.schema_name && i.table_name === t.table_name).map((i) => `${i.sql.replace(/;?\s*$/, '')};`),
      })),
      ...views.map((v) => ({ name: objectName(v.schema_name, v.view_name), type: 'view', schema: v.schema_name, table: v.view_name, sql: v.sql })),
    ],
  };
}

/** The objects `filter` picks (all when none); names that match nothing throw E_USAGE. */
export function selectObjects(objects, filter, host, where) {
  const matches = (pattern, o) => pattern === o.name || pattern === `${o.schema}.${o.table}`;
  const unknown = [...(filter.tables ?? []), ...(filter.excludeTables ?? [])].filter((p) => !objects.some((o) => matches(p, o)));
  if (unknown.length) {
    throw new host.DbBackupError('E_USAGE', `${where} has no table or view ${unknown.map((u) => `"${u}"`).join(', ')}; it has: ${objects.map((o) => o.name).join(', ')}.`);
  }
  return objects.filter((o) => (!filter.tables || filter.tables.some((p) => matches(p, o))) && !(filter.excludeTables ?? []).some((p) => matches(p, o)));
}

/** The schema part: DDL that the duckdb shell runs as is (data parts are loaded separately). */
export function schemaScript(catalog, chosen) {
  const tables = chosen.filter((o) => o.type === 'table');
  return [
    '-- dbbackup: DuckDB schema',
    ...catalog.schemas.map((s) => `CREATE SCHEMA IF NOT EXISTS ${quote(s)};`),
    ...catalog.types.map((t) => t.sql),
    ...tables.map((t) => `${t.sql.replace(/;?\s*$/, '')};`),
    ...chosen.filter((o) => o.type === 'view').map((v) => `${v.sql.replace(/;?\s*$/, '')};`),
    ...tables.flatMap((t) => t.indexes),
    '',
  ].join('\n');
}
