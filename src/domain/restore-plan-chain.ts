import { ancestorsOf, brokenChainError, type ChainMember, type ChainPath, cheapestPaths, pathTo, restorableOf } from './chain-graph.js';
import { selectBackup } from './chain.js';
import { DbBackupError } from './errors.js';
import { describeWindows, isInWindow, type RestorableWindow, restorableWindows } from './restorable-windows.js';

export interface ChainRestoreRequest {
  /** Restore the newest state at or before this instant; `latest` (the default) = newest restorable point. */
  at?: Date | 'latest';
  /** Restore this backup (an id, a unique prefix or `latest`) with its whole chain; with `at`, up to `at` within its range. */
  backupId?: string;
  /** When given, an `at` later than it is refused (E_USAGE): a time in the future is a typo. */
  now?: Date;
}

export interface ChainRestorePlan<T> {
  /** What to apply, oldest first: a full, at most one differential, incrementals, then log segments. */
  links: T[];
  baseFull: T;
  /** The last link. */
  target: T;
  /**
   * ISO instant the restored state is consistent at: the last link's end, or TIME itself inside a
   * replayable range (the engine replays every commit at or before it and reports the last one).
   */
  point: string;
  /** Replay the last link only up to this instant; null = apply it whole. */
  stopAt: string | null;
  /** Sum of the links' stored bytes: what "cheapest" minimises (then the number of links). */
  storedBytes: number;
  /** False when TIME fell in a gap between windows (so `point` is the end of the window before it). */
  inWindow: boolean;
  windows: RestorableWindow[];
}

/**
 * Plans a restore over the complete backups of ONE source. With `at`, the target is the backup
 * whose range reaches the newest point at or before `at`; among backups reaching the same point,
 * never one that another of them follows on its chain (that one holds the same instant's later
 * commits too), then the one with the cheapest chain (fewest stored bytes, then fewest links). With `backupId`, that
 * backup and its cheapest chain. Throws E_NO_RESTORE_POINT (naming the windows) for a time before
 * every restorable point, E_BACKUP_NOT_FOUND naming the missing link when the newest point at or
 * before `at` lies on a broken chain (it never silently restores an older state instead; the
 * message names the newest intact point), E_FOREIGN_ARCHIVE for a malformed chain.
 */
export function planChainRestore<T extends ChainMember>(backups: readonly T[], request: ChainRestoreRequest = {}): ChainRestorePlan<T> {
  const at = request.at ?? 'latest';
  if (at !== 'latest') checkTime(at, request.now);
  if (backups.length === 0) {
    throw new DbBackupError('E_BACKUP_NOT_FOUND', 'The repository holds no complete backup of that source; run `dbbackup backup` first.');
  }
  const paths = cheapestPaths(backups);
  const windows = restorableWindows(backups, paths);
  const target = request.backupId === undefined ? newestTarget(backups, at, paths, windows) : selectBackup(backups, request.backupId);
  if (!paths.has(target.id)) throw brokenChainError(backups, target);
  const point = pointOf(target, at);
  if (point === undefined) {
    const r = restorableOf(target);
    throw new DbBackupError(
      'E_NO_RESTORE_POINT',
      `Backup ${target.id} restores to ${describeWindows([{ from: iso(r.from), to: iso(r.to) }])}, not to ${iso((at as Date).getTime())} or earlier.`,
      { details: { backup: target.id, at: iso((at as Date).getTime()) } },
    );
  }
  const links = pathTo(paths, target);
  return {
    links,
    baseFull: links[0]!,
    target,
    point: iso(point),
    stopAt: point < restorableOf(target).to ? iso(point) : null,
    storedBytes: paths.get(target.id)!.bytes,
    inWindow: at === 'latest' || request.backupId !== undefined || isInWindow(windows, at),
    windows,
  };
}

/** The newest point `b` restores to at or before `at`, in ms; undefined when its range starts after `at`. */
function pointOf(b: ChainMember, at: Date | 'latest'): number | undefined {
  const r = restorableOf(b);
  if (at === 'latest') return r.to;
  const t = at.getTime();
  return t < r.from ? undefined : Math.min(t, r.to);
}

function newestTarget<T extends ChainMember>(
  backups: readonly T[],
  at: Date | 'latest',
  paths: ReadonlyMap<string, ChainPath<T>>,
  windows: RestorableWindow[],
): T {
  const scored = backups.flatMap((b) => {
    const point = pointOf(b, at);
    return point === undefined ? [] : [{ b, point, path: paths.get(b.id) }];
  });
  const asked = at === 'latest' ? 'the newest point' : `${iso(at.getTime())} or earlier`;
  if (scored.length === 0) {
    throw new DbBackupError('E_NO_RESTORE_POINT', `No backup restores to ${asked}; the restorable windows are: ${describeWindows(windows)}.`, {
      details: { at: at === 'latest' ? at : iso(at.getTime()), windows },
    });
  }
  const best = Math.max(...scored.map((s) => s.point));
  const atBest = scored.filter((s) => s.point === best);
  const reaching = atBest.filter((s) => s.path !== undefined);
  // A link reaching the same point as one after it on its chain holds less: the later one's first
  // commits may carry that very instant (times are whole milliseconds, and a segment starts where
  // the one before it ended), so restoring the earlier one would silently leave them out.
  const before = reaching.length > 1 ? ancestorsOf(backups, reaching.map((s) => s.b)) : new Set<string>();
  const last = reaching.filter((s) => !before.has(s.b.id));
  const intact = last.length > 0 ? last : reaching;
  if (intact.length > 0) {
    return intact.reduce((a, s) =>
      s.path!.bytes < a.path!.bytes || (s.path!.bytes === a.path!.bytes && s.path!.links < a.path!.links) ? s : a,
    ).b;
  }
  const broken = atBest.reduce((a, s) => (s.b.id > a.b.id ? s : a)).b;
  const cause = brokenChainError(backups, broken);
  const fallback = scored.filter((s) => s.path !== undefined).map((s) => s.point);
  const hint = fallback.length
    ? ` The newest intact point at or before it is ${iso(Math.max(...fallback))}: restore with \`--at ${iso(Math.max(...fallback))}\` to accept losing what came after.`
    : ` No intact chain reaches ${asked}.`;
  throw new DbBackupError(cause.code, `${cause.message}${hint}`, { cause, details: { ...cause.details, newestPoint: iso(best) } });
}

function checkTime(at: Date, now: Date | undefined): void {
  if (Number.isNaN(at.getTime())) throw new DbBackupError('E_USAGE', 'The restore time is not a valid date.');
  if (now && at.getTime() > now.getTime()) {
    throw new DbBackupError('E_USAGE', `The restore time ${iso(at.getTime())} is in the future (now is ${now.toISOString()}); check the date and --time-zone.`);
  }
}

const iso = (t: number) => new Date(t).toISOString();
