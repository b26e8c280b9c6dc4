import type { Manifest } from '../../domain/manifest.js';

export interface CatalogBackup {
  id: string;
  repository: string;
  source: string;
  engine: string;
  kind: string;
  parent: string | null;
  startedAt: string;
  finishedAt: string;
  storedSize: number;
  rawSize: number;
  durationMs: number;
  status: 'complete';
  objectCount: number;
  partCount: number;
}

/**
 * The local index of backups (a cache: repositories are the truth, `list --refresh` rebuilds it).
 * Only complete backups are recorded. Its connection is the adapter's and the composition root's
 * to close, not a port method.
 */
export interface BackupCatalog {
  /** Records (or replaces) a complete backup found in or written to `repository`. */
  record(repository: string, manifest: Manifest): Promise<void>;
  /** Backups known for `repository` (all repositories when omitted), oldest first. */
  list(filter?: { repository?: string; source?: string }): Promise<CatalogBackup[]>;
  /**
   * Makes the catalog's view of `repository` `manifests` (a scan of it that began at `scannedFrom`):
   * rows of backups the scan did not see are dropped, except those recorded after it began (a backup
   * that completed while the scan ran, which it could not have seen).
   */
  replaceRepository(repository: string, manifests: Manifest[], scannedFrom?: Date): Promise<void>;
  /** Every repository the catalog has seen. */
  repositories(): Promise<string[]>;
  /** Drops backups just deleted from `repository` (replicate's compacted segments), without a rescan. */
  forget(repository: string, ids: readonly string[]): Promise<void>;
}
