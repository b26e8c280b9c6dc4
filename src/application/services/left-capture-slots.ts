import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { isDbBackupError } from '../../domain/errors.js';
import type { Manifest } from '../../domain/manifest.js';
import type { DatabaseSession } from '../ports/database-session.js';
import type { Logger } from '../ports/logger.js';
import type { PendingSlots, RepositoryDigest } from '../ports/pending-slots.js';
import type { RepositoryOpener } from '../ports/repository-opener.js';
import { scanRepository } from './backup-repository.js';

/**
 * A capture slot (PostgreSQL's logical slot) is created at the start of a full with change
 * capture (`backup --capture changes`, replicate's snapshot), long before the backup that names
 * it is complete; a run killed in between leaves it on the server, where it keeps the log for
 * ever. So each run records the slot's name before creating it (PendingSlots), settles the record
 * when it ends (settle), and the next run of the source drops what a killed run left
 * (dropLeftSlots): a slot recorded by a process that is gone, which no complete backup names.
 */

export interface LeftSlotsDeps {
  /** Absent: nothing is recorded, nothing dropped (tests, embedders without a state folder). */
  pendingSlots?: PendingSlots;
  opener: RepositoryOpener;
  logger: Logger;
}

export interface DroppedSlot {
  slot: string;
  /** The killed run's process. */
  pid: number;
}

/** A repository as PendingSlots records it: a digest of its URL as given, or of a folder's absolute path. */
export function repositoryDigest(repository: string): RepositoryDigest {
  const name = /^[a-z][a-z0-9+.-]*:\/\//i.test(repository) ? repository : resolve(repository);
  return createHash('sha256').update(name).digest('hex').slice(0, 32);
}

/** The slot names a manifest holds as a position (a full's, a segment's start and end). */
export function slotsNamedBy(m: Manifest): string[] {
  return [m.logPosition, m.position?.from, m.position?.to].flatMap((p) => {
    const slot = p && typeof p === 'object' ? (p as { slot?: unknown }).slot : undefined;
    return typeof slot === 'string' ? [slot] : [];
  });
}

/**
 * At the start of a run of `source` into `repositories`: drops each capture slot a run of the
 * same source recorded before creating it and that is now left (its process is gone on this
 * host), when no backup of the source in `repositories` names it. Never drops when it cannot be
 * sure: a record of another host's process or of a run into other repositories stays (said in the
 * log), and so does every record when a repository cannot be read or holds a damaged manifest (it
 * might be the one naming the slot). Only slots a record names are touched, and only dbbackup's
 * (CaptureSlots.dropSlot refuses any other name). Each drop is logged as a warning.
 */
export async function dropLeftSlots(deps: LeftSlotsDeps, session: DatabaseSession, source: string, repositories: readonly string[]): Promise<DroppedSlot[]> {
  const pending = deps.pendingSlots;
  const slots = session.slots;
  if (!pending || !slots) return [];
  const log = deps.logger.child({ source });
  const left = (await pending.list(source).catch(() => [])).filter((r) => r.alive === false);
  if (left.length === 0) return [];
  const ours = new Set(repositories.map(repositoryDigest));
  const covered = left.filter((r) => r.repositories.every((k) => ours.has(k)));
  for (const r of left.filter((x) => !covered.includes(x))) {
    log.warn(`the capture slot ${r.slot} left by a killed run (pid ${r.pid}) was recorded for other repositories; it is kept until a run into those repositories checks it (or drop it: dbbackup slot drop)`, { slot: r.slot, pid: r.pid });
  }
  if (covered.length === 0) return [];
  const named = await namedSlots(deps, source, repositories, log);
  if (!named) return [];
  const dropped: DroppedSlot[] = [];
  for (const r of covered) {
    if (named.has(r.slot)) {
      // Its backup completed before the process died: the slot carries that chain.
      await pending.forget(source, r.slot).catch(() => undefined);
      continue;
    }
    try {
      if (await slots.dropSlot(r.slot)) {
        log.warn(`dropped slot ${r.slot} left by a killed run (pid ${r.pid})`, { slot: r.slot, pid: r.pid, since: r.since });
        dropped.push({ slot: r.slot, pid: r.pid });
      }
      await pending.forget(source, r.slot).catch(() => undefined);
    } catch (err) {
      if (isDbBackupError(err, 'E_USAGE')) {
        // Not a name dbbackup gives its slots: not ours to drop, whatever the record says.
        log.warn(`the record of a killed run (pid ${r.pid}) names ${r.slot}, which is not a dbbackup capture slot; it is left alone`, { slot: r.slot });
        await pending.forget(source, r.slot).catch(() => undefined);
      } else {
        log.warn(`the capture slot ${r.slot} left by a killed run (pid ${r.pid}) could not be dropped; the next run tries again`, { slot: r.slot, error: message(err) });
      }
    }
  }
  return dropped;
}

