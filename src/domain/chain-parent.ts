import type { BackupKind } from './backup-kind.js';
import { brokenChainError, type ChainMember, cheapestPaths, pathTo } from './chain-graph.js';
import { DbBackupError } from './errors.js';

export interface ParentChoice<T> {
  /** The backup the new one records its changes against. */
  parent: T;
  /** The full the chain starts from (the parent itself when it is a full). */
  baseFull: T;
  /** The parent's restore chain, oldest first: `[baseFull, …, parent]`. */
  chain: T[];
}

const FIX = 'Take a full backup instead (`--type full`), or pass `--auto-full` to take a full whenever no parent is usable.';

/**
 * The parent of a new backup of `kind`, among the complete backups of ONE source in one repository:
 * an incremental's is the newest backup of any kind (by consistent time, then id), a differential's
 * the newest full; null for a full. Continuous log segments are never parents: they hold no page
 * map or snapshot to compare with. The parent's chain must be intact; otherwise, or when there is
 * no candidate, throws E_NO_PARENT naming what is missing and the fix. It never falls back to an
 * older parent: "changes since the newest backup" is what the user asked for.
 */
export function chooseParent<T extends ChainMember>(kind: BackupKind, backups: readonly T[]): ParentChoice<T> | null {
  if (kind === 'full') return null;
  const eligible = backups.filter((b) => !b.continuous && (kind === 'incremental' || b.kind === 'full'));
  const source = backups[0]?.source;
  const what = `${kind === 'incremental' ? 'An incremental' : 'A differential'} backup${source ? ` of "${source}"` : ''}`;
  if (eligible.length === 0) {
    const missing = kind === 'incremental' ? 'no complete backup' : 'no complete full backup';
    throw new DbBackupError('E_NO_PARENT', `${what} needs a parent, but the repository holds ${missing} of that source. ${FIX}`, {
      details: { kind, source, missing: kind === 'incremental' ? 'backup' : 'full' },
    });
  }
  const parent = eligible.reduce((a, b) => (newer(b, a) ? b : a));
  const paths = cheapestPaths(backups);
  if (!paths.has(parent.id)) {
    const cause = brokenChainError(backups, parent);
    throw new DbBackupError('E_NO_PARENT', `${what} cannot use ${parent.id} as its parent: ${cause.message} ${FIX}`, {
      cause,
      details: { kind, source, parent: parent.id, ...cause.details },
    });
  }
  const chain = pathTo(paths, parent);
  return { parent, baseFull: chain[0]!, chain };
}

function newer(a: ChainMember, b: ChainMember): boolean {
  const d = Date.parse(a.consistentAt) - Date.parse(b.consistentAt);
  return d > 0 || (d === 0 && a.id > b.id);
}
