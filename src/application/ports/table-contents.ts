import type { PartSource } from './parts.js';

/** One table's fingerprint: its row count and a hash of its rows' contents, whatever their order. */
export interface TableDigest {
  /** As the engine names it within the target (`public.t`; MySQL: `t` when the target is one database, else `app.t`). */
  table: string;
  rows: number;
  /** Hex; equal for two tables of one engine holding the same rows (in any order), else different. */
  hash: string;
  /**
   * With `recorded` given, for engines whose backups record what they read page by page (SQLite's
   * page map): a hash of this table's pages in the database read, and the same hash of the entries
   * the backup recorded for those pages; equal when the table holds the pages the backup read.
   */
  pagesHash?: string;
  recordedPagesHash?: string;
}

/** The parts of the backup a database was restored from (`verify --deep`), and of its chain's full. */
export interface RecordedParts {
  backup: PartSource;
  full?: PartSource;
}

/** Reads a database's tables to fingerprint them (`compare`, `verify --deep`). */
export interface TableContents {
  /**
   * Every user table (or the chosen ones; an unknown name fails E_USAGE), streamed row by row in
   * constant memory; the hash is canonical for the engine, so that two databases of one engine compare.
   * With `recorded` (asked only by engines that use it), also each table's pagesHash and recordedPagesHash.
   */
  digest(filter: { tables?: string[]; recorded?: () => Promise<RecordedParts> }, signal: AbortSignal): Promise<TableDigest[]>;
}
