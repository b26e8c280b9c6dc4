import { selectBackup } from '../../domain/chain.js';
import { DbBackupError } from '../../domain/errors.js';
import { backupPrefix } from '../../domain/repository-layout.js';
import type { BackupCatalog } from '../ports/backup-catalog.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { Clock } from '../ports/clock.js';
import type { RepositoryOpener } from '../ports/repository-opener.js';
import { scanRepository, writeJson } from '../services/backup-repository.js';
import { locateRepository } from './select-backup.js';

/**
 * A pin is a small object `<source>/<id>/pinned.json` beside the manifest. It lives with the
 * backup, so it survives a lost catalog, works on every store, and goes away with the backup's
 * folder; and the manifest stays write-once (its presence is what makes the backup exist, so
 * rewriting it to flip a flag would put the one file that matters at risk).
 * A pinned backup, and every backup its restore needs, is never deleted by prune.
 */
export const PIN_NAME = 'pinned.json';

export interface PinFile {
  pinnedAt: string;
  note?: string;
}

export interface PinBackupInput {
  /** Repository folder or URL; when omitted, every repository the catalog holds the backup in. */
  repository?: string;
  /** An id, a unique id prefix, or 'latest' (with a repository). */
  backup: string;
  source?: string;
  /** true pins, false unpins. */
  pinned: boolean;
  note?: string;
  /** Report what would change; write nothing. */
  dryRun?: boolean;
}

export interface PinBackupResult {
  backup: string;
  source: string;
  pinned: boolean;
  /** Each repository touched, and whether the pin state changed there. */
  repositories: { repository: string; changed: boolean }[];
}

/** Pins (or unpins) a backup so that prune never deletes it or its chain. */
export class PinBackup {
  constructor(private readonly deps: { opener: RepositoryOpener; catalog: BackupCatalog; clock: Clock }) {}

  async execute(input: PinBackupInput, signal: AbortSignal): Promise<PinBackupResult> {
    const repositories = input.repository ? [input.repository] : await this.catalogRepositories(input.backup);
    const result: PinBackupResult = { backup: '', source: '', pinned: input.pinned, repositories: [] };
    for (const repository of repositories) {
      signal.throwIfAborted();
      const repo = await this.deps.opener.open(repository, 'read');
      try {
        if (repo.kind === 'archive') {
          throw new DbBackupError('E_UNSUPPORTED', `${repository} is a single-file archive, which cannot be changed; pins live in repositories.`);
        }
        const { source, id } = await pick(repo.store, input.backup, input.source);
        const changed = await this.apply(repo.store, `${backupPrefix(source, id)}${PIN_NAME}`, input);
        result.backup = id;
        result.source = source;
        result.repositories.push({ repository: repo.store.location, changed });
      } finally {
        await repo.close();
      }
    }
    return result;
  }

  private async apply(store: BlobStore, key: string, input: PinBackupInput): Promise<boolean> {
    const existing = await store.stat(key);
    if (input.dryRun) return input.pinned === (existing === undefined);
    if (!input.pinned) {
      if (existing) await store.delete(key);
      return existing !== undefined;
    }
    const pin: PinFile = { pinnedAt: this.deps.clock.now().toISOString(), ...(input.note ? { note: input.note } : {}) };
    await writeJson(store, key, pin);
    return existing === undefined;
  }

  /** Every repository the catalog records the backup in (a backup sent to several targets). */
  private async catalogRepositories(selector: string): Promise<string[]> {
    const first = await locateRepository(this.deps.catalog, undefined, selector);
    const matches = (await this.deps.catalog.list()).filter((b) => b.id === selector || b.id.startsWith(selector));
    const repos = [...new Set(matches.map((b) => b.repository))];
    return repos.length ? repos : [first];
  }
}

async function pick(store: BlobStore, selector: string, source: string | undefined): Promise<{ source: string; id: string }> {
  const { manifests } = await scanRepository(store, { source });
  if (selector === 'latest' && !source && new Set(manifests.map((m) => m.source)).size > 1) {
    throw new DbBackupError('E_USAGE', `${store.location} holds backups of several sources; say which with --source NAME.`);
  }
  const m = selectBackup(manifests, selector);
  return { source: m.source, id: m.id };
}
