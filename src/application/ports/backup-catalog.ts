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

/** One target's outcome for one backup run, as the catalog keeps it. */
export interface TargetOutcomeRecord {
  repository: string;
  ok: boolean;
  errorCode?: string;
  errorMessage?: string;
}

/**
 * The local index of backups (a cache: repositories are the truth, `list --refresh` rebuilds it).
 * Only complete backups are recorded.
 */
export interface BackupCatalog {
  /** Records (or replaces) a complete backup found in or written to `repository`. */
  record(repository: string, manifest: Manifest): Promise<void>;
  /** Backups known for `repository` (all repositories when omitted), oldest first. */
  list(filter?: { repository?: string; source?: string }): Promise<CatalogBackup[]>;
  /** Makes the catalog's view of `repository` exactly `manifests`. */
  replaceRepository(repository: string, manifests: Manifest[]): Promise<void>;
  /** Records how each target of the backup run `backupId` of `source` fared (failed ones too). */
  recordOutcomes(source: string, backupId: string, outcomes: TargetOutcomeRecord[]): Promise<void>;
  /** The outcomes recorded for that run, in the order given. */
  outcomes(source: string, backupId: string): Promise<TargetOutcomeRecord[]>;
  /** Every repository the catalog has seen. */
  repositories(): Promise<string[]>;
  close(): void;
}
