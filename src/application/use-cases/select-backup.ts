import { selectBackup } from '../../domain/chain.js';
import { type ChainMember, chainMemberOf } from '../../domain/chain-graph.js';
import { DbBackupError, isDbBackupError } from '../../domain/errors.js';
import type { Manifest } from '../../domain/manifest.js';
import { type ChainRestorePlan, planChainRestore } from '../../domain/restore-plan-chain.js';
import type { BackupCatalog } from '../ports/backup-catalog.js';
import type { BlobStore } from '../ports/blob-store.js';
import { scanRepository } from '../services/backup-repository.js';

export type PlannedMember = ChainMember & { manifest: Manifest };

/**
 * Finds what a restore or verify of `selector` ('latest', an id or a unique id prefix) needs: that
 * backup with its cheapest chain, or with `at` the chain reaching the newest point at or before it
 * among the source's backups (see planChainRestore). `manifest` is the last link, `chain` every
 * link, full first. A chain missing a link is E_CHAIN_BROKEN naming it.
 */
export async function findChain(
  store: BlobStore,
  selector: string,
  source: string | undefined,
  at: Date | 'latest' | undefined,
  now?: Date,
): Promise<{ manifest: Manifest; chain: Manifest[]; plan: ChainRestorePlan<PlannedMember> }> {
  const { manifests, damaged } = await scanRepository(store, { source });
  // A backup asked for whose manifest is damaged (or, with nothing intact, any damaged one) fails
  // as damage naming the manifest (exit 4), not as a backup that does not exist.
  const asked = damaged.find((d) => selector !== 'latest' && d.id === selector) ?? (manifests.length === 0 ? damaged.at(-1) : undefined);
  if (asked) throw asked.error;
  const sources = new Set(manifests.map((m) => m.source));
  if (sources.size > 1 && (at !== undefined || selector === 'latest')) {
    throw new DbBackupError('E_USAGE', `${store.location} holds backups of several sources (${[...sources].join(', ')}); say which with --source NAME.`);
  }
  const named = at === undefined || selector !== 'latest' ? selectBackup(manifests, selector) : undefined;
  const of = named?.source ?? manifests[0]?.source;
  const members = manifests.filter((m) => m.source === of).map(chainMemberOf);
  const plan = brokenAsIntegrity(() => planChainRestore(members, { ...(at !== undefined ? { at } : {}), ...(named ? { backupId: named.id } : {}), now }));
  return { manifest: plan.target.manifest, chain: plan.links.map((l) => l.manifest), plan };
}

/** A chain missing a link is damage in the repository (exit 4), named as such. */
function brokenAsIntegrity<T>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (isDbBackupError(err, 'E_BACKUP_NOT_FOUND') && err.details.missing !== undefined) {
      throw new DbBackupError('E_CHAIN_BROKEN', err.message, { cause: err, details: err.details });
    }
    throw err;
  }
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
