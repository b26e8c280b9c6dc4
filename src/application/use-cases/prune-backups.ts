import { isBackupId } from '../../domain/backup-id.js';
import { DbBackupError } from '../../domain/errors.js';
import { type Manifest, totalStoredSize } from '../../domain/manifest.js';
import { isValidSourceName, MANIFEST_NAME } from '../../domain/repository-layout.js';
import { describePolicy, isEmptyPolicy, planRetention, type RetentionPlan, type RetentionPolicy, validatePolicy } from '../../domain/retention.js';
import type { BackupCatalog } from '../ports/backup-catalog.js';
import type { BlobInfo, BlobStore } from '../ports/blob-store.js';
import type { Clock } from '../ports/clock.js';
import type { IncompleteUploads } from '../ports/incomplete-uploads.js';
import type { Logger } from '../ports/logger.js';
import type { RepositoryOpener } from '../ports/repository-opener.js';
import { scanRepository } from '../services/backup-repository.js';
import { PIN_NAME } from './pin-backup.js';

export const DEFAULT_ORPHAN_GRACE_MS = 24 * 3600e3;

export interface PruneBackupsInput {
  /** Repository folder or URL (archives are refused: they hold one backup and are read-only). */
  repository: string;
  /** The source to prune; may be omitted when the repository holds only one. */
  source?: string;
  policy: RetentionPolicy;
  /** Plan only: nothing is deleted and the catalog is not touched. */
  dryRun?: boolean;
  /** Folders without a manifest whose newest object is older than this are orphans (default 24 h). */
  orphanGraceMs?: number;
}

export interface OrphanFolder {
  /** `<source>/<id>/` */
  prefix: string;
  objects: number;
  bytes: number;
  newest: string;
}

export interface PruneBackupsResult {
  repository: string;
  source: string;
  dryRun: boolean;
  policy: string;
  plan: RetentionPlan;
  kept: number;
  /** Ids deleted (with --dry-run: that would be deleted), newest first. */
  deleted: string[];
  orphans: OrphanFolder[];
  /** Unfinished uploads (S3 multipart) past the orphan grace aborted (with --dry-run: that would be). */
  incompleteUploads: number;
  /** Bytes of every object removed (or that would be), backups and orphans together. */
  bytesFreed: number;
  /** Damaged manifests left alone, chain problems. */
  warnings: string[];
}

/**
 * Applies a retention policy to one source of a repository (DESIGN.md §3, restic `forget` rules,
 * see domain/retention.ts), then removes orphans: folders of interrupted backups.
 *
 * Deletion order makes a crash safe: backups go newest first (a dependant before its base), and
 * within a backup manifest.json goes FIRST — the backup stops existing — then every other object
 * under its folder. A crash leaves only manifest-less folders, which the next prune removes as
 * orphans once they pass the grace period; never a listed backup with missing parts.
 *
 * Local temp files (`*.dbbackup-tmp-*`) are not visible through BlobStore.list(), so they are not
 * cleaned here; the local store removes its own temp file when a write fails.
 */
export class PruneBackups {
  constructor(private readonly deps: { opener: RepositoryOpener; catalog: BackupCatalog; clock: Clock; logger: Logger }) {}

  async execute(input: PruneBackupsInput, signal: AbortSignal): Promise<PruneBackupsResult> {
    if (isEmptyPolicy(input.policy)) {
      throw new DbBackupError(
        'E_USAGE',
        'No retention policy: give --keep-last/--keep-hourly/--keep-daily/--keep-weekly/--keep-monthly/--keep-yearly/--keep-within/--keep-pitr, ' +
          'or set retention for the source in the config. Nothing was deleted.',
      );
    }
    validatePolicy(input.policy);
    if (input.source !== undefined && !isValidSourceName(input.source)) {
      throw new DbBackupError('E_USAGE', `"${input.source}" is not a valid source name (letters, digits, . _ -).`);
    }
    const repo = await this.deps.opener.open(input.repository, 'read');
    try {
      if (repo.kind === 'archive') {
        throw new DbBackupError('E_UNSUPPORTED', `${input.repository} is a single-file archive; prune works on repository folders and buckets.`);
      }
      return await this.prune(repo.store, input, signal, repo.uploads);
    } finally {
      await repo.close();
    }
  }

