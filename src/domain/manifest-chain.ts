import { isBackupId } from './backup-id.js';
import type { BackupKind } from './backup-kind.js';

/**
 * The chain fields of a manifest (format 2). All optional: a format-1 manifest has none of them and
 * reads as a full or a link that restores to exactly its `consistentAt`.
 *
 * Continuous log segments (what `replicate` ships) are `kind: 'incremental'` with `continuous: true`,
 * not a fourth kind. A segment IS an incremental — the changes since the state its parent reached —
 * so everything that walks incrementals (resolveChain, verify of a chain, prune's chain protection,
 * restore's apply loop) handles segments with no new case, the backup id pattern and the
 * user-facing `--type full|incremental|differential` vocabulary stay as they are. The flag adds only
 * what differs: a segment may only be followed by other segments (the chain shape is full, at most
 * one differential, incrementals, then segments), it is never chosen as the parent of a new
 * incremental (it carries no page map or snapshot to diff against), and it links to the link before
 * it by position as well as by id, so compacting several segments into one keeps the chain whole.
 */
export interface ManifestChainFields {
  /** The engine position range the backup covers; `from` is null for a full. */
  position?: PositionRange;
  /** The wall-clock range it can restore to (see RestorableRange). */
  restorable?: RestorableRange;
  /** A continuous log segment shipped by `replicate` (kind is then `incremental`). */
  continuous?: boolean;
  /**
   * Replication generation: changes when the source file is replaced (a restore by someone else)
   * and a new snapshot starts; positions only compare within one generation.
   */
  generation?: string;
  /** Set when `--auto-full` took a full instead of the kind asked for, and why. */
  fallback?: { requested: Exclude<BackupKind, 'full'>; reason: string };
}

/**
 * Engine-opaque positions, compared only for equality (as canonical JSON): a page map reference,
 * an LSN range, binlog coordinates or GTID sets, oplog timestamps, a WAL offset.
 */
export interface PositionRange {
  /** Where the changes start: the parent's `to`. Null for a full. */
  from: unknown;
  /** The position the backup's state is consistent at. */
  to: unknown;
}

/**
 * ISO 8601 instants. A full restores to exactly its consistentAt (`from === to`). An incremental or
 * continuous segment of an engine with point-in-time replay restores to any commit in [from, to],
 * where `from` is the instant its parent's state is consistent at (so contiguous links touch);
 * without replay, only to its end (`from === to`).
 */
export interface RestorableRange {
  from: string;
  to: string;
}

const GENERATION = /^[A-Za-z0-9._-]{1,100}$/;

/**
 * Validates the chain fields of a parsed manifest object; calls `bad(field)` (which throws) on the
 * first malformed one. `parent`/`baseFull` were written as null by format 1, so absent or null passes.
 */
export function checkChainFields(m: Record<string, unknown>, bad: (field: string) => never): void {
  for (const f of ['parent', 'baseFull'] as const) {
    const v = m[f];
    if (v !== undefined && v !== null && (typeof v !== 'string' || !isBackupId(v))) bad(f);
  }
  if (m.kind === 'full' && (m.parent ?? null) !== null) bad('parent');
  if (m.position !== undefined) {
    const p = m.position as Record<string, unknown> | null;
    if (typeof p !== 'object' || p === null || Array.isArray(p)) bad('position');
    if (p!.to === undefined || p!.to === null) bad('position.to');
    if (m.kind === 'full' && p!.from !== undefined && p!.from !== null) bad('position.from');
  }
  if (m.restorable !== undefined) checkRestorable(m, bad);
  if (m.continuous !== undefined && (typeof m.continuous !== 'boolean' || (m.continuous && m.kind !== 'incremental'))) bad('continuous');
  if (m.generation !== undefined && (typeof m.generation !== 'string' || !GENERATION.test(m.generation))) bad('generation');
  if (m.fallback !== undefined) {
    const f = m.fallback as Record<string, unknown> | null;
    if (typeof f !== 'object' || f === null || m.kind !== 'full') bad('fallback');
    if (f!.requested !== 'incremental' && f!.requested !== 'differential') bad('fallback.requested');
    if (typeof f!.reason !== 'string') bad('fallback.reason');
  }
}

function checkRestorable(m: Record<string, unknown>, bad: (field: string) => never): void {
  const r = m.restorable as Record<string, unknown> | null;
  if (typeof r !== 'object' || r === null) bad('restorable');
  const from = typeof r!.from === 'string' ? Date.parse(r!.from) : NaN;
  const to = typeof r!.to === 'string' ? Date.parse(r!.to) : NaN;
  if (Number.isNaN(from)) bad('restorable.from');
  if (Number.isNaN(to) || to < from) bad('restorable.to');
  if (m.kind === 'full' && from !== to) bad('restorable');
}
