import type { BackupKind } from '../../domain/backup-kind.js';
import { chainMemberOf } from '../../domain/chain-graph.js';
import { chooseParent } from '../../domain/chain-parent.js';
import { CHAIN_ENDING_CODES, DbBackupError, isDbBackupError } from '../../domain/errors.js';
import type { Manifest } from '../../domain/manifest.js';
import type { ManifestChainFields } from '../../domain/manifest-chain.js';
import type { CodecRegistry } from '../ports/codec.js';
import type { DatabaseSession } from '../ports/database-session.js';
import type { DumpResult } from '../ports/dump.js';
import type { PartSink, PartSource } from '../ports/parts.js';
import type { PartCache } from '../ports/part-cache.js';
import { CachedPartSource } from '../pipeline/keep-local-sink.js';
import type { KeyEncryptionKey } from '../ports/key-encryption-key.js';
import type { OpenedRepository, RepositoryOpener } from '../ports/repository-opener.js';
import type { StreamCipher } from '../ports/stream-cipher.js';
import { PartReader } from '../pipeline/part-reader.js';
import type { Logger } from '../ports/logger.js';
import { authenticateBackup } from '../services/manifest-auth.js';
import { readManifest, scanRepository } from '../services/backup-repository.js';

/** The parent a new incremental or differential records its changes against, and how to read it. */
export interface ParentLink {
  parent: Manifest;
  baseFull: Manifest;
  /** Reads the parent's parts (for engines whose position names one of them). */
  reader: PartSource;
  /** Reads the base full's parts (the parent's own reader when the parent is the full). */
  fullReader: PartSource;
  /**
   * A differential's: the backups after its full up to the newest (the newest backup's chain, when
   * it starts at that full), oldest first, with readers; empty for an incremental.
   */
  links: { manifest: Manifest; reader: PartSource }[];
  repo: OpenedRepository;
}

/** The chain fields a run gives its manifest. */
export interface RunChain {
  /** The engine records positions (capabilities.changes): fulls get `position` and `restorable` too. */
  positions: boolean;
  /** The engine's changes replay to any commit (capabilities.changes.pointInTime): a link restores to any time since its parent. */
  pointInTime?: boolean;
  parent?: ParentLink;
  fallback?: ManifestChainFields['fallback'];
}

/**
 * Finds the parent of a `kind` backup of `source` in `repository` (see chooseParent) and opens it
 * for reading. Throws E_NO_PARENT when there is none, its chain is broken, it recorded no change
 * position, or its parts cannot be read with the run's key.
 */
