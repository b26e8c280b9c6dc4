import type { TableContents, TableDigest } from '../../../application/ports/table-contents.js';
import { chooseTables, RowDigest, rowText } from '../table-digest.js';
import { openSource } from './sqlite-file.js';
import { isVirtual, quoteIdent, schemaRows } from './sqlite-schema.js';

/**
 * SQLite tables' digests, read in one read transaction. Virtual tables are left out: their rows
 * live in their shadow tables (plain tables, digested), and a module this build lacks could not
 * read them anyway. INTEGER values are read as exact integers, REAL as doubles.
 */
export class SqliteContents implements TableContents {
  constructor(private readonly path: string) {}

  async digest(filter: { tables?: string[] }, signal: AbortSignal): Promise<TableDigest[]> {
    const db = await openSource(this.path);
    try {
      db.exec('BEGIN');
      const tables = schemaRows(db)
        .filter((r) => r.type === 'table' && !r.name.startsWith('sqlite_') && !isVirtual(r))
        .map((r) => r.name);
      const out: TableDigest[] = [];
      for (const table of chooseTables(tables, filter.tables, this.path)) {
        const digest = new RowDigest();
        for (const row of db.prepare(`SELECT * FROM ${quoteIdent(table)}`).raw(true).safeIntegers(true).iterate() as Iterable<unknown[]>) {
          digest.add(rowText(row));
          if (digest.rows % 10_000 === 0) signal.throwIfAborted();
        }
        out.push({ table, rows: digest.rows, hash: digest.hash });
      }
      db.exec('COMMIT');
      return out;
    } finally {
      db.close();
    }
  }
}
