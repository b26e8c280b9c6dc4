import { isDbBackupError } from '../../domain/errors.js';
import type { BackupCatalog, CatalogBackup } from '../ports/backup-catalog.js';
import type { Logger } from '../ports/logger.js';
import type { RepositoryOpener } from '../ports/repository-opener.js';
import { scanRepository } from '../services/backup-repository.js';
import { chainMemberOf } from '../../domain/chain-graph.js';
import type { Manifest } from '../../domain/manifest.js';
import { type RestorableWindow, restorableWindows } from '../../domain/restorable-windows.js';

/** Each source's restorable windows among `manifests` (only `source` when given). */
function windowsOf(repository: string, manifests: Manifest[], source: string | undefined): SourceWindows[] {
  const sources = [...new Set(manifests.map((m) => m.source))].filter((s) => source === undefined || s === source).sort();
  return sources.map((s) => {
    const members = manifests.filter((m) => m.source === s).map(chainMemberOf);
    return { repository, source: s, windows: restorableWindows(members), backups: members.length };
  });
}

export interface ListBackupsInput {
  /** Read this repository's manifests (and refresh the catalog's view of it). */
  repository?: string;
  source?: string;
  /** Rescan every repository the catalog knows (and `repository`), rebuilding the catalog. */
  refresh?: boolean;
  /**
   * Without `repository`: rescan these first (fleet mode: the config's targets, which every worker
   * writes to), so that the list holds what any machine backed up, not only this machine's catalog.
   */
  shared?: string[];
  /** Also compute each source's restorable windows, from the manifests (the catalog does not keep them). */
  windows?: boolean;
}

/** The instants a restore of one source in one repository can reach (`list --windows`). */
export interface SourceWindows {
  repository: string;
  source: string;
  windows: RestorableWindow[];
  backups: number;
}

export interface ListBackupsResult {
  backups: CatalogBackup[];
  /** Repositories that could not be read during a refresh, with why. */
  problems: { repository: string; message: string }[];
  /** With `windows`: per repository and source, oldest window first. */
  windows?: SourceWindows[];
  /** Backups whose manifest could not be read (never listed as complete): where, and why. */
  damaged: DamagedBackup[];
}

/** A backup folder whose manifest is damaged: its repository, the manifest's key, the error. */
export interface DamagedBackup {
  repository: string;
  source: string;
  id: string;
  path: string;
  code: string;
  message: string;
}

/** Lists complete backups: from a repository's manifests, or from the catalog. */
export class ListBackups {
  constructor(private readonly deps: { opener: RepositoryOpener; catalog: BackupCatalog; logger: Logger }) {}

  async execute(input: ListBackupsInput, _signal: AbortSignal): Promise<ListBackupsResult> {
    const problems: ListBackupsResult['problems'] = [];
    const damaged: DamagedBackup[] = [];
    if (input.repository) {
      const scanned = await this.rescan(input.repository, damaged);
      const backups = await this.deps.catalog.list({ repository: scanned.location, source: input.source });
      return { backups, problems, damaged: damaged.filter((d) => input.source === undefined || d.source === input.source), ...(input.windows ? { windows: windowsOf(scanned.location, scanned.manifests, input.source) } : {}) };
    }
    const windows: SourceWindows[] = [];
    const rescans = [...(input.shared ?? []), ...(input.refresh ? await this.deps.catalog.repositories() : [])];
    if (rescans.length > 0) {
      const seen = new Set<string>();
      for (const repository of rescans) {
        if (seen.has(repository)) continue;
        seen.add(repository);
        try {
          const scanned = await this.rescan(repository, damaged);
          if (input.windows) windows.push(...windowsOf(scanned.location, scanned.manifests, input.source));
        } catch (err) {
          if (!isDbBackupError(err)) throw err;
          problems.push({ repository, message: err.message });
          this.deps.logger.warn('repository could not be read', { repository, code: err.code });
        }
      }
    }
    if (input.windows && rescans.length === 0) {
      for (const repository of await this.deps.catalog.repositories()) {
        try {
          const repo = await this.deps.opener.open(repository, 'read');
          try {
            windows.push(...windowsOf(repo.store.location, (await scanRepository(repo.store, { source: input.source })).manifests, input.source));
          } finally {
            await repo.close();
          }
        } catch (err) {
          if (!isDbBackupError(err)) throw err;
          problems.push({ repository, message: err.message });
        }
      }
    }
    return { backups: await this.deps.catalog.list({ source: input.source }), problems, damaged: damaged.filter((d) => input.source === undefined || d.source === input.source), ...(input.windows ? { windows } : {}) };
  }

  private async rescan(repository: string, found: DamagedBackup[]): Promise<{ location: string; manifests: Manifest[] }> {
    const repo = await this.deps.opener.open(repository, 'read');
    try {
      // Wall-clock time, as the catalog's recordedAt: a backup recorded after this was not seen by the scan.
      const scannedFrom = new Date();
      const { manifests, damaged } = await scanRepository(repo.store);
      for (const d of damaged) {
        // An object key names where the manifest is; it is no secret (a `key` field would be redacted).
        this.deps.logger.warn('damaged manifest skipped', { manifest: d.key, code: d.error.code });
        found.push({ repository: repo.store.location, source: d.source, id: d.id, path: d.key, code: d.error.code, message: d.error.message });
      }
      await this.deps.catalog.replaceRepository(repo.store.location, manifests, scannedFrom);
      return { location: repo.store.location, manifests };
    } finally {
      await repo.close();
    }
  }
}

