import { parseBackupId } from '../../domain/backup-id.js';
import { totalStoredSize } from '../../domain/manifest.js';
import { parseManifestKey } from '../../domain/repository-layout.js';
import type { CompletedBackups, TakenBackup } from '../ports/completed-backups.js';
import type { Logger } from '../ports/logger.js';
import type { RepositoryOpener } from '../ports/repository-opener.js';
import type { ScheduleRun } from '../ports/schedule-history.js';
import { readManifest } from './backup-repository.js';

/** Manifests read per repository, oldest first from the run's start: the run's own backup is among the first. */
const MAX_READS = 32;

/**
 * CompletedBackups over the repositories themselves: only a backup whose manifest is written is
 * listed (the manifest is written last, in one put), so a half-written backup is never found. Only
 * backups whose id (a UTC stamp) is not older than the run are read, at most MAX_READS of them.
 */
export class RepositoryCompletedBackups implements CompletedBackups {
  constructor(
    private readonly deps: {
      opener: RepositoryOpener;
      /** The repository URLs of configured source `name` (first = primary); throws when it is not configured. */
      repositoriesOf: (source: string) => string[];
      logger: Logger;
    },
  ) {}

  async ofRun(run: ScheduleRun): Promise<{ found: TakenBackup[]; missing: number }> {
    if (run.task !== 'backup') return { found: [], missing: 0 };
    let urls: string[];
    try {
      urls = this.deps.repositoriesOf(run.source);
    } catch {
      return { found: [], missing: 0 };
    }
    const found: TakenBackup[] = [];
    let missing = 0;
    for (const url of urls) {
      const taken = await this.inRepository(url, run).catch((err: unknown) => {
        this.deps.logger.warn("could not look for a run's backup in a repository", { run: run.id, source: run.source, error: String((err as Error)?.message ?? err) });
        return undefined;
      });
      if (taken) found.push(taken);
      else missing++;
    }
    return { found, missing };
  }

  private async inRepository(url: string, run: ScheduleRun): Promise<TakenBackup | undefined> {
    const repo = await this.deps.opener.open(url, 'read');
    try {
      // Ids carry their start to the second: a backup the run took is not older than the run's second.
      const from = Math.floor(run.startedAt.getTime() / 1000) * 1000;
      const ids: string[] = [];
      for await (const info of repo.store.list(`${run.source}/`)) {
        const key = parseManifestKey(info.key);
        const started = key && key.source === run.source ? parseBackupId(key.id)?.startedAt : undefined;
        if (started && started.getTime() >= from) ids.push(key!.id);
      }
      for (const id of ids.sort().slice(0, MAX_READS)) {
        const m = await readManifest(repo.store, run.source, id).catch(() => undefined);
        const ref = m?.scheduledRun;
        if (m && ref && ref.id === run.id && ref.schedule === run.schedule && (!run.slot || Date.parse(ref.slot) === run.slot.getTime())) {
          return { location: repo.store.location, backupId: m.id, storedSize: totalStoredSize(m), finishedAt: new Date(m.finishedAt) };
        }
      }
      return undefined;
    } finally {
      await repo.close().catch(() => undefined);
    }
  }
}
