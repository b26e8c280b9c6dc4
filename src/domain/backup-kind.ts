/**
 * A database engine's name. Engines are plugins (see application/ports/connector-plugin.ts): which
 * names exist is known only once the plugins are loaded, so the domain checks the spelling alone.
 */
export type Engine = string;

export const backupKinds = ['full', 'incremental', 'differential'] as const;
export type BackupKind = (typeof backupKinds)[number];

/** Lower-case letters, digits and `-`, starting with a letter (at most 32): `postgres`, `duckdb`. */
export function isEngine(value: string): value is Engine {
  return /^[a-z][a-z0-9-]{0,31}$/.test(value);
}

export function isBackupKind(value: string): value is BackupKind {
  return (backupKinds as readonly string[]).includes(value);
}
