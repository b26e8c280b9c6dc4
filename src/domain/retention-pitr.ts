import { type ChainMember, cheapestPaths, pathTo, restorableOf } from './chain-graph.js';
import { parseDuration, subtractDuration } from './duration.js';
import type { RestorableRange, PositionRange } from './manifest-chain.js';
import type { BackupKind } from './backup-kind.js';

/** The chain facts keep-pitr needs of a retention candidate; absent ones read as a format-1 backup. */
export interface PitrCandidate {
  id: string;
  kind: BackupKind;
  parent: string | null;
  startedAt: string;
  /** Defaults to startedAt. */
  consistentAt?: string;
  restorable?: RestorableRange;
  position?: PositionRange;
  continuous?: boolean;
  generation?: string;
  storedBytes?: number;
}

export interface PitrKeep {
  /** The backups a restore to any instant of [now − duration, now] needs. */
  keep: Set<string>;
  /** Each intact backup's previous link on its cheapest chain (covers segments linked by position). */
  previous: Map<string, string>;
}

/**
 * `keep-pitr D`: keeps what a restore to any instant in the last D needs, so that after pruning
 * `restore --at T` reaches the same point as before for every T in [now − D, now]. That is the
 * cheapest chain reaching the newest point at or before now − D (the anchor), plus every backup
 * whose restorable range ends after now − D with its cheapest chain, plus every backup with a
 * broken chain that ends at or after the anchor (the chain rules warn about those).
 */
export function planPitrKeep(candidates: readonly PitrCandidate[], duration: string, now: Date): PitrKeep {
  const cutoff = subtractDuration(now.getTime(), parseDuration(duration, 'keep-pitr'));
  const members: ChainMember[] = candidates.map((c) => ({
    id: c.id,
    source: '',
    kind: c.kind,
    parent: c.parent,
    consistentAt: c.consistentAt ?? c.startedAt,
    restorable: c.restorable,
    position: c.position,
    continuous: c.continuous,
    generation: c.generation,
    storedBytes: c.storedBytes ?? 0,
  }));
  const paths = cheapestPaths(members);
  const keep = new Set<string>();
  const keepChain = (m: ChainMember) => {
    if (paths.has(m.id)) for (const link of pathTo(paths, m)) keep.add(link.id);
    else keep.add(m.id);
  };
  let anchor: { m: ChainMember; point: number } | undefined;
  for (const m of members) {
    const r = restorableOf(m);
    if (r.to > cutoff) keepChain(m);
    else if (paths.has(m.id) && (!anchor || r.to > anchor.point || (r.to === anchor.point && cheaperPath(paths, m, anchor.m)))) {
      anchor = { m, point: r.to };
    }
  }
  if (anchor) keepChain(anchor.m);
  // A broken backup newer than the anchor makes `restore --at` fail rather than silently restore
  // an older state; deleting it would turn that error into the older state, so it stays.
  for (const m of members) if (!paths.has(m.id) && restorableOf(m).to >= (anchor?.point ?? -Infinity)) keep.add(m.id);
  const previous = new Map<string, string>();
  for (const [id, p] of paths) if (p.prev) previous.set(id, p.prev.id);
  return { keep, previous };
}

function cheaperPath(paths: ReturnType<typeof cheapestPaths>, a: ChainMember, b: ChainMember): boolean {
  const [pa, pb] = [paths.get(a.id)!, paths.get(b.id)!];
  return pa.bytes < pb.bytes || (pa.bytes === pb.bytes && pa.links < pb.links);
}
