import { existsSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ConnectorPlugin } from '../../application/ports/connector-plugin.js';
import { DbBackupError } from '../../domain/errors.js';
import { checkPlugin } from './plugin-check.js';

export const PLUGIN_PREFIX = 'dbbackup-connector-';

export interface PluginSearch {
  /** The config's `plugins:` entries: package names, or paths (relative to `baseDir`). */
  configured: readonly string[];
  /** Where relative `plugins:` paths and configured package names are resolved from (the config file's folder). */
  baseDir: string;
  /** Folders whose node_modules are scanned for `dbbackup-connector-*` packages, nearest first. */
  searchFrom: readonly string[];
  env: NodeJS.ProcessEnv;
}

/**
 * The plugins that are not built in: first those the config names (an error when one cannot be
 * loaded), then every package named `dbbackup-connector-*` (or `@scope/dbbackup-connector-*`) in
 * the node_modules folders above `searchFrom`, in NODE_PATH and in the global npm folder.
 */
export async function discoverPlugins(search: PluginSearch): Promise<ConnectorPlugin[]> {
  const out: ConnectorPlugin[] = [];
  for (const [i, entry] of search.configured.entries()) {
    out.push(await importPlugin(resolveConfigured(entry, search.baseDir), `plugins[${i}] (${entry})`));
  }
  for (const dir of await installedPackages(nodeModulesFolders(search.searchFrom, search.env))) {
    out.push(await importPlugin(packageEntry(dir), `package ${dir}`));
  }
  return out;
}

/** node_modules folders to scan, nearest first, each once. */
export function nodeModulesFolders(from: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const folders: string[] = [];
  for (const start of from) {
    for (let dir = resolve(start); ; dir = dirname(dir)) {
      folders.push(dir.endsWith('node_modules') ? dir : join(dir, 'node_modules'));
      if (dirname(dir) === dir) break;
    }
  }
  for (const p of (env.NODE_PATH ?? '').split(delimiter)) if (p) folders.push(resolve(p));
  // The global folder: <prefix>/lib/node_modules (Unix) or <prefix>/node_modules (Windows).
  const prefix = env.npm_config_prefix ?? (process.platform === 'win32' ? dirname(process.execPath) : dirname(dirname(process.execPath)));
  folders.push(process.platform === 'win32' ? join(prefix, 'node_modules') : join(prefix, 'lib', 'node_modules'));
  return [...new Set(folders)].filter((f) => existsSync(f));
}

async function installedPackages(folders: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const folder of folders) {
    for (const name of await readdir(folder).catch(() => [] as string[])) {
      if (name.startsWith(PLUGIN_PREFIX)) found.push(join(folder, name));
      else if (name.startsWith('@')) {
        for (const scoped of await readdir(join(folder, name)).catch(() => [] as string[])) {
          if (scoped.startsWith(PLUGIN_PREFIX)) found.push(join(folder, name, scoped));
        }
      }
    }
  }
  return found;
}

/** A `plugins:` entry: a path (`./x.js`, `/opt/x`, a package folder) or a package name found from `baseDir`. */
export function resolveConfigured(entry: string, baseDir: string): string {
  if (entry.startsWith('.') || isAbsolute(entry)) {
    const path = resolve(baseDir, entry);
    if (existsSync(join(path, 'package.json'))) return packageEntry(path);
    if (!existsSync(path)) throw new DbBackupError('E_CONFIG', `plugins: ${entry} does not exist (resolved to ${path}).`);
    return path;
  }
  for (const folder of nodeModulesFolders([baseDir], {})) {
    if (existsSync(join(folder, entry, 'package.json'))) return packageEntry(join(folder, entry));
  }
  throw new DbBackupError('E_CONFIG', `plugins: no package "${entry}" is installed where the config is (${baseDir}); npm install ${entry} there.`);
}

/** The file a package's `exports` (".", import/default) or `main` points at. */
export function packageEntry(dir: string): string {
  let pkg: { exports?: unknown; main?: string };
  try {
    pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as typeof pkg;
  } catch (err) {
    throw new DbBackupError('E_CONFIG', `Cannot read the plugin package ${dir}/package.json: ${(err as Error).message}.`);
  }
  const pick = (e: unknown): string | undefined => {
    if (typeof e === 'string') return e;
    if (e && typeof e === 'object') {
      const o = e as Record<string, unknown>;
      return pick(o['.'] ?? o.import ?? o.node ?? o.default);
    }
    return undefined;
  };
  return join(dir, pick(pkg.exports) ?? pkg.main ?? 'index.js');
}

async function importPlugin(file: string, origin: string): Promise<ConnectorPlugin> {
  let mod: { default?: unknown; plugin?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as typeof mod;
  } catch (err) {
    throw new DbBackupError('E_CONFIG', `Cannot load the connector plugin ${origin}: ${(err as Error).message}`, { cause: err });
  }
  return checkPlugin(mod.default ?? mod.plugin, `The connector plugin ${origin}`);
}
