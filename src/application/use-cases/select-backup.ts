import { resolveChain, selectBackup } from '../../domain/chain.js';
import { DbBackupError } from '../../domain/errors.js';
import type { Manifest } from '../../domain/manifest.js';
import type { BackupCatalog } from '../ports/backup-catalog.js';
import type { BlobStore } from '../ports/blob-store.js';
import { scanRepository } from '../services/backup-repository.js';

/**
 * Finds the backup `selector` ('latest', an id or a unique id prefix) in a repository, and the
 * chain of backups a restore of it needs (full first).
 */
export async function findBackup(
  store: BlobStore,
  selector: string,
  source?: string,
): Promise<{ manifest: Manifest; chain: Manifest[] }> {
  const { manifests } = await scanRepository(store, { source });
  if (selector === 'latest' && !source) {
    const sources = new Set(manifests.map((m) => m.source));
    if (sources.size > 1) {
      throw new DbBackupError(
        'E_USAGE',
        `${store.location} holds backups of several sources (${[...sources].join(', ')}); say which with --source NAME.`,
      );
    }
  }
  const manifest = selectBackup(manifests, selector);
  const chain = resolveChain(manifests.filter((m) => m.source === manifest.source), manifest);
  return { manifest, chain };
}

/**
 * The repository to read: the one given, or — for an id without --from — the repository the
 * catalog recorded that backup in.
 */
export async function locateRepository(catalog: BackupCatalog, repository: string | undefined, selector: string): Promise<string> {
  if (repository) return repository;
  if (selector !== 'latest') {
    const matches = (await catalog.list()).filter((b) => b.id === selector || b.id.startsWith(selector));
    const repos = [...new Set(matches.map((b) => b.repository))];
    if (repos.length >= 1 && new Set(matches.map((b) => b.id)).size === 1) return repos[0]!;
    if (matches.length > 1) {
      throw new DbBackupError('E_USAGE', `Backup id "${selector}" is ambiguous in the catalog; give more characters or --from REPO.`);
    }
  }
  throw new DbBackupError(
    'E_USAGE',
    selector === 'latest'
      ? 'Say where the backup is: --from REPOSITORY (folder or URL) or --file ARCHIVE.'
      : `The catalog knows no backup "${selector}"; give --from REPOSITORY, or run \`dbbackup list --refresh\`.`,
  );
}
