export interface ScheduleLock {
  name: string;
  owner: string;
  slot?: Date;
  acquiredAt: Date;
  heartbeatAt: Date;
}

export interface ClaimRequest {
  name: string;
  slot: Date;
  owner: string;
  now: Date;
  /** A lock whose heartbeat is older than this is stale (its owner died) and is taken over. */
  staleBefore: Date;
}

/**
 * `claimed`: the lock is ours and the slot is marked handled. `taken`: the slot was already
 * handled (another daemon ran it). `busy`: a live lock is held (the slot is marked handled, so the
 * caller records the skip exactly once). `tookOverFrom` names a stale owner whose lock we took.
 */
export type ClaimResult = { kind: 'claimed'; tookOverFrom?: string } | { kind: 'taken' } | { kind: 'busy'; holder: ScheduleLock };

/** The locks that keep a schedule from running twice at once, across every daemon on one catalog. */
export interface ScheduleLocks {
  /** Atomically (across processes): decides a slot's fate and takes the lock, see ClaimResult. */
  claim(request: ClaimRequest): Promise<ClaimResult>;
  /**
   * For a slot already claimed (a queue delivered it again because its worker stopped answering):
   * 'claimed' with tookOverFrom when `name`'s lock is held for this very slot by another owner whose
   * heartbeat is older than staleBefore (its run died: the slot runs again); 'busy' when that owner
   * is live (ask again later); 'taken' otherwise (the slot was handled). Never marks anything handled.
   */
  reclaim(request: ClaimRequest): Promise<ClaimResult>;
  /** Renews every lock `owner` holds and its daemon record; returns the names of the locks renewed. */
  heartbeat(owner: string, now: Date): Promise<string[]>;
  /** Releases `name`'s lock if `owner` holds it; does nothing otherwise. */
  release(name: string, owner: string): Promise<void>;
  /** Locks currently held (live or stale), by schedule name. */
  locks(): Promise<ScheduleLock[]>;
}
