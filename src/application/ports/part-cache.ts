import type { Readable } from 'node:stream';

/**
 * Local copies of the raw bytes of the parts a later backup reads back (`PartSpec.keepLocal`:
 * SQLite's page maps), for runs that cannot read their repository: a backup encrypted to age
 * recipients only holds no key that decrypts its parent's parts. Kept in the state folder,
 * readable by its owner only. What is kept comes from the host's own database (a page map is a
 * hash of each page), so it tells nobody on that host anything the database does not.
 *
 * Copies are streamed both ways (a page map is 16 bytes a page: 400 MB for 100 GB of 4 KiB
 * pages), and sealed with what proves them: the cache lies outside the repository, so whoever
 * reads a copy checks its seal against the manifest and its bytes against the seal.
 */
export interface PartCache {
  /**
   * Streams `body` into a new copy for backup `backupId` of `source`, under a temporary name that
   * get/has never see; resolves once every byte is written, rejects (leaving nothing) when `body`
   * fails or `signal` aborts. The copy is kept only once committed.
   */
  put(source: string, backupId: string, body: Readable, signal?: AbortSignal): Promise<PendingPartCopy>;
  /** The copy kept as part `name` (as the manifest lists it) of that backup, streamed; undefined when none is. */
  get(source: string, backupId: string, name: string): Promise<KeptPartCopy | undefined>;
  /** True when some part of that backup is kept. */
  has(source: string, backupId: string): Promise<boolean>;
  /** Forgets every backup of `source` but those in `keep`. */
  retain(source: string, keep: readonly string[]): Promise<void>;
}

/** What a copy is checked against before use: its raw bytes, and the stored part it copies. */
export interface PartCopySeal {
  rawSize: number;
  /** sha256 hex of the raw bytes kept. */
  rawSha256: string;
  /** The manifest's `sha256` of the stored part (encrypted bytes): binds the copy to that very part. */
  storedSha256: string;
}

/** A copy written in full under a temporary name. */
export interface PendingPartCopy {
  /** Makes it the kept copy of part `name` with `seal` (written, synced, then renamed: all or nothing); replaces an earlier one. */
  commit(name: string, seal: PartCopySeal): Promise<void>;
  /** Removes it (the part was not stored). */
  discard(): Promise<void>;
}

/** A kept copy as read back: its seal (not yet checked) and its bytes. */
export interface KeptPartCopy {
  seal: PartCopySeal;
  body: Readable;
}
