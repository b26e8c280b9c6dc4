import { PLUGIN_API_VERSION, type ConnectorPlugin } from '../../../application/ports/connector-plugin.js';

/** SQLite: a database file, copied with the online backup API. */
export const sqlitePlugin: ConnectorPlugin = {
  apiVersion: PLUGIN_API_VERSION,
  engine: 'sqlite',
  description: 'SQLite database files (online backup API; the backup is a database file)',
  schemes: [],
  database: 'file',
  options: [],
  capabilities: { incremental: false, pointInTime: false, selectiveRestore: true, atomicRestore: true },
  load: async () => new (await import('./sqlite-connector.js')).SqliteConnector(),
};
