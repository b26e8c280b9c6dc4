export const engines = ['sqlite', 'postgres', 'mysql', 'mongodb'] as const;
export type Engine = (typeof engines)[number];

export const backupKinds = ['full', 'incremental', 'differential'] as const;
export type BackupKind = (typeof backupKinds)[number];

export function isEngine(value: string): value is Engine {
  return (engines as readonly string[]).includes(value);
}

export function isBackupKind(value: string): value is BackupKind {
  return (backupKinds as readonly string[]).includes(value);
}
