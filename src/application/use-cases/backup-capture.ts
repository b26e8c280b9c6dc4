import { isDbBackupError } from '../../domain/errors.js';
import type { Manifest } from '../../domain/manifest.js';
import type { LogPosition } from '../ports/change-capture.js';
import type { DatabaseSession } from '../ports/database-session.js';
import type { Logger } from '../ports/logger.js';
import type { RepositoryOpener } from '../ports/repository-opener.js';
import { scanRepository } from '../services/backup-repository.js';
import type { BackupRun, BackupRunOutcome } from './backup-targets.js';

/**
 * What a backup's change capture keeps on the server (a PostgreSQL slot holds the WAL) is let go
 * only once the backup is complete in EVERY target: then confirm() its position (the server may
 * free the log before it) and, after a full, retire() the positions of the older fulls in the run's
 * repositories (their slots: a later incremental chains to the newest backup, so never to them).
 * Every older full, not only the previous one: a slot a failed release or a partial run left is
 * dropped by the next full that is complete everywhere. A partial or failed run confirms nothing,
 * since a failed target lacks the changes. Failures here are warnings: the backup is complete.
 */
export async function releaseCapture(
  deps: { opener: RepositoryOpener; logger: Logger },
  session: DatabaseSession,
  run: BackupRun,
  outcome: BackupRunOutcome,
): Promise<void> {
  const changes = session.changes;
  if (!changes?.confirm && !changes?.retire) return;
  const done = outcome.targets.filter((t) => t.ok && t.manifest);
  const manifest = done[0]?.manifest;
  if (!manifest?.logPosition) return;
  const log = deps.logger.child({ backupId: manifest.id, source: run.source });
  if (outcome.failure || done.length < outcome.targets.length) {
    log.warn('the change log position is not confirmed: the backup is not complete in every target, so the server keeps the changes for the next backup', {
      failed: outcome.targets.filter((t) => !t.ok).map((t) => t.repository),
    });
    return;
  }
  if (changes.confirm) {
    await changes.confirm(manifest.logPosition).then(
      () => log.info('change log position confirmed', { position: describe(manifest.logPosition!) }),
      (err: unknown) => log.warn('the backup is complete, but its change log position could not be confirmed; the server keeps its log until a later backup confirms it', { error: message(err) }),
    );
  }
  if (manifest.kind !== 'full' || !changes.retire) return;
  for (const position of await olderFullPositions(deps, run, manifest, log)) {
    await changes.retire(position).then(
      () => log.info("an older full backup's change capture was released", { position: describe(position) }),
      (err: unknown) => log.warn("could not release an older full backup's change capture; drop it by hand if it is not needed", { position: describe(position), error: message(err) }),
    );
  }
}

/**
 * The log positions of the fulls before `manifest` of the run's source in the run's repositories
 * (found as chooseParent finds parents), without those naming the new full's own slot.
 */
async function olderFullPositions(deps: { opener: RepositoryOpener }, run: BackupRun, manifest: Manifest, log: Logger): Promise<LogPosition[]> {
  const found = new Map<string, LogPosition>();
  for (const url of run.repositories) {
    const repo = await deps.opener.open(url, 'read').catch((err: unknown) => {
      log.warn('could not look for older full backups to release their change capture', { repository: url, error: message(err) });
      return undefined;
    });
    if (!repo) continue;
    try {
      const { manifests } = await scanRepository(repo.store, { source: run.source });
      for (const m of manifests) {
        if (m.kind !== 'full' || m.id === manifest.id || !m.logPosition || !before(m, manifest)) continue;
        if (!sameSlot(m.logPosition, manifest.logPosition!)) found.set(JSON.stringify(m.logPosition), m.logPosition);
      }
    } catch (err) {
      if (!isDbBackupError(err, 'E_NOT_FOUND')) log.warn('could not look for older full backups to release their change capture', { repository: repo.store.location, error: message(err) });
    } finally {
      await repo.close().catch(() => undefined);
    }
  }
  return [...found.values()];
}

/** `a` is older than `b` (by consistent time, then id), as chooseParent orders backups. */
function before(a: Manifest, b: Manifest): boolean {
  const d = Date.parse(a.consistentAt) - Date.parse(b.consistentAt);
  return d < 0 || (d === 0 && a.id < b.id);
}

/** Both positions name the same slot (PostgreSQL's `slot`): the new full still needs it. Opaque otherwise. */
function sameSlot(a: LogPosition, b: LogPosition): boolean {
  return typeof a.slot === 'string' && a.slot === b.slot;
}

/** A position for the log, without bulky fields (SQLite's page map is a part name; nothing secret). */
function describe(p: LogPosition): Record<string, unknown> {
  return Object.fromEntries(Object.entries(p).filter(([, v]) => typeof v === 'string' || typeof v === 'number'));
}

function message(err: unknown): string {
  return String((err as Error)?.message ?? err);
}
