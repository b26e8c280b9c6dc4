import type pg from 'pg';

/** Extension configuration tables and their dump filters (pg_extension_config_dump); see postgres-extconfig. */
export interface ExtConfigRow {
  oid: number;
  relkind: string;
  ext: number;
  extension: string;
  ident: string;
  schema: string;
  name: string;
  cond: string | null;
  relpages: number;
  columns: string[] | null;
}

export async function readExtConfig(client: pg.Client): Promise<ExtConfigRow[]> {
  return (
    await client.query(`SELECT c.oid, c.relkind, x.oid AS ext, x.extname AS extension, format('%I.%I', n.nspname, c.relname) AS ident,
        n.nspname AS schema, c.relname AS name, u.cond, c.relpages,
        (SELECT array_agg(quote_ident(a.attname) ORDER BY a.attnum) FROM pg_attribute a
          WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS columns
      FROM pg_extension x CROSS JOIN LATERAL unnest(x.extconfig, x.extcondition) AS u(reloid, cond)
        JOIN pg_class c ON c.oid = u.reloid JOIN pg_namespace n ON n.oid = c.relnamespace
      ORDER BY 1`)
  ).rows as ExtConfigRow[];
}
