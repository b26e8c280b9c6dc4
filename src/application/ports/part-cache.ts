/**
 * Local copies of the raw bytes of the parts a later backup reads back (`PartSpec.keepLocal`:
 * SQLite's page maps), for runs that cannot read their repository: a backup encrypted to age
 * recipients only holds no key that decrypts its parent's parts. Kept in the state folder,
 * readable by its owner only. What is kept comes from the host's own database (a page map is a
 * hash of each page), so it tells nobody on that host anything the database does not.
 */
export interface PartCache {
  /** Keeps `bytes` as part `name` (as the manifest lists it) of backup `backupId` of `source`. */
  put(source: string, backupId: string, name: string, bytes: Buffer): Promise<void>;
  /** The bytes kept of that part, or undefined when none are. */
  get(source: string, backupId: string, name: string): Promise<Buffer | undefined>;
  /** True when some part of that backup is kept. */
  has(source: string, backupId: string): Promise<boolean>;
  /** Forgets every backup of `source` but those in `keep`. */
  retain(source: string, keep: readonly string[]): Promise<void>;
}
