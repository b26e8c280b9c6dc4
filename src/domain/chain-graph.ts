import { type BackupSummary, resolveChain } from './chain.js';
import { DbBackupError } from './errors.js';
import { type Manifest, totalStoredSize } from './manifest.js';
import type { PositionRange, RestorableRange } from './manifest-chain.js';

/** What chain planning needs of a backup; `chainMemberOf` makes one from a manifest. */
export interface ChainMember extends BackupSummary {
  /** ISO 8601: the instant the backup's state is consistent at. */
  consistentAt: string;
  restorable?: RestorableRange;
  position?: PositionRange;
  continuous?: boolean;
  generation?: string;
  /** Bytes stored in the repository (what a restore fetches). */
  storedBytes: number;
}

export function chainMemberOf(m: Manifest): ChainMember & { manifest: Manifest } {
  return {
    id: m.id,
    source: m.source,
    kind: m.kind,
    parent: m.parent,
    consistentAt: m.consistentAt,
    restorable: m.restorable,
    position: m.position,
    continuous: m.continuous,
    generation: m.generation,
    storedBytes: totalStoredSize(m),
    manifest: m,
  };
}

/** The range a backup restores to, in ms; a format-1 manifest restores to exactly its consistentAt. */
export function restorableOf(b: Pick<ChainMember, 'consistentAt' | 'restorable'>): { from: number; to: number } {
  if (b.restorable) return { from: Date.parse(b.restorable.from), to: Date.parse(b.restorable.to) };
  const t = Date.parse(b.consistentAt);
  return { from: t, to: t };
}

/** The cheapest way found to restore a member: fewest stored bytes, then fewest links. */
export interface ChainPath<T> {
  bytes: number;
  links: number;
  /** The link before it on that path; null for a full. */
  prev: T | null;
}

/** Position in the chain shape: full, at most one differential, incrementals, then segments. */
function rank(b: ChainMember): number {
  if (b.kind === 'full') return 0;
  if (b.kind === 'differential') return 1;
  return b.continuous ? 3 : 2;
}

/** True when `next` may be applied on the state `prev` reaches (the shape rule; linking is separate). */
export function mayFollow(prev: ChainMember, next: ChainMember): boolean {
  const r = rank(next);
  if (r === 0) return false;
  if (r === 1) return prev.kind === 'full';
  return rank(prev) <= r;
}

/** Canonical JSON (sorted object keys), so `{a,b}` and `{b,a}` positions compare equal. */
export function positionKey(position: unknown): string {
  return JSON.stringify(position, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function endKey(b: ChainMember): string | undefined {
  if (b.position?.to === undefined || b.position.to === null) return undefined;
  return `${b.source}\u0000${b.generation ?? ''}\u0000${positionKey(b.position.to)}`;
}

/**
 * The links each member may follow: its parent by id, and for a continuous segment also every
 * member of the same source and generation whose position ends where the segment starts (so a
 * segment still links after the segments before it were compacted into one).
 */
function predecessors<T extends ChainMember>(members: readonly T[]): Map<string, T[]> {
  const byId = new Map(members.map((b) => [b.id, b]));
  const byEnd = new Map<string, T[]>();
  for (const b of members) {
    const k = endKey(b);
    if (k !== undefined) byEnd.set(k, [...(byEnd.get(k) ?? []), b]);
  }
  const preds = new Map<string, T[]>();
  for (const b of members) {
    const found = new Set<T>();
    const parent = b.parent === null ? undefined : byId.get(b.parent);
    if (parent) found.add(parent);
    if (b.continuous && b.position?.from !== undefined && b.position.from !== null) {
      const k = `${b.source}\u0000${b.generation ?? ''}\u0000${positionKey(b.position.from)}`;
      for (const p of byEnd.get(k) ?? []) found.add(p);
    }
    preds.set(b.id, [...found].filter((p) => p !== b && mayFollow(p, b)));
  }
  return preds;
}

const cheaper = (a: { bytes: number; links: number }, b: { bytes: number; links: number }) =>
  a.bytes < b.bytes || (a.bytes === b.bytes && a.links < b.links);

/**
 * The cheapest restore path to every member reachable from a full (a member missing from the map
 * has a broken chain). Relaxes links in time order until nothing improves: one pass when parents
 * are older than their children, more only for odd data; every link adds one, so loops never pay.
 */
export function cheapestPaths<T extends ChainMember>(members: readonly T[]): Map<string, ChainPath<T>> {
  const preds = predecessors(members);
  const ordered = [...members].sort((a, b) => Date.parse(a.consistentAt) - Date.parse(b.consistentAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const best = new Map<string, ChainPath<T>>();
  for (const b of ordered) if (b.kind === 'full') best.set(b.id, { bytes: b.storedBytes, links: 1, prev: null });
  for (let pass = 0, changed = true; changed && pass <= members.length; pass++) {
    changed = false;
    for (const b of ordered) {
      if (b.kind === 'full') continue;
      for (const p of preds.get(b.id)!) {
        const base = best.get(p.id);
        if (!base) continue;
        const candidate = { bytes: base.bytes + b.storedBytes, links: base.links + 1, prev: p };
        const current = best.get(b.id);
        if (!current || cheaper(candidate, current)) {
          best.set(b.id, candidate);
          changed = true;
        }
      }
    }
  }
  return best;
}

/**
 * The ids of the members that come before any of `of` on some chain: the links they may follow
 * (predecessors), those links' own, and so on. Restoring one of `of` applies what each of those
 * reaches, and more.
 */
export function ancestorsOf<T extends ChainMember>(members: readonly T[], of: readonly T[]): Set<string> {
  const preds = predecessors(members);
  const seen = new Set<string>();
  const todo = of.flatMap((m) => preds.get(m.id) ?? []);
  for (let p = todo.pop(); p; p = todo.pop()) {
    if (seen.has(p.id)) continue;
    seen.add(p.id);
    todo.push(...(preds.get(p.id) ?? []));
  }
  return seen;
}

/** The links of `target`'s cheapest path, oldest (the full) first. */
export function pathTo<T extends ChainMember>(paths: ReadonlyMap<string, ChainPath<T>>, target: T): T[] {
  const chain = [target];
  for (let p = paths.get(target.id)?.prev; p; p = paths.get(p.id)?.prev) chain.unshift(p);
  return chain;
}

/**
 * The error that says why `target` has no path from a full: E_BACKUP_NOT_FOUND naming the missing
 * link, or E_FOREIGN_ARCHIVE for a parentless link, a loop, or a link that may not follow its parent.
 */
export function brokenChainError(members: readonly ChainMember[], target: ChainMember): DbBackupError {
  let chain: ChainMember[];
  try {
    chain = resolveChain(members, target);
  } catch (err) {
    if (err instanceof DbBackupError) return err;
    throw err;
  }
  for (let i = 1; i < chain.length; i++) {
    const [prev, next] = [chain[i - 1]!, chain[i]!];
    if (!mayFollow(prev, next)) {
      return new DbBackupError(
        'E_FOREIGN_ARCHIVE',
        `Backup ${next.id} (${describeKind(next)}) cannot follow its parent ${prev.id} (${describeKind(prev)}); the chain of ${target.id} is malformed.`,
        { details: { backup: target.id, link: next.id, parent: prev.id } },
      );
    }
  }
  return new DbBackupError('E_INTERNAL', `Backup ${target.id} has a chain but no restore path; this is a bug in dbbackup.`);
}

export function describeKind(b: Pick<ChainMember, 'kind' | 'continuous'>): string {
  return b.continuous ? 'log segment' : b.kind;
}