  private async prune(store: BlobStore, input: PruneBackupsInput, signal: AbortSignal, uploads?: IncompleteUploads): Promise<PruneBackupsResult> {
    const now = this.deps.clock.now();
    // Wall-clock time, as the catalog's recordedAt: a backup recorded after this was not seen by the scan.
    const scannedFrom = new Date();
    const scan = await scanRepository(store);
    const source = input.source ?? onlySource(store, scan.manifests);
    const folders = await listFolders(store, source, signal);
    const manifests = scan.manifests.filter((m) => m.source === source);
    const damaged = scan.damaged.filter((d) => d.key.startsWith(`${source}/`));
    const warnings = damaged.map((d) => `${d.key} could not be read and was left alone: ${d.error.message}`);

    const plan = planRetention(
      manifests.map((m) => ({
        id: m.id,
        kind: m.kind,
        parent: m.parent,
        startedAt: m.startedAt,
        pinned: folders.get(m.id)?.has(PIN_NAME) ?? false,
        // What keep-pitr weighs: the point each backup restores to, how it links, what it costs.
        consistentAt: m.consistentAt,
        restorable: m.restorable,
        position: m.position,
        continuous: m.continuous,
        generation: m.generation,
        storedBytes: totalStoredSize(m),
      })),
      input.policy,
      now,
    );
    warnings.push(...plan.warnings);
    const doomed = plan.decisions.filter((d) => d.action === 'delete').map((d) => d.id).reverse();
    const grace = input.orphanGraceMs ?? DEFAULT_ORPHAN_GRACE_MS;
    const orphans = findOrphans(source, folders, now.getTime() - grace);
    const sizeOf = (id: string) => [...(folders.get(id)?.values() ?? [])].reduce((n, o) => n + o.size, 0);
    const bytesFreed = doomed.reduce((n, id) => n + sizeOf(id), 0) + orphans.reduce((n, o) => n + o.bytes, 0);

    if (!input.dryRun && damaged.length) {
      // An unreadable manifest may be an incremental whose base the plan would delete: delete nothing.
      const first = damaged[0]!;
      throw new DbBackupError(
        first.error.code,
        `${damaged.length} manifest(s) of source ${source} could not be read (first: ${first.key}: ${first.error.message}); ` +
          'prune deletes nothing while a chain is unknown. Rerun if it was a network error, or move the damaged backup away.',
        { details: { damaged: damaged.map((d) => d.key) } },
      );
    }
    if (!input.dryRun) await removeAll(store, this.deps.catalog, { source, doomed, orphans, folders, all: scan.manifests, scannedFrom }, signal);
    // Uploads a killed run began and never finished, past the same grace as orphan folders.
    const incompleteUploads = uploads
      ? await uploads.sweep(`${source}/`, new Date(now.getTime() - grace), { dryRun: input.dryRun, signal }).catch((err: unknown) => {
          warnings.push(`unfinished uploads under ${source}/ could not be swept: ${(err as Error).message}`);
          return 0;
        })
      : 0;
    const result: PruneBackupsResult = {
      repository: store.location,
      source,
      dryRun: input.dryRun === true,
      policy: describePolicy(input.policy),
      plan,
      kept: plan.decisions.length - doomed.length,
      deleted: doomed,
      orphans,
      incompleteUploads,
      bytesFreed,
      warnings,
    };
    this.deps.logger.info(input.dryRun ? 'prune planned (dry run)' : 'prune complete', {
      repository: result.repository,
      source,
      kept: result.kept,
      deleted: doomed.length,
      orphans: orphans.length,
      incompleteUploads,
      bytesFreed,
    });
    return result;
  }
}

