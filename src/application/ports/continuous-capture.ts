import type { LogPosition } from './change-capture.js';
import type { LogCommit } from '../../domain/log-segment.js';
import type { DumpRequest, DumpResult } from './dump.js';
import type { PartSink } from './parts.js';

/** The commits of one segment, taken from what poll() read (the core frames them, see domain/log-segment.ts). */
export interface LogBatch {
  /** Where the batch starts: the `from` given to take(). */
  from: LogPosition;
  /** The position after its last commit. */
  to: LogPosition;
  commits: LogCommit[];
  /** Sum of the payloads' bytes. */
  bytes: number;
}

/** What the capture found at start, and a fingerprint of the source (a file's device and inode). */
export interface FollowStart {
  /** Changes whenever the source was replaced (restored by someone else): a new generation then. */
  identity: string;
  /** Whether reading may go on from `resumeFrom` (the log still holds every change after it). */
  resumable: boolean;
  /** Why not, when a resume point was given but cannot be resumed from (for the new generation's event). */
  reason?: string;
}

/**
 * Continuous capture, what `replicate` ships: follow an engine's log from a position and cut it
 * into segments, while the engine keeps every change not yet shipped (SQLite: a held read
 * transaction; PostgreSQL: a slot; MySQL: binlog retention). One instance follows one source; a
 * session offers it as `session.continuous` (engines that cannot follow their log have none).
 * Positions are opaque, compared for equality only; a segment's `from` is the `to` before it.
 */
export interface ContinuousCapture {
  /**
   * Opens the log and pins it (nothing after `resumeFrom`, or after the snapshot to come, is freed
   * before release()). Refuses a source that cannot be followed with a stable code (SQLite in
   * rollback-journal mode: E_JOURNAL_MODE). `resumeFrom` is the last shipped position, when any.
   */
  start(resumeFrom: LogPosition | undefined, identity: string | undefined, signal: AbortSignal): Promise<FollowStart>;
  /**
   * Writes a full snapshot as parts into `sink`, consistent at its `logPosition`'s log position
   * (returned as `at`). `hooks.beforeSlot` is told the name of a slot the engine creates on the
   * server for it, before it does (see DumpRequest.beforeSlot).
   */
  snapshot(sink: PartSink, signal: AbortSignal, hooks?: Pick<DumpRequest, 'beforeSlot'>): Promise<DumpResult & { at: LogPosition }>;
  /**
   * Reads the commits the log gained since the last call and times them (now); returns the bytes
   * of commits waiting to be taken. Cheap when nothing changed (a file size, a server call; never a
   * storage request). Reads no further once `maxBytes` wait. E_CHAIN_BROKEN when the log was
   * rewritten behind the capture's back (the source file replaced): start a new generation.
   */
  poll(maxBytes: number, signal: AbortSignal): Promise<number>;
  /** The oldest waiting commits, about `maxBytes` of them (at least one), as a batch starting at `from`; null when none wait. Takes nothing away. */
  take(from: LogPosition, maxBytes: number): LogBatch | null;
  /**
   * Every commit up to `position` (a batch's `to`) is listed in every target: drops them from what
   * waits, and lets the engine free that part of the log (SQLite runs a PASSIVE checkpoint, and
   * lets the WAL start over from its beginning once it has grown past a limit).
   */
  release(position: LogPosition): Promise<void>;
  /** Lets go of the log; nothing is freed that was not released. */
  close(): Promise<void>;
}
