import { compareBackupIds } from './backup-id.js';
import { DbBackupError } from './errors.js';
import type { Manifest } from './manifest.js';

export interface BackupSummary {
  id: string;
  source: string;
  kind: Manifest['kind'];
  parent: string | null;
}

/**
 * Orders backups oldest first: by start time when known (milliseconds; an id only carries the second,
 * so two backups of one second would otherwise be ordered by their random suffix), then by id.
 */
export function compareBackups(a: { id: string; startedAt?: string }, b: { id: string; startedAt?: string }): number {
  if (a.startedAt !== undefined && b.startedAt !== undefined) {
    const byTime = Date.parse(a.startedAt) - Date.parse(b.startedAt);
    if (byTime !== 0 && !Number.isNaN(byTime)) return byTime;
  }
  return compareBackupIds(a.id, b.id);
}

/** Picks `latest` (the newest backup, see compareBackups) or the exact id among a source's backups. */
export function selectBackup<T extends { id: string; startedAt?: string }>(backups: readonly T[], selector: string): T {
  if (backups.length === 0) {
    throw new DbBackupError('E_BACKUP_NOT_FOUND', 'The repository holds no complete backup; run `dbbackup backup` first.');
  }
  if (selector === 'latest') {
    return [...backups].sort(compareBackups).at(-1)!;
  }
  const exact = backups.filter((b) => b.id === selector);
  if (exact.length === 1) return exact[0]!;
  const prefixed = backups.filter((b) => b.id.startsWith(selector));
  if (prefixed.length === 1) return prefixed[0]!;
  if (prefixed.length > 1) {
    throw new DbBackupError('E_USAGE', `Backup id "${selector}" is ambiguous: it matches ${prefixed.length} backups; give more characters.`);
  }
  throw new DbBackupError('E_BACKUP_NOT_FOUND', `No complete backup with id "${selector}"; run \`dbbackup list\` to see the ids.`);
}

/**
 * The backups a restore of `target` needs, oldest first: its full, then each link to it.
 * Throws E_BACKUP_NOT_FOUND naming the missing link when the chain is broken.
 */
export function resolveChain<T extends BackupSummary>(all: readonly T[], target: T): T[] {
  const byId = new Map(all.map((b) => [b.id, b]));
  const chain: T[] = [target];
  let current = target;
  while (current.kind !== 'full') {
    if (current.parent === null) {
      throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${current.id} is ${current.kind} but names no parent.`);
    }
    const parent = byId.get(current.parent);
    if (!parent) {
      throw new DbBackupError(
        'E_BACKUP_NOT_FOUND',
        `Backup ${target.id} needs ${current.parent}, which is missing from the repository; the chain is broken.`,
        { details: { backup: target.id, missing: current.parent } },
      );
    }
    if (chain.includes(parent)) throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup chain of ${target.id} loops at ${parent.id}.`);
    chain.unshift(parent);
    current = parent;
  }
  return chain;
}
