import type { LargeObjectRow } from './postgres-catalog-objects.js';
import { aclSql, comment } from './postgres-ddl.js';
import type { TocItem } from './postgres-toc.js';

/** Large objects' metadata as pre-data items, in batches (their bytes: postgres-blobs). */
const BATCH = 1000;

type NewItem = Omit<TocItem, 'id' | 'deps' | 'tables'> & { tables?: string[] };

export function buildLargeObjectItems(rows: LargeObjectRow[], add: (item: NewItem) => TocItem): void {
  for (let i = 0; i < rows.length; i += BATCH) {
    const batch = rows.slice(i, i + BATCH);
    const list = `'{${batch.map((r) => r.oid).join(',')}}'::pg_catalog.oid[]`;
    const comments = batch.map((r) => comment(`LARGE OBJECT ${r.oid}`, r.comment)).join('');
    const acl = batch.map((r) => aclSql('LARGE OBJECT', String(r.oid), r.owner, r.acl)).filter(Boolean).join('\n');
    add({
      kind: 'large-objects', section: 'pre-data', schema: null, name: `large objects ${batch[0]!.oid}..${batch[batch.length - 1]!.oid}`,
      sql: `SELECT pg_catalog.lo_create(o) FROM pg_catalog.unnest(${list}) o;${comments}`,
      owner: batch.map((r) => `ALTER LARGE OBJECT ${r.oid} OWNER TO ${quote(r.owner)};`).join('\n'),
      acl: acl || undefined,
      drop: `SELECT pg_catalog.lo_unlink(m.oid) FROM pg_catalog.pg_largeobject_metadata m WHERE m.oid = ANY (${list});`,
    });
  }
}

function quote(role: string): string {
  return `"${role.replace(/"/g, '""')}"`;
}
