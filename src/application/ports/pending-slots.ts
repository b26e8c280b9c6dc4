/**
 * Capture slots a run is about to create on a database server (a PostgreSQL logical slot), recorded
 * durably before the server is asked: a run killed before its backup or generation is complete
 * leaves the slot behind, holding the server's log for ever, and only this record lets a later
 * run tell it from a slot some other run still creates or uses (a new slot is not streamed from, so
 * the server does not show whose it is). The records live in this host's state folder.
 */
export interface PendingSlot {
  source: string;
  /** The slot's name on the server. */
  slot: string;
  /** The process that recorded it, on `host`, at `since` (ISO time). */
  pid: number;
  host: string;
  since: string;
  /** The run's repositories, as RepositoryDigests: only these can hold a backup that names the slot. */
  repositories: string[];
  /** Whether that process still runs: false once it is gone (this host); undefined when it cannot be told (another host). */
  alive: boolean | undefined;
}

/** A repository as a record names it: an opaque digest of its location (a URL may carry credentials). */
export type RepositoryDigest = string;

export interface PendingSlots {
  /**
   * Records that this process is about to create `slot` for `source`, backing up into
   * `repositories`; the record is on disk (synced) when it resolves, so call it BEFORE creating
   * the slot. Fails (E_BACKUP_FAILED) when it cannot be written: then the slot must not be created.
   */
  record(source: string, slot: string, repositories: readonly RepositoryDigest[]): Promise<void>;
  /** The records of `source`, oldest first; a damaged or oversized record file is ignored. */
  list(source: string): Promise<PendingSlot[]>;
  /** Removes the record of `slot` (its backup is complete, or the slot is gone); idempotent. */
  forget(source: string, slot: string): Promise<void>;
}
