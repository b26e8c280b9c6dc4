import { PLUGIN_API_VERSION, type ConnectorPlugin } from '../../application/ports/connector-plugin.js';
import { isEngine } from '../../domain/backup-kind.js';
import { DbBackupError } from '../../domain/errors.js';

const OPTION_NAME = /^[a-z][a-z0-9-]*$/;
const TYPES = new Set(['string', 'number', 'boolean', 'list']);
const COMMON = new Set(['--tables', '--exclude-tables', '--clean']);

/**
 * Checks that `value` (a module's export) is a ConnectorPlugin this build can use; throws
 * E_CONFIG naming `origin` and the first thing wrong.
 */
export function checkPlugin(value: unknown, origin: string): ConnectorPlugin {
  const fail = (what: string): never => {
    throw new DbBackupError('E_CONFIG', `${origin} is not a usable dbbackup connector plugin: ${what}.`);
  };
  if (typeof value !== 'object' || value === null) return fail('its default export is not an object');
  const p = value as Partial<ConnectorPlugin>;
  if (p.apiVersion !== PLUGIN_API_VERSION) fail(`it was written for plugin API ${String(p.apiVersion)}, this dbbackup speaks ${PLUGIN_API_VERSION}`);
  if (typeof p.engine !== 'string' || !isEngine(p.engine)) fail(`engine "${String(p.engine)}" is not lower-case letters, digits and '-'`);
  if (typeof p.description !== 'string') fail('description is missing');
  if (!Array.isArray(p.schemes) || p.schemes.some((s) => typeof s !== 'string')) fail('schemes is not a list of URL schemes');
  if (p.database !== 'file' && p.database !== 'name') fail("database is neither 'file' nor 'name'");
  if (!Array.isArray(p.options)) fail('options is not a list');
  for (const o of p.options ?? []) {
    if (!OPTION_NAME.test(String(o?.name))) fail(`option "${String(o?.name)}" is not a kebab-case name`);
    if (!TYPES.has(o.type)) fail(`option ${o.name} has type "${String(o.type)}"; use string, number, boolean or list`);
  }
  for (const [flag, common] of Object.entries(p.flagAliases ?? {})) {
    if (!/^--[a-z][a-z0-9-]*$/.test(flag) || !COMMON.has(common)) fail(`flag alias ${flag} → ${String(common)} is not one of --tables, --exclude-tables, --clean`);
  }
  const c = p.capabilities;
  if (typeof c !== 'object' || c === null || typeof c.selectiveRestore !== 'boolean' || typeof c.atomicRestore !== 'boolean') fail('capabilities are missing');
  if (typeof p.load !== 'function') fail('load() is missing');
  return p as ConnectorPlugin;
}
