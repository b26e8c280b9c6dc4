import type { ObjectEntry } from '../../domain/manifest.js';
import type { PartSink, PartSource } from './parts.js';
import type { RestoreOutcome, RestoreRequest } from './restore-plan.js';

/**
 * A place in an engine's change log, opaque to the core and stored in the manifest as is:
 * PostgreSQL `{ slot, lsn }` (logical decoding), MySQL `{ file, pos, gtid }` (binlog), MongoDB
 * `{ ts }` (oplog time), SQLite `{ pageSize, pageCount, pageMap }` (`pageMap` names a part of the
 * backup that reached the position, holding each page's hash).
 */
export type LogPosition = Record<string, unknown>;

/** Where applying changes stops: at a time (`restore --at`), at a position, or at the end when neither. */
export interface ChangeLimit {
  time?: Date;
  position?: LogPosition;
}

/** `restore --changes-only`: apply onto the target as it is (see ChangeCapture.applyChanges). */
export interface ApplyOnto {
  request: RestoreRequest;
  /** Count what would be applied and skipped; change nothing. */
  dryRun?: boolean;
}

/** What one read of the change log produced (its parts went through the PartSink, role `changes`). */
export interface ChangeBatch {
  from: LogPosition;
  to: LogPosition;
  /** The time of the last change read (the point a restore of this batch reaches). */
  consistentAt: Date;
  /** Changes read (statements, events, oplog entries or pages). */
  changes: number;
  /** The objects the changes touched, with their row counts after them when known. */
  objects: ObjectEntry[];
  warnings: string[];
  /** The server's version and engine facts, as a dump reports them (recorded in the manifest). */
  serverVersion?: string;
  engineInfo?: Record<string, unknown>;
  /**
   * A differential that folded stored links: the instant (the newest link's end) from which its
   * commits replay one by one; what came before is applied only whole. Absent: from its parent.
   */
  replaysFrom?: Date;
}

/** What the repository holds of the chain a backup extends, for engines whose changes refer to it. */
export interface StoredChain {
  /** The parent's parts (the backup whose position `since` is): SQLite's page map. */
  parent?: PartSource;
  /** The parts of the chain's full (the parent's own when the parent is the full): SQLite's link maps are deltas from the full's. */
  full?: PartSource;
  /**
   * A differential's: the stored backups after the full `since` belongs to, up to the newest, oldest
   * first, for engines whose log cannot be read again from the full: PostgreSQL folds their changes
   * with the log's since the newest one (net change per row); MySQL copies them when the server
   * purged its log since the full.
   */
  links?: readonly PartSource[];
}

/**
 * Change capture, the optional capability behind incremental and differential backups and
 * point-in-time restores. A session offers it as `session.changes` when its connector's
 * capabilities have `changes`. The parts are the engine's own (SQL from logical decoding, binlog
 * events, BSON oplog entries, changed pages): only the same engine reads them back.
 */
export interface ChangeCapture {
  /** The log position now, kept reachable for the next read (a replication slot, binlog retention); changes no data. */
  position(): Promise<LogPosition>;
  /**
   * Writes every change after `since` up to now as parts into `sink`; E_UNSUPPORTED when the log no
   * longer reaches `since` (or cannot be compared with it). `stored` reads what the repository holds
   * of the chain being extended (see StoredChain).
   */
  readChanges(since: LogPosition, sink: PartSink, signal: AbortSignal, stored?: StoredChain): Promise<ChangeBatch>;
  /**
   * Applies a backup's change parts to this target in log order, stopping at `until` when given;
   * with capabilities.changes.selective, only to the tables the session's restore chose (`--tables`).
   * With `onto` (capabilities.changes.skipsApplied; `restore --changes-only`), no restore of a full
   * came first: the target is taken as it is, the changes it already holds are skipped (outcome's
   * `transactions` counts both), the request's tables are honoured, and `onto.dryRun` only counts;
   * E_TARGET_STATE when the target's state cannot be placed on the chain.
   */
  applyChanges(parts: PartSource, until: ChangeLimit | undefined, signal: AbortSignal, onto?: ApplyOnto): Promise<RestoreOutcome>;
  /**
   * Optional: restores a full and the links after it (oldest first) in one go, as `restore` does
   * for a full (refusing a non-empty target without `clean`, honouring `tables`); the target changes
   * only once the whole chain applied. Engines whose changes are images (SQLite's pages) offer it;
   * without it the core restores the full, then applies each link.
   */
  restoreChain?(links: PartSource[], request: RestoreRequest, until: ChangeLimit | undefined, signal: AbortSignal): Promise<RestoreOutcome>;
  /** Lets the engine free its log before `position` (a backup's `to`); call only once that backup's manifest is complete in every target. */
  confirm?(position: LogPosition): Promise<void>;
  /** Releases what kept an older full's `position` reachable (its slot), once a newer full is complete in every target. */
  retire?(position: LogPosition): Promise<void>;
}
