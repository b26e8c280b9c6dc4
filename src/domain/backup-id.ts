import { type BackupKind, isBackupKind } from './backup-kind.js';

/**
 * Backup ids sort by time as plain strings: `20261125T020000Z-full-ab12`.
 * The 4 random characters keep two backups started in the same second apart.
 */
const ID_PATTERN = /^(\d{8}T\d{6}Z)-(full|incremental|differential)-([a-z0-9]{4})$/;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export function newBackupId(at: Date, kind: BackupKind, random: () => number = Math.random): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  let suffix = '';
  for (let i = 0; i < 4; i++) suffix += ALPHABET[Math.floor(random() * ALPHABET.length) % ALPHABET.length];
  return `${stamp}-${kind}-${suffix}`;
}

export interface ParsedBackupId {
  startedAt: Date;
  kind: BackupKind;
}

/** Returns undefined when `id` is not a backup id (for example a folder left by another tool). */
export function parseBackupId(id: string): ParsedBackupId | undefined {
  const m = ID_PATTERN.exec(id);
  if (!m) return undefined;
  const s = m[1]!;
  const iso = `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`;
  const kind = m[2]!;
  if (!isBackupKind(kind)) return undefined;
  return { startedAt: new Date(iso), kind };
}

export function isBackupId(id: string): boolean {
  return parseBackupId(id) !== undefined;
}

/** Orders ids oldest first; equal to time order because the id starts with a UTC stamp. */
export function compareBackupIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
