import type { ConnectorRegistry } from '../application/ports/connector-registry.js';
import { builtinPlugins } from '../adapters/connectors/builtin-plugins.js';
import { MapConnectorRegistry } from '../adapters/connectors/connector-registry.js';
import { discoverPlugins } from '../adapters/connectors/plugin-loader.js';
import { RetryingConnector } from '../adapters/connectors/retrying-connector.js';
import type { RuntimeConfig } from './runtime-config.js';

/**
 * Every database engine of this run: the built-in plugins, then (looked for only when an engine is
 * not built in) the config's `plugins:` and the installed `dbbackup-connector-*` packages. Each
 * connector loads on first use and opens its sessions with retries.
 */
export function connectorRegistry(runtime: Pick<RuntimeConfig, 'plugins' | 'env'>, cwd = process.cwd()): ConnectorRegistry {
  return new MapConnectorRegistry([...builtinPlugins], {
    discover: () =>
      discoverPlugins({
        configured: runtime.plugins?.entries ?? [],
        baseDir: runtime.plugins?.baseDir ?? cwd,
        searchFrom: [cwd],
        env: runtime.env ?? process.env,
      }),
    wrap: (connector) => new RetryingConnector(connector),
  });
}
