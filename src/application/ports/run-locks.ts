/** A lock this process holds. */
export interface HeldLock {
  /** Frees the lock if this process still holds it; idempotent. */
  release(): Promise<void>;
}

/**
 * Named locks that keep a long job (replicate of one source into one repository) from running twice
 * at once on this host's state folder, across processes. A lock stays held while its process lives
 * and renews it; one whose process is gone, or that has not been renewed for a while (a process
 * that hangs, or a pid reused by another program), is taken over, so a killed job never blocks the
 * next one for ever.
 */
export interface RunLocks {
  /** Takes lock `name` for this process; E_LOCKED naming the holder (pid, host, since) while a live one holds it. `what` says what it guards, for that message. */
  acquire(name: string, what: string): Promise<HeldLock>;
}
