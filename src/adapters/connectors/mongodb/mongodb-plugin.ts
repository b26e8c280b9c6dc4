import { PLUGIN_API_VERSION, type ConnectorPlugin } from '../../../application/ports/connector-plugin.js';
import { mongodbEngine } from './mongodb-engine.js';
import { TLS_FILE_OPTIONS } from '../tls-options.js';
import { IO_TIMEOUT_OPTION } from '../io-timeout.js';

/** MongoDB through the official driver alone (no mongodump), in mongodump's layout. */
export const mongodbPlugin: ConnectorPlugin = {
  apiVersion: PLUGIN_API_VERSION,
  engine: mongodbEngine.engine,
  description: 'MongoDB 4.4+ (raw-BSON cursors in one snapshot; mongodump-style .bson parts)',
  schemes: ['mongodb', 'mongodb+srv'],
  database: 'name',
  options: [
    ...TLS_FILE_OPTIONS,
    { name: 'target-database', type: 'string', commands: ['restore'], description: 'Restore into a database of this name (renaming it)' },
    IO_TIMEOUT_OPTION,
  ],
  flagAliases: { '--collections': '--tables', '--exclude-collections': '--exclude-tables', '--drop': '--clean' },
  capabilities: mongodbEngine.capabilities,
  load: async () => new (await import('./mongodb-connector.js')).MongodbConnector(),
};
