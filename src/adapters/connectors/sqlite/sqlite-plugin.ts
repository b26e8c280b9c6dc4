import { PLUGIN_API_VERSION, type ConnectorPlugin } from '../../../application/ports/connector-plugin.js';
import { sqliteEngine } from './sqlite-engine.js';

/** SQLite: a database file, copied with the online backup API. */
export const sqlitePlugin: ConnectorPlugin = {
  apiVersion: PLUGIN_API_VERSION,
  engine: sqliteEngine.engine,
  description: 'SQLite database files (online backup API; the backup is a database file; incrementals store changed pages)',
  schemes: [],
  database: 'file',
  options: [],
  capabilities: sqliteEngine.capabilities,
  load: async () => new (await import('./sqlite-connector.js')).SqliteConnector(),
};
