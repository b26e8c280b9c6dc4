/** A limit on how many runs may use one storage target at once across a fleet. */
export interface PermitRequest {
  /** The target's key (its name in the config). */
  key: string;
  limit: number;
}

/**
 * Counting semaphores shared by every worker (per-target concurrency limits, so that a fleet does
 * not throttle itself on one bucket). A permit is a lease: a holder that dies loses it after `ttlMs`.
 */
export interface TargetPermits {
  /** Takes one permit of every request at once, or none; true when taken. */
  tryAcquire(requests: PermitRequest[], holder: string, ttlMs: number): Promise<boolean>;
  /** Extends `holder`'s permits of `keys` by `ttlMs` from now. */
  renew(keys: string[], holder: string, ttlMs: number): Promise<void>;
  /** Returns `holder`'s permits of `keys`; no-op for those it does not hold. */
  release(keys: string[], holder: string): Promise<void>;
}
