import type { ConnectorPlugin } from './connector-plugin.js';
import type { DatabaseConnector } from './database-connector.js';

/** The engines this run knows: built in, installed as packages and named in the config. */
export interface ConnectorRegistry {
  /** The connector for `engine` (loaded on first use); rejects with E_UNSUPPORTED naming the engines there are. */
  get(engine: string): Promise<DatabaseConnector>;
  /** The plugin of `engine` (its options and schemes) without loading its driver; rejects as `get`. */
  plugin(engine: string): Promise<ConnectorPlugin>;
  /** The plugins of every engine, built-in ones first. */
  plugins(): Promise<ConnectorPlugin[]>;
}
