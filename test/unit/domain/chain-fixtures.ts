import type { BackupKind } from '../../../src/domain/backup-kind.js';
import type { ChainMember } from '../../../src/domain/chain-graph.js';

/** `2026-01-01T06:00:00Z` → `20260101T060000Z-<kind>-<tag>` (ids sort by time, like real ones). */
export function idAt(iso: string, kind: BackupKind, tag = 'aaaa'): string {
  return `${new Date(iso).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')}-${kind}-${tag}`;
}

export interface MemberOptions {
  bytes?: number;
  /** Restorable from this instant (a replayable range ending at `iso`). */
  from?: string;
  continuous?: boolean;
  tag?: string;
  position?: { from: unknown; to: unknown };
  generation?: string;
  source?: string;
}

/** A backup consistent at `iso`; restorable to exactly that instant unless `from` is given. */
export function member(iso: string, kind: BackupKind, parent: ChainMember | string | null, o: MemberOptions = {}): ChainMember {
  const at = new Date(iso).toISOString();
  return {
    id: idAt(iso, kind, o.tag),
    source: o.source ?? 'app',
    kind,
    parent: typeof parent === 'string' || parent === null ? parent : parent.id,
    consistentAt: at,
    restorable: { from: o.from ? new Date(o.from).toISOString() : at, to: at },
    storedBytes: o.bytes ?? 100,
    ...(o.continuous ? { continuous: true } : {}),
    ...(o.position ? { position: o.position } : {}),
    ...(o.generation ? { generation: o.generation } : {}),
  };
}

export const ids = (xs: readonly { id: string }[]) => xs.map((x) => x.id);
