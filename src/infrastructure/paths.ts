import { existsSync, readFileSync } from 'node:fs';
import { homedir, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/**
 * A file shipped in the package (package.json, drizzle/ migrations), found from the code's own
 * location whether it runs as compiled modules (dist/…/x.js), as the bundle (dist/bundle/) or as
 * sources under test (src/…/x.ts): the nearest folder upwards with dbbackup's package.json.
 */
export function packagePath(...segments: string[]): string {
  if (!root) {
    let dir = dirname(fileURLToPath(import.meta.url));
    for (;;) {
      const pkg = join(dir, 'package.json');
      if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'dbbackup') break;
      const up = dirname(dir);
      if (up === dir) throw new Error(`dbbackup's package.json was not found above ${fileURLToPath(import.meta.url)}`);
      dir = up;
    }
    root = dir;
  }
  return join(root, ...segments);
}

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

/** The folder for log files: XDG_STATE_HOME on Linux, the platform's convention elsewhere. */
export function defaultLogDir(env: NodeJS.ProcessEnv): string {
  if (platform() === 'darwin') return join(homedir(), 'Library', 'Logs', 'dbbackup');
  if (platform() === 'win32') return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'dbbackup', 'logs');
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'dbbackup', 'logs');
}
