import { isDbBackupError } from '../../domain/errors.js';
import type { BackupCatalog, CatalogBackup } from '../ports/backup-catalog.js';
import type { Logger } from '../ports/logger.js';
import type { RepositoryOpener } from '../ports/repository-opener.js';
import { scanRepository } from '../services/backup-repository.js';

export interface ListBackupsInput {
  /** Read this repository's manifests (and refresh the catalog's view of it). */
  repository?: string;
  source?: string;
  /** Rescan every repository the catalog knows (and `repository`), rebuilding the catalog. */
  refresh?: boolean;
}

export interface ListBackupsResult {
  backups: CatalogBackup[];
  /** Repositories that could not be read during a refresh, with why. */
  problems: { repository: string; message: string }[];
}

/** Lists complete backups: from a repository's manifests, or from the catalog. */
export class ListBackups {
  constructor(private readonly deps: { opener: RepositoryOpener; catalog: BackupCatalog; logger: Logger }) {}

  async execute(input: ListBackupsInput, _signal: AbortSignal): Promise<ListBackupsResult> {
    const problems: ListBackupsResult['problems'] = [];
    if (input.repository) {
      const location = await this.rescan(input.repository);
      const backups = await this.deps.catalog.list({ repository: location, source: input.source });
      return { backups, problems };
    }
    if (input.refresh) {
      for (const repository of await this.deps.catalog.repositories()) {
        try {
          await this.rescan(repository);
        } catch (err) {
          if (!isDbBackupError(err)) throw err;
          problems.push({ repository, message: err.message });
          this.deps.logger.warn('repository could not be read', { repository, code: err.code });
        }
      }
    }
    return { backups: await this.deps.catalog.list({ source: input.source }), problems };
  }

  private async rescan(repository: string): Promise<string> {
    const repo = await this.deps.opener.open(repository, 'read');
    try {
      const { manifests, damaged } = await scanRepository(repo.store);
      for (const d of damaged) this.deps.logger.warn('damaged manifest skipped', { key: d.key, code: d.error.code });
      await this.deps.catalog.replaceRepository(repo.store.location, manifests);
      return repo.store.location;
    } finally {
      await repo.close();
    }
  }
}

