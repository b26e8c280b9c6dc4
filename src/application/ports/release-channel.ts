/** A version a release channel offers. `ref` is the channel's own handle on it (opaque to callers). */
export interface Release {
  version: string;
  /** Lines saying what changed since the running version (newest first), when the channel has them. */
  changes: string[];
  ref: unknown;
}

/**
 * Where new versions of dbbackup come from and how one replaces the running one: the npm registry
 * for an npm install, a signed manifest at an update URL for the single executable. Whatever is read
 * from the channel is untrusted: sizes are bounded and content is verified before anything changes.
 */
export interface ReleaseChannel {
  /** 'npm' or 'sea', for messages. */
  readonly kind: string;
  /** The version running now. */
  readonly currentVersion: string;
  /** The newest release offered; rejects with E_UPDATE when the channel cannot be read, E_UPDATE_AUTH when it cannot be trusted. */
  latest(signal?: AbortSignal): Promise<Release>;
  /** Downloads and verifies `release`, then installs it in place of the running version, which is kept for rollback(). */
  install(release: Release, signal?: AbortSignal): Promise<void>;
  /** Puts back the version the last install() replaced; resolves to that version. Rejects with E_UPDATE when there is none. */
  rollback(): Promise<string>;
}
