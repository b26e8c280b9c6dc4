import { PLUGIN_API_VERSION, type ConnectorPlugin } from '../../application/ports/connector-plugin.js';
import type { ConnectorRegistry } from '../../application/ports/connector-registry.js';
import type { DatabaseConnector } from '../../application/ports/database-connector.js';
import { DbBackupError } from '../../domain/errors.js';
import { pluginHost } from './plugin-host.js';

export interface RegistryOptions {
  /** Finds the plugins that are not built in (installed packages, the config's `plugins:`); run once, when first needed. */
  discover?: () => Promise<ConnectorPlugin[]>;
  /** Wraps every connector a plugin loads (retries). */
  wrap?: (connector: DatabaseConnector) => DatabaseConnector;
}

/**
 * Connectors by engine, from plugins. A plugin's connector (and its driver) loads on first use,
 * and other plugins are looked for only when an engine is not built in: `dbbackup list` never
 * loads a database driver nor scans node_modules.
 */
export class MapConnectorRegistry implements ConnectorRegistry {
  private readonly known = new Map<string, ConnectorPlugin>();
  private readonly loaded = new Map<string, Promise<DatabaseConnector>>();
  private discovery: Promise<void> | undefined;

  /** `entries`: plugins, or ready connectors (tests) that count as plugins with no options. */
  constructor(
    entries: (ConnectorPlugin | DatabaseConnector)[],
    private readonly options: RegistryOptions = {},
  ) {
    for (const e of entries) {
      if (isPlugin(e)) this.known.set(e.engine, e);
      else {
        this.known.set(e.engine, bare(e));
        this.loaded.set(e.engine, Promise.resolve(e));
      }
    }
  }

  async get(engine: string): Promise<DatabaseConnector> {
    const plugin = await this.plugin(engine);
    let connector = this.loaded.get(engine);
    if (!connector) {
      connector = this.load(plugin);
      this.loaded.set(engine, connector);
      // A failed load (a driver that is not installed) is tried again next time.
      connector.catch(() => this.loaded.delete(engine));
    }
    return connector;
  }

  async plugin(engine: string): Promise<ConnectorPlugin> {
    if (!this.known.has(engine)) await this.discover();
    const plugin = this.known.get(engine);
    if (!plugin) {
      throw new DbBackupError(
        'E_UNSUPPORTED',
        `Database engine "${engine}" is not supported here; engines: ${[...this.known.keys()].join(', ')}. ` +
          `Another engine needs its plugin: npm install dbbackup-connector-${engine}, or list it under plugins: in the config.`,
      );
    }
    return plugin;
  }

  async plugins(): Promise<ConnectorPlugin[]> {
    await this.discover();
    return [...this.known.values()];
  }

  private discover(): Promise<void> {
    this.discovery ??= (async () => {
      for (const p of (await this.options.discover?.()) ?? []) {
        // Built-in engines keep their own connector; the first plugin found for an engine wins.
        if (!this.known.has(p.engine)) this.known.set(p.engine, p);
      }
    })();
    return this.discovery;
  }

  private async load(plugin: ConnectorPlugin): Promise<DatabaseConnector> {
    const connector = await plugin.load(pluginHost);
    if (connector?.engine !== plugin.engine || typeof connector.connect !== 'function') {
      throw new DbBackupError('E_CONFIG', `The ${plugin.engine} plugin's load() did not return a connector for engine "${plugin.engine}".`);
    }
    return this.options.wrap ? this.options.wrap(connector) : connector;
  }
}

function isPlugin(e: ConnectorPlugin | DatabaseConnector): e is ConnectorPlugin {
  return 'load' in e && typeof e.load === 'function';
}

/** A ready connector seen as a plugin: no options, no schemes. */
function bare(connector: DatabaseConnector): ConnectorPlugin {
  return {
    apiVersion: PLUGIN_API_VERSION,
    engine: connector.engine,
    description: connector.engine,
    schemes: [],
    database: 'name',
    options: [],
    capabilities: connector.capabilities,
    load: async () => connector,
  };
}
