import type { DbBackupError } from '../../domain/errors.js';
import type { ConnectorCapabilities } from './connector-capabilities.js';
import type { DatabaseConnector } from './database-connector.js';

/** The version of this contract; a plugin says which one it was written for. */
export const PLUGIN_API_VERSION = 1;

/** The ConnectionTarget.options key of an option name: `ssl-mode` → `sslMode`. */
export function optionKey(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, ch: string) => ch.toUpperCase());
}

export type PluginOptionType = 'string' | 'number' | 'boolean' | 'list';

/** The commands whose CLI may take an engine option as a flag of its own. */
export type PluginVerb = 'backup' | 'restore' | 'replicate';

/**
 * An engine-specific choice. One kebab-case `name` gives the CLI flag `--<name>`, the config
 * source key `<name>` and the key in ConnectionTarget.options (camelCase: `ssl-mode` → `sslMode`).
 */
export interface PluginOption {
  name: string;
  /** More CLI flags for the same option, without dashes (e.g. `sslrootcert`, as libpq spells it). */
  aliases?: readonly string[];
  type: PluginOptionType;
  description: string;
  /**
   * The commands whose CLI takes the flag. Default: every command that connects (backup, restore,
   * replicate), which is what a connection option (TLS mode, certificate files, socket) needs; name
   * the commands for an option that only means something to some of them.
   */
  commands?: readonly PluginVerb[];
}

const CONNECTING_VERBS: readonly PluginVerb[] = ['backup', 'restore', 'replicate'];

/** True when `verb`'s CLI takes `option` (its `commands`, or every connecting command). */
export function optionTakenBy(option: PluginOption, verb: PluginVerb): boolean {
  return (option.commands ?? CONNECTING_VERBS).includes(verb);
}

/** Common flags an engine may add its own spelling of (`--collections` for `--tables`). */
export type CommonFlag = '--tables' | '--exclude-tables' | '--clean';

/** What dbbackup hands a plugin when it loads it: no plugin needs to import dbbackup at run time. */
export interface PluginHost {
  readonly apiVersion: typeof PLUGIN_API_VERSION;
  /** The one error class; throw it with a stable code (E_AUTH, E_CONN_REFUSED, E_TARGET_EXISTS …). */
  readonly DbBackupError: typeof DbBackupError;
  /** A valid source name made from any string (e.g. a database name or file name). */
  sourceNameFrom(name: string): string;
}

/**
 * A database engine as a plugin: a folder under src/adapters/connectors/ (built in) or an npm
 * package named `dbbackup-connector-<engine>` whose default export is this object. Everything
 * here is static data read before the engine is used; `load` brings in the driver.
 */
export interface ConnectorPlugin {
  readonly apiVersion: typeof PLUGIN_API_VERSION;
  /** `--db` and the config's `engine:`: lower-case letters, digits and `-`. */
  readonly engine: string;
  /** One line for help and error messages. */
  readonly description: string;
  /** URL schemes that name this engine's servers (`postgres`, `postgresql`): `--url` alone then picks it. */
  readonly schemes: readonly string[];
  /** `file` when `--database` (and backup's `--file`) is a database file path, `name` for servers. */
  readonly database: 'file' | 'name';
  /** Options beyond the common connection flags. */
  readonly options: readonly PluginOption[];
  /** The engine's own spelling of common flags, e.g. `{ '--collections': '--tables' }`. */
  readonly flagAliases?: Readonly<Record<string, CommonFlag>>;
  /** What the engine can do; the loaded connector reports the same. */
  readonly capabilities: ConnectorCapabilities;
  /** The connector; its module and driver are imported here, on first use. */
  load(host: PluginHost): Promise<DatabaseConnector>;
}
