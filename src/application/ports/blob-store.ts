import type { Readable } from 'node:stream';

export interface BlobInfo {
  key: string;
  size: number;
  modifiedAt: Date;
}

export interface PutOptions {
  /** Exact byte count when the caller knows it; stores that need it up front (tar) use it. */
  size?: number;
  signal?: AbortSignal;
  /**
   * The caller closes a batch with a later put without this flag (a backup's parts, then its
   * manifest): the store may delay making this object's name crash-proof until then, and must make
   * it so before that closing put's object can be seen. Stores whose writes are durable at once
   * ignore it.
   */
  batched?: boolean;
}

export interface ByteRange {
  start: number;
  /** Inclusive end offset; omitted means to the end. */
  end?: number;
}

export interface BlobDigest {
  size: number;
  sha256: string;
}

/**
 * A flat key → bytes store (local folder, S3, GCS, Azure, an archive file). Keys are `/`-separated
 * and never start with `/`. Implementations stream: nothing is buffered whole.
 */
export interface BlobStore {
  /** Human-readable location, safe to print (no credentials). */
  readonly location: string;
  /** Stores the bytes under `key`, replacing any object there; the object is visible only once complete. */
  put(key: string, body: Readable, options?: PutOptions): Promise<BlobInfo>;
  /** Streams the object's bytes; rejects with E_NOT_FOUND if there is no object at `key`. */
  get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable>;
  /** Every object whose key starts with `prefix`, in no promised order. */
  list(prefix: string, signal?: AbortSignal): AsyncIterable<BlobInfo>;
  /** The object's info, or undefined if there is no object at `key`. */
  stat(key: string): Promise<BlobInfo | undefined>;
  /**
   * Optional: the object's size and the sha256 of its bytes, computed where it is cheapest (the local
   * store hashes files on worker threads). Undefined if there is no object at `key`. Stores without
   * it are read through `get`.
   */
  digest?(key: string, signal?: AbortSignal): Promise<BlobDigest | undefined>;
  /** Removes the object; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
}
