import type { BlobStore } from './blob-store.js';
import type { IncompleteUploads } from './incomplete-uploads.js';

/**
 * A repository opened for one use. A folder or bucket is written in place; a single-file archive
 * (`.tar.gz`, `.zip`) appears only when `commit()` succeeds, and `abort()` leaves nothing behind.
 */
export interface OpenedRepository {
  readonly store: BlobStore;
  /** What kind of place this is: 'folder', 'archive', 's3', … (for messages and defaults). */
  readonly kind: string;
  /** For archives: the only codec chain the format allows (the archive compresses as a whole). */
  readonly forcedCodecs?: string[];
  /** Where the store keeps unfinished uploads apart from its objects (S3): prune sweeps them. */
  readonly uploads?: IncompleteUploads;
  /** Makes everything written visible (archives: finalize and rename into place; returns the file size). */
  commit(): Promise<{ size?: number } | void>;
  /** Drops what was written by this handle, where the store can (archives: delete the temp file). */
  abort(): Promise<void>;
  /** Releases file handles and connections. */
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Archive compression level for `.tar.gz`/`.zip` outputs. */
  level?: number;
}

export interface RepositoryOpener {
  /** Opens `url` (folder path, archive file path, or a storage URL) for reading or writing. */
  open(url: string, mode: 'read' | 'write', options?: OpenOptions): Promise<OpenedRepository>;
}