export async function openParent(
  deps: { opener: RepositoryOpener; codecs: CodecRegistry; cipher?: StreamCipher; logger?: Logger; partCache?: PartCache },
  repository: string,
  source: string,
  kind: Exclude<BackupKind, 'full'>,
  key: KeyEncryptionKey | undefined,
): Promise<ParentLink> {
  const repo = await deps.opener.open(repository, 'read').catch((err: unknown) => {
    // A repository that does not exist yet holds no parent: chooseParent says so.
    if (isDbBackupError(err, 'E_NOT_FOUND')) chooseParent(kind, []);
    throw noParent(kind, source, `${repository} cannot be read (${(err as Error).message})`, err);
  });
  try {
    const manifests = await scanRepository(repo.store, { source })
      .then((r) => r.manifests)
      .catch((err: unknown) => {
        if (isDbBackupError(err, 'E_NOT_FOUND')) return [];
        throw err;
      });
    const choice = chooseParent(kind, manifests.map(chainMemberOf))!;
    const parent = choice.parent.manifest;
    if (!parent.logPosition) {
      throw new DbBackupError(
        'E_NO_PARENT',
        `${kind === 'incremental' ? 'An incremental' : 'A differential'} backup of "${source}" cannot be taken: its parent ${parent.id} recorded no change position to compare with ` +
          '(a full filtered with --tables or --exclude-tables holds only some tables; a backup from an older dbbackup recorded none). ' +
          'Take an unfiltered full (`--type full` without --tables), or pass `--auto-full`; give filtered backups a --source name of their own so they do not become the parent of this chain.',
        { details: { kind, source, parent: parent.id, reason: 'no-position' } },
      );
    }
    const readerOf = async (backup: Manifest): Promise<PartSource> => {
      try {
        // Authenticated like a restore's backup: its page map decides what is stored.
        const encryption = await authenticateBackup(repo.store, backup, key ? [key] : [], deps.cipher, {}, deps.logger);
        return new PartReader(repo.store, backup, deps.codecs, undefined, encryption);
      } catch (err) {
        if (!isDbBackupError(err, 'E_KEY')) throw err;
        const which = `its ${backup === parent ? 'parent' : backup === choice.baseFull.manifest ? 'base full' : 'chain link'} ${backup.id}`;
        if (!key || key.canUnwrap) throw noParent(kind, source, `${which} cannot be read with this run's key (${(err as Error).message})`, err);
        // Encrypted to age recipients only: this host cannot decrypt the repository, but the run
        // that wrote the backup kept a copy of what a later backup reads back (PartCache).
        if (deps.partCache && (await deps.partCache.has(backup.source, backup.id))) return new CachedPartSource(backup, deps.partCache);
        throw noParent(
          kind,
          source,
          `${which} is encrypted to age recipients only, and this host keeps no copy of its page map (kept in the data folder by the backup that wrote it, on the host that took it)`,
          err,
        );
      }
    };
    const reader = await readerOf(parent);
    const baseFull = choice.baseFull.manifest;
    const fullReader = baseFull.id === parent.id ? reader : await readerOf(baseFull);
    const links = [];
    // Authenticated when first read: only engines that fold or copy stored links read them (SQLite does not,
    // and with age recipients only this host keeps no copy of their page maps).
    for (const m of kind === 'differential' ? linksSince(parent, manifests) : []) links.push({ manifest: m, reader: lazySource(m, () => readerOf(m)) });
    return { parent, baseFull, reader, fullReader, links, repo };
  } catch (err) {
    await repo.close().catch(() => undefined);
    throw err;
  }
}

/**
 * The backups after `full` up to the newest backup of the source, oldest first: the cheapest chain
 * of the newest backup (continuous segments aside) when it starts at `full`; otherwise none.
 */
function linksSince(full: Manifest, manifests: Manifest[]): Manifest[] {
  try {
    const newest = chooseParent('incremental', manifests.map(chainMemberOf));
    return newest && newest.baseFull.id === full.id ? newest.chain.slice(1).map((m) => m.manifest) : [];
  } catch {
    // The newest chain is broken: the engine reads from the full, as far as its log still reaches.
    return [];
  }
}

/**
 * A multi-target link is written to every target: each must hold the parent, or the link would
 * start a broken chain there. Throws E_NO_PARENT naming the first target that lacks it.
 */
export async function requireParentIn(
  deps: { opener: RepositoryOpener },
  repositories: readonly string[],
  link: ParentLink,
  kind: Exclude<BackupKind, 'full'>,
): Promise<void> {
  const { parent } = link;
  for (const url of repositories) {
    const repo = await deps.opener.open(url, 'read').catch(() => undefined);
    try {
      const found = repo ? await readManifest(repo.store, parent.source, parent.id).then(() => true, () => false) : false;
      if (!found) throw noParent(kind, parent.source, `the target ${repo?.store.location ?? url} does not hold its parent ${parent.id} (it was written to the first target only)`);
    } finally {
      await repo?.close().catch(() => undefined);
    }
  }
}

function noParent(kind: BackupKind, source: string, why: string, cause?: unknown): DbBackupError {
  return new DbBackupError(
    'E_NO_PARENT',
    `${kind === 'incremental' ? 'An incremental' : 'A differential'} backup of "${source}" cannot be taken: ${why}. ` +
      'Take a full backup instead (`--type full`), or pass `--auto-full` to take a full whenever no parent is usable.',
    { cause, details: { kind, source } },
  );
}

