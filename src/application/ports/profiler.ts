/**
 * The stages a backup's or restore's bytes go through, in pipeline order. Backup: read from the
 * server, parse/encode (the connector's own work on the rows), hash, compress, encrypt, write to the
 * store. Restore: read from the store, verify, decrypt, decompress, load into the server.
 */
export type ProfileStage =
  | 'server-read'
  | 'parse'
  | 'hash-raw'
  | 'compress'
  | 'encrypt'
  | 'hash-stored'
  | 'store-write'
  | 'store-read'
  | 'verify-stored'
  | 'decrypt'
  | 'decompress'
  | 'verify-raw'
  | 'server-load';

/** What one stage cost: time inside its work, time it waited on the next stage, bytes it handled. */
export interface StageTotals {
  stage: ProfileStage;
  /** Milliseconds inside the stage's transform/callback (for a source: waiting for its bytes). */
  busyMs: number;
  /** Milliseconds the stage held output the next stage had no room for (backpressure). */
  waitMs: number;
  bytes: number;
  /** Chunks (calls) counted. */
  calls: number;
}

/**
 * Where a backup's or restore's time goes, stage by stage. The disabled one (`enabled` false) is
 * never asked anything: callers check `enabled` once and add no timing code when it is off.
 */
export interface Profiler {
  readonly enabled: boolean;
  /** Adds `ms` spent inside `stage`'s work on one call that handled `bytes`. */
  busy(stage: ProfileStage, ms: number, bytes: number): void;
  /** Adds `ms` that `stage` waited for the next stage to take its output. */
  waited(stage: ProfileStage, ms: number): void;
  /** The totals so far, one row per stage seen, in pipeline order. */
  totals(): StageTotals[];
}
