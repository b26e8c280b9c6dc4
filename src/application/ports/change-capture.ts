import type { ObjectEntry } from '../../domain/manifest.js';
import type { PartSink, PartSource } from './parts.js';
import type { RestoreOutcome } from './restore-plan.js';

/**
 * A place in an engine's change log, opaque to the core and stored in the manifest as is:
 * PostgreSQL `{ slot, lsn }` (logical decoding), MySQL `{ file, pos, gtid }` (binlog), MongoDB
 * `{ ts }` (oplog time), SQLite `{ pageMap, pageSize }` (a part holding each page's hash).
 */
export type LogPosition = Record<string, unknown>;

/** Where applying changes stops: at a time (`restore --at`), at a position, or at the end when neither. */
export interface ChangeLimit {
  time?: Date;
  position?: LogPosition;
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
  /** Writes every change after `since` up to now as parts into `sink`; E_UNSUPPORTED when the log no longer reaches `since`. */
  readChanges(since: LogPosition, sink: PartSink, signal: AbortSignal): Promise<ChangeBatch>;
  /** Applies a backup's change parts to this target in log order, stopping at `until` when given. */
  applyChanges(parts: PartSource, until: ChangeLimit | undefined, signal: AbortSignal): Promise<RestoreOutcome>;
}
