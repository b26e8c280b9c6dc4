/** What a restore should do; names are engine-qualified as in ObjectEntry.name. */
export interface RestoreRequest {
  /** Only these objects (engine-qualified); all when undefined. */
  tables?: string[];
  /** Replace what exists in the target instead of refusing. */
  clean: boolean;
  /** Leave these objects out (engine-qualified). */
  excludeTables?: string[];
  /** Only objects in these schemas (engines with schemas), with what they need. */
  schemas?: string[];
  /** Create the target database when it does not exist. */
  create?: boolean;
  /** Connections used to load data and build indexes (default: CPU cores). */
  parallel?: number;
  /** Also restore object owners / grants (off by default: the roles may not exist on the target). */
  restoreOwner?: boolean;
  restoreGrants?: boolean;
  /**
   * false skips the engine's check of the restored database (SQLite: PRAGMA integrity_check, run
   * on every restore otherwise): faster, but damage the backup carried goes unnoticed.
   */
  integrityCheck?: boolean;
  /**
   * `restore --changes-only`: the target already holds a copy (restored earlier, or a replica):
   * no full is restored, the chain's links are applied onto it as it is, and the changes it already
   * holds are skipped (engines with capabilities.changes.skipsApplied).
   */
  changesOnly?: boolean;
}

export interface RestorePlanItem {
  object: string;
  type: string;
  rows?: number;
  bytes: number;
  action: 'create' | 'replace' | 'skip';
}

/** What a restore would do to the target, as `--dry-run` prints it. */
export interface RestorePlan {
  target: string;
  targetExists: boolean;
  targetEmpty: boolean;
  /** What the restore would do to the target as a whole. */
  effect: 'create' | 'replace' | 'merge';
  items: RestorePlanItem[];
  warnings: string[];
}

export interface RestoreOutcome {
  objects: string[];
  rows: number;
  /** Things the user should know about how the restore went (e.g. a slower path taken, and why). */
  warnings?: string[];
  /** ISO instant the restored state is exactly consistent at, when the engine knows it (the last commit it replayed). */
  point?: string;
  /** `--changes-only`: the transactions applied (or, in a dry run, to apply) and those skipped because the target holds them. */
  transactions?: { applied: number; skipped: number };
  /** A chain's replay: the source's log position the target reached, in the engine's notation (MySQL/MariaDB: its GTID state then). */
  logPosition?: string;
}
