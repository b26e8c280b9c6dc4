/** One table's fingerprint: its row count and a hash of its rows' contents, whatever their order. */
export interface TableDigest {
  /** As the engine names it within the target (`public.t`; MySQL: `t` when the target is one database, else `app.t`). */
  table: string;
  rows: number;
  /** Hex; equal for two tables of one engine holding the same rows (in any order), else different. */
  hash: string;
}

/** Reads a database's tables to fingerprint them (`compare`, `verify --deep`). */
export interface TableContents {
  /**
   * Every user table (or the chosen ones; an unknown name fails E_USAGE), streamed row by row in
   * constant memory; the hash is canonical for the engine, so that two databases of one engine compare.
   */
  digest(filter: { tables?: string[] }, signal: AbortSignal): Promise<TableDigest[]>;
}