/**
 * The run's snapshot: a dump, or (with a parent) the changes since the parent's position. An
 * engine that cannot reach that position any more (E_UNSUPPORTED) fails with E_NO_PARENT; E_SLOT_LOST
 * and E_SCHEMA_CHANGED (the engine's log was given up, the tables changed shape) keep their codes.
 */
export async function dumpOrChanges(session: DatabaseSession, request: Parameters<DatabaseSession['dump']>[0], chain: RunChain | undefined, sink: PartSink, signal: AbortSignal): Promise<DumpResult> {
  const parent = chain?.parent;
  if (!parent) return session.dump(request, sink, signal);
  if (!session.changes) throw new DbBackupError('E_UNSUPPORTED', 'This engine does not capture changes; take a full backup.');
  try {
    const links = parent.links.map((l) => l.reader);
    const stored = { parent: parent.reader, full: parent.fullReader, ...(links.length > 0 ? { links } : {}) };
    const batch = await session.changes.readChanges(parent.parent.logPosition!, sink, signal, stored);
    return {
      serverVersion: batch.serverVersion ?? '',
      consistentAt: batch.consistentAt,
      logPosition: batch.to,
      objects: batch.objects,
      warnings: batch.warnings,
      engineInfo: { ...batch.engineInfo, changes: batch.changes },
      ...(batch.replaysFrom ? { replaysFrom: batch.replaysFrom } : {}),
    };
  } catch (err) {
    // E_SLOT_LOST / E_SCHEMA_CHANGED keep their own codes (scripts and alerts tell them apart).
    const code = isDbBackupError(err, 'E_UNSUPPORTED') ? 'E_NO_PARENT' : isDbBackupError(err) && CHAIN_ENDING_CODES.includes(err.code) ? err.code : undefined;
    if (!code || !isDbBackupError(err)) throw err;
    throw new DbBackupError(code, `${request.kind === 'incremental' ? 'An incremental' : 'A differential'} backup against ${parent.parent.id} is not possible: ${err.message}`, {
      cause: err,
      details: { parent: parent.parent.id, ...err.details },
    });
  }
}

/** The manifest's chain fields for a run's result. */
export function chainFields(chain: RunChain | undefined, dumped: DumpResult): Pick<Manifest, 'parent' | 'baseFull'> & ManifestChainFields {
  const parent = chain?.parent;
  const at = dumped.consistentAt.toISOString();
  return {
    parent: parent ? parent.parent.id : null,
    baseFull: parent ? parent.baseFull.id : null,
    ...(chain?.positions && dumped.logPosition
      ? { position: { from: parent ? (parent.parent.position?.to ?? parent.parent.logPosition) : null, to: dumped.logPosition }, restorable: { from: restorableFrom(chain, at, dumped.replaysFrom), to: at } }
      : {}),
    ...(chain?.fallback ? { fallback: chain.fallback } : {}),
  };
}

/**
 * Where a run's restorable range starts: its own end, or for a link of an engine whose changes replay
 * to any commit the state its parent reached (so `restore --at` reaches every instant in between).
 * A differential that folded stored links (PostgreSQL's, see ChangeBatch.replaysFrom) holds their
 * net change, which replays only whole: it reaches the instants since the newest of them; earlier
 * ones are reached through those links, which the restore planner then picks.
 */
function restorableFrom(chain: RunChain, at: string, replaysFrom: Date | undefined): string {
  const parent = chain.parent?.parent;
  if (!parent || !chain.pointInTime) return at;
  const from = replaysFrom?.toISOString() ?? parent.restorable?.to ?? parent.consistentAt;
  return Date.parse(from) < Date.parse(at) ? from : at;
}

/** A PartSource that opens its backup (authentication included) only when a part is first read. */
function lazySource(manifest: Manifest, open: () => Promise<PartSource>): PartSource {
  let source: Promise<PartSource> | undefined;
  return {
    manifest,
    open: async (part) => {
      source ??= open();
      return (await source).open(part);
    },
  };
}