/** Every slot a backup of `source` in `repositories` names; undefined when one could not be read whole. */
async function namedSlots(deps: LeftSlotsDeps, source: string, repositories: readonly string[], log: Logger): Promise<Set<string> | undefined> {
  const named = new Set<string>();
  for (const url of repositories) {
    let repo;
    try {
      repo = await deps.opener.open(url, 'read');
    } catch (err) {
      // No repository yet (a run killed before it made one): it names nothing.
      if (isDbBackupError(err, 'E_NOT_FOUND')) continue;
      log.warn('capture slots left by killed runs are kept: a repository could not be read to tell whether a backup names them', { error: message(err) });
      return undefined;
    }
    try {
      const { manifests, damaged } = await scanRepository(repo.store, { source });
      if (damaged.length) {
        log.warn('capture slots left by killed runs are kept: the repository holds damaged manifests, one of which might name them', { repository: repo.store.location, damaged: damaged.length });
        return undefined;
      }
      for (const m of manifests) for (const s of slotsNamedBy(m)) named.add(s);
    } catch (err) {
      if (isDbBackupError(err, 'E_NOT_FOUND')) continue;
      log.warn('capture slots left by killed runs are kept: a repository could not be read to tell whether a backup names them', { repository: repo.store.location, error: message(err) });
      return undefined;
    } finally {
      await repo.close().catch(() => undefined);
    }
  }
  return named;
}

/**
 * The capture slots one run creates, each recorded (PendingSlots) before it is: `beforeSlot` is
 * DumpRequest.beforeSlot. settle() at the run's end (or once its snapshot is complete) forgets the
 * record of a slot a complete backup of the run names; any other slot of the run is dropped at
 * once when no backup in the run's repositories names it (a target that failed may still have
 * completed before), else its record stays for the next run.
 */
export class RunSlots {
  private readonly recorded = new Set<string>();
  readonly beforeSlot: (slot: string) => Promise<void>;

  constructor(
    private readonly deps: LeftSlotsDeps,
    private readonly source: string,
    private readonly repositories: readonly string[],
  ) {
    const keys = repositories.map(repositoryDigest);
    this.beforeSlot = async (slot) => {
      if (!deps.pendingSlots) return;
      await deps.pendingSlots.record(source, slot, keys);
      this.recorded.add(slot);
    };
  }

  /** `complete`: manifests of the run known complete (in at least one target). */
  async settle(session: DatabaseSession | undefined, complete: readonly Manifest[]): Promise<void> {
    const pending = this.deps.pendingSlots;
    if (!pending || this.recorded.size === 0) return;
    const log = this.deps.logger.child({ source: this.source });
    const known = new Set(complete.flatMap(slotsNamedBy));
    const rest = [...this.recorded].filter((s) => !known.has(s));
    const named = rest.length && session?.slots ? await namedSlots(this.deps, this.source, this.repositories, log) : undefined;
    for (const slot of [...this.recorded]) {
      if (!known.has(slot) && !named?.has(slot)) {
        // Unknown whether a backup names it (a repository could not be read): the next run decides.
        if (!named) continue;
        const dropped = await session!.slots!.dropSlot(slot).then(
          () => true,
          (err: unknown) => {
            log.warn(`the capture slot ${slot} of this run, which no complete backup names, could not be dropped; the next run of the source drops it`, { error: message(err) });
            return false;
          },
        );
        if (!dropped) continue;
      }
      this.recorded.delete(slot);
      await pending.forget(this.source, slot).catch(() => undefined);
    }
  }
}

function message(err: unknown): string {
  return String((err as Error)?.message ?? err);
}
