/** One table's fingerprint: its row count and a hash of its rows' contents, whatever their order. */
export interface TableDigest {
  /** As the engine names it within the target (`public.t`; MySQL: `t` when the target is one database, else `app.t`). */
  table: string;
  rows: number;
  /** Hex; equal for two tables of one engine holding the same rows (in any order), else different. */
  hash: string;
  /** With `pages` asked, for engines whose backups record ObjectEntry.pagesHash (SQLite): the same hash of this table's pages. */
  pagesHash?: string;
}

/** Reads a database's tables to fingerprint them (`compare`, `verify --deep`). */
export interface TableContents {
  /**
   * Every user table (or the chosen ones; an unknown name fails E_USAGE), streamed row by row in
   * constant memory; the hash is canonical for the engine, so that two databases of one engine compare.
   * With `pages`, also each table's pagesHash where the engine has one (`verify --deep`).
   */
  digest(filter: { tables?: string[]; pages?: boolean }, signal: AbortSignal): Promise<TableDigest[]>;
}
