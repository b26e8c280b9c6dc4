import type { ExtConfigRow } from './postgres-catalog-extconfig.js';
import type { DataTable } from './postgres-schema-model.js';
import type { TocItem } from './postgres-toc.js';

/**
 * Extension configuration tables (pg_extension_config_dump): CREATE EXTENSION makes them, but
 * their rows are the user's (pg_partman's part_config, say), so pg_dump dumps them. A table
 * marked with no filter is dumped whole, as a data item that COPYs into the table the extension
 * made. One with a filter (the extension ships rows of its own, as postgis's spatial_ref_sys does)
 * is dumped through its filter, as pg_dump does, and its rows are added to the ones CREATE
 * EXTENSION puts there. A configuration sequence gets its value restored.
 */

type NewItem = Omit<TocItem, 'id' | 'deps' | 'tables'> & { tables?: string[] };

export interface ExtConfigData {
  tables: DataTable[];
  sequences: { oid: number; ident: string; itemId: number }[];
  warnings: string[];
}

export function buildExtConfigItems(rows: ExtConfigRow[], add: (item: NewItem) => TocItem, extensionItem: (oid: number) => number | undefined): ExtConfigData {
  const out: ExtConfigData = { tables: [], sequences: [], warnings: [] };
  for (const r of rows) {
    const ext = extensionItem(r.ext);
    if (ext === undefined) continue;
    if (r.relkind === 'S') {
      out.sequences.push({ oid: r.oid, ident: r.ident, itemId: ext });
      continue;
    }
    if (r.relkind !== 'r') continue;
    const object = `${r.schema}.${r.name}`;
    const filter = r.cond?.trim() || undefined;
    const columns = r.columns ?? [];
    const item = add({
      kind: 'table', section: 'pre-data', schema: r.schema, name: object, tables: [object],
      sql: `-- ${object} is made by extension ${r.extension}; only its rows${filter ? ` (${filter.replace(/\s+/g, ' ')})` : ''} are restored`,
      copy: { object, ident: r.ident, columns, ...(filter ? { append: true } : {}) },
    });
    item.deps.push(ext);
    out.tables.push({ itemId: item.id, oid: r.oid, object, ident: r.ident, columns, relpages: r.relpages, ...(filter ? { filter } : {}) });
  }
  return out;
}
