import fc from 'fast-check';
import type { BackupKind } from '../../../src/domain/backup-kind.js';
import type { ChainMember } from '../../../src/domain/chain-graph.js';
import { chooseParent } from '../../../src/domain/chain-parent.js';

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

export const START = Date.parse('2026-01-01T00:00:00Z');
export const HOUR = 3600e3;

export type Step = { kind: BackupKind | 'segment'; replay: boolean; bytes: number };

/**
 * A repository as dbbackup would write it, one backup an hour: parents chosen by chooseParent
 * (segments follow the newest link), replayable links restorable from their parent's point; then
 * some backups deleted to break chains.
 */
export function repository(steps: Step[], dropped: number[]): ChainMember[] {
  const out: ChainMember[] = [];
  steps.forEach((s, n) => {
    const iso = new Date(START + n * HOUR).toISOString();
    const tag = `t${String(n).padStart(3, '0')}`;
    if (s.kind === 'full' || out.length === 0) return void out.push(member(iso, 'full', null, { bytes: s.bytes * 10, tag }));
    const kind = s.kind === 'segment' ? 'incremental' : s.kind;
    const parent =
      s.kind === 'segment'
        ? out.reduce((a, b) => (b.consistentAt > a.consistentAt ? b : a))
        : s.kind === 'differential' && !out.some((b) => b.kind === 'full')
          ? undefined
          : chooseParent(kind, out)!.parent;
    if (!parent) return;
    out.push(member(iso, kind, parent, { bytes: s.bytes, tag, continuous: s.kind === 'segment', from: s.replay ? parent.consistentAt : undefined }));
  });
  return out.filter((_, i) => !dropped.includes(i));
}

export const steps = fc.array(
  fc.record({
    kind: fc.constantFrom<Step['kind']>('full', 'incremental', 'incremental', 'differential', 'segment'),
    replay: fc.boolean(),
    bytes: fc.integer({ min: 1, max: 50 }),
  }),
  { minLength: 1, maxLength: 25 },
);

