import type pg from 'pg';

/**
 * Large objects are not carried by logical decoding (pg_largeobject is a catalog). So that a
 * change to them is reported, never silently dropped, a full with capture records a digest of
 * them, and each incremental compares the database's digest with the full's (carried along the
 * chain unchanged): while they differ, every incremental warns that a restore of the chain has
 * the large objects as of the full.
 *
 * The digest covers each object's oid, owner and, where the role may read pg_largeobject (a
 * superuser), each page's number and row version (xmin), so that a rewrite of any page shows.
 * Read in the caller's transaction (a snapshot's view when it imported one).
 */
export async function largeObjectsDigest(sql: pg.Client): Promise<string> {
  const meta = (await sql.query(`SELECT md5(coalesce(string_agg(oid::text || ':' || lomowner::text, ',' ORDER BY oid), '')) AS d FROM pg_catalog.pg_largeobject_metadata`)).rows[0] as { d: string };
  const readable = ((await sql.query(`SELECT pg_catalog.has_table_privilege('pg_catalog.pg_largeobject', 'SELECT') AS ok`)).rows[0] as { ok: boolean }).ok;
  const pages = readable
    ? ((await sql.query(`SELECT md5(coalesce(string_agg(loid::text || ':' || pageno::text || ':' || xmin::text, ',' ORDER BY loid, pageno), '')) AS d FROM pg_catalog.pg_largeobject`)).rows[0] as { d: string }).d
    : 'unreadable';
  return `${meta.d}/${pages}`;
}

/** The warning of an incremental whose large objects differ from its full's. */
export function largeObjectsWarning(): string {
  return 'Large objects were created, changed or deleted since the full backup: change capture does not carry them, so a restore of this chain has them as of the full. Take a full backup to capture them.';
}
