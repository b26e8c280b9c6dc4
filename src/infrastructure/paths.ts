import { homedir, platform } from 'node:os';
import { join } from 'node:path';

/** The folder for the catalog and other state: --data-dir > DBBACKUP_DATA_DIR > platform convention (XDG on Linux). */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DBBACKUP_DATA_DIR) return env.DBBACKUP_DATA_DIR;
  switch (platform()) {
    case 'darwin':
      return join(homedir(), 'Library', 'Application Support', 'dbbackup');
    case 'win32':
      return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'dbbackup');
    default:
      return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'dbbackup');
  }
}

export function catalogFile(dataDir: string): string {
  return join(dataDir, 'catalog.db');
}
