import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { RecordedParts, TableContents, TableDigest } from '../../../application/ports/table-contents.js';
import { DbBackupError } from '../../../domain/errors.js';
import { makeScratchDir } from '../../../infrastructure/scratch.js';
import { chooseTables, RowDigest, rowText } from '../table-digest.js';
import { openSource } from './sqlite-file.js';
import { isVirtual, quoteIdent, schemaRows } from './sqlite-schema.js';
import { recordedMap } from './sqlite-changes.js';
import { TablePagesDigest, tablePagesFromMap } from './sqlite-table-pages.js';

/**
 * SQLite tables' digests, read in one read transaction. Virtual tables are left out: their rows
 * live in their shadow tables (plain tables, digested), and a module this build lacks could not
 * read them anyway. INTEGER values are read as exact integers, REAL as doubles.
 */
export class SqliteContents implements TableContents {
  constructor(private readonly path: string) {}

  /**
   * With `recorded` (verify --deep), each table's pagesHash of this file's bytes and the same hash
   * of the page map the backup recorded (sqlite-table-pages.ts); none when it recorded no map
   * (--tables backups, older ones: counts and row hashes only). For a private file only (the
   * scratch), since closing the descriptor that reads its bytes drops this process's SQLite locks on it.
   */
  async digest(filter: { tables?: string[]; recorded?: () => Promise<RecordedParts> }, signal: AbortSignal): Promise<TableDigest[]> {
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
      const pages = filter.recorded ? await this.pagesHashes(db, out.map((d) => d.table), await filter.recorded(), signal) : undefined;
      db.exec('COMMIT');
      return pages ? out.map((d) => ({ ...d, ...pages.get(d.table) })) : out;
    } finally {
      db.close();
    }
  }

  /** Each table's hashes of this file's pages and of the recorded map's entries, both grouped by this file's dbstat. */
  private async pagesHashes(
    db: Awaited<ReturnType<typeof openSource>>,
    tables: string[],
    parts: RecordedParts,
    signal: AbortSignal,
  ): Promise<Map<string, { pagesHash: string; recordedPagesHash: string }> | undefined> {
    const dir = await makeScratchDir('dbbackup-sqlite-verify-');
    try {
      const map = await recordedMap(parts.backup, parts.full, dir);
      if (!map) return undefined;
      const pageSize = Number(db.pragma('page_size', { simple: true }));
      const pageCount = Number(db.pragma('page_count', { simple: true }));
      if (map.pageSize !== pageSize || map.pageCount !== pageCount) {
        throw new DbBackupError(
          'E_DIFFERENT',
          `Backup ${parts.backup.manifest.id} restored into a scratch database does not hold what it recorded: ${pageCount} pages of ${pageSize} bytes, not the ${map.pageCount} of ${map.pageSize} bytes it read.`,
        );
      }
      const recorded = await tablePagesFromMap(db, tables, map, signal);
      const actual = recorded && (await this.filePagesHashes(db, tables, pageSize, pageCount, signal, map.key));
      if (!recorded || !actual) return undefined;
      return new Map(tables.map((t) => [t, { pagesHash: actual.get(t)!, recordedPagesHash: recorded.get(t)! }]));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async filePagesHashes(db: Awaited<ReturnType<typeof openSource>>, tables: string[], pageSize: number, pageCount: number, signal: AbortSignal, key?: Buffer): Promise<Map<string, string> | undefined> {
    const digest = TablePagesDigest.open(db, tables, pageSize, key);
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
