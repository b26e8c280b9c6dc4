import { createReadStream } from 'node:fs';
import type { TableContents, TableDigest } from '../../../application/ports/table-contents.js';
import { chooseTables, RowDigest, rowText } from '../table-digest.js';
import { openSource } from './sqlite-file.js';
import { isVirtual, quoteIdent, schemaRows } from './sqlite-schema.js';
import { TablePagesDigest } from './sqlite-table-pages.js';

/**
 * SQLite tables' digests, read in one read transaction. Virtual tables are left out: their rows
 * live in their shadow tables (plain tables, digested), and a module this build lacks could not
 * read them anyway. INTEGER values are read as exact integers, REAL as doubles.
 */
export class SqliteContents implements TableContents {
  constructor(private readonly path: string) {}

  /**
   * With `pages`, each table's pagesHash too (sqlite-table-pages.ts), from the file's bytes: for a
   * private file only (verify --deep's scratch), since closing the descriptor that reads them drops
   * this process's SQLite locks on the file.
   */
  async digest(filter: { tables?: string[]; pages?: boolean }, signal: AbortSignal): Promise<TableDigest[]> {
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
      const pages = filter.pages ? await this.pagesHashes(db, out.map((d) => d.table), signal) : undefined;
      db.exec('COMMIT');
      return pages ? out.map((d) => (pages.has(d.table) ? { ...d, pagesHash: pages.get(d.table)! } : d)) : out;
    } finally {
      db.close();
    }
  }

  private async pagesHashes(db: Awaited<ReturnType<typeof openSource>>, tables: string[], signal: AbortSignal): Promise<Map<string, string> | undefined> {
    const pageSize = Number(db.pragma('page_size', { simple: true }));
    const pageCount = Number(db.pragma('page_count', { simple: true }));
    const digest = TablePagesDigest.open(db, tables, pageSize);
    if (!digest) return undefined;
    try {
      if (pageCount === 0) return digest.finish();
      for await (const chunk of createReadStream(this.path, { highWaterMark: 1 << 20, end: pageCount * pageSize - 1 })) {
        signal.throwIfAborted();
        digest.push(chunk as Buffer);
      }
      return digest.finish();
    } finally {
      digest.close();
    }
  }
}