/**
 * Deletes the doomed backups (newest first, so a dependant goes before its base), then the orphans.
 * Whatever happens, the catalog ends up without every backup whose manifest is gone.
 */
async function removeAll(
  store: BlobStore,
  catalog: BackupCatalog,
  plan: { source: string; doomed: string[]; orphans: OrphanFolder[]; folders: Folders; all: Manifest[]; scannedFrom: Date },
  signal: AbortSignal,
): Promise<void> {
  const { source, folders } = plan;
  const gone = new Set<string>();
  try {
    for (const id of plan.doomed) {
      signal.throwIfAborted();
      await deleteBackup(store, source, id, folders.get(id), () => gone.add(id));
    }
    for (const o of plan.orphans) {
      signal.throwIfAborted();
      const id = o.prefix.slice(source.length + 1, -1);
      for (const key of folders.get(id)?.keys() ?? []) await store.delete(`${o.prefix}${key}`);
    }
  } finally {
    await catalog.replaceRepository(store.location, plan.all.filter((m) => !(m.source === source && gone.has(m.id))), plan.scannedFrom);
  }
}

/**
 * manifest.json first (the backup stops existing; `onGone` is told at once, so the catalog drops it
 * even if a later part delete fails), then every other object of the folder.
 */
async function deleteBackup(
  store: BlobStore,
  source: string,
  id: string,
  objects: Folder | undefined,
  onGone: () => void,
): Promise<void> {
  const prefix = `${source}/${id}/`;
  await store.delete(`${prefix}${MANIFEST_NAME}`);
  onGone();
  for (const name of objects?.keys() ?? []) if (name !== MANIFEST_NAME) await store.delete(`${prefix}${name}`);
}

/** A backup folder's objects by name relative to the folder (`data/t.0.txt`). */
type Folder = Map<string, BlobInfo>;
/** Folders by backup id. */
type Folders = Map<string, Folder>;

/** Every object under `<source>/<id>/`, by backup id, then by name relative to the folder. */
async function listFolders(store: BlobStore, source: string, signal: AbortSignal): Promise<Folders> {
  const folders: Folders = new Map();
  const prefix = `${source}/`;
  for await (const info of store.list(prefix, signal)) {
    const rest = info.key.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) continue;
    const id = rest.slice(0, slash);
    let folder = folders.get(id);
    if (!folder) folders.set(id, (folder = new Map()));
    folder.set(rest.slice(slash + 1), info);
  }
  return folders;
}

/**
 * Folders named like a backup id that hold no manifest.json and whose newest object is older
 * than `before`: what an interrupted backup leaves. A backup still being written has recent
 * objects, so it is never taken for an orphan while it runs (as long as it writes within the grace).
 */
function findOrphans(source: string, folders: Folders, before: number): OrphanFolder[] {
  const orphans: OrphanFolder[] = [];
  for (const [id, objects] of folders) {
    if (!isBackupId(id) || objects.has(MANIFEST_NAME)) continue;
    const infos = [...objects.values()];
    const newest = Math.max(...infos.map((o) => o.modifiedAt.getTime()));
    if (newest >= before) continue;
    orphans.push({ prefix: `${source}/${id}/`, objects: infos.length, bytes: infos.reduce((n, o) => n + o.size, 0), newest: new Date(newest).toISOString() });
  }
  return orphans.sort((a, b) => (a.prefix < b.prefix ? -1 : 1));
}

function onlySource(store: BlobStore, manifests: Manifest[]): string {
  const sources = [...new Set(manifests.map((m) => m.source))];
  if (sources.length === 1) return sources[0]!;
  throw new DbBackupError(
    'E_USAGE',
    sources.length === 0
      ? `${store.location} holds no complete backup; say which source to prune with --source NAME.`
      : `${store.location} holds backups of several sources (${sources.join(', ')}); say which with --source NAME.`,
  );
}
