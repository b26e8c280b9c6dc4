import { PLUGIN_API_VERSION, type ConnectorPlugin } from '../../../application/ports/connector-plugin.js';
import { TLS_FILE_OPTIONS } from '../tls-options.js';

/** MySQL and MariaDB through mysql2 alone (no mysqldump). */
export const mysqlPlugin: ConnectorPlugin = {
  apiVersion: PLUGIN_API_VERSION,
  engine: 'mysql',
  description: 'MySQL 5.7+/8 and MariaDB 10.3+ (consistent snapshot, TSV data, LOAD DATA LOCAL restore)',
  schemes: ['mysql', 'mariadb'],
  database: 'name',
  options: [
    { name: 'socket', type: 'string', description: 'Unix socket file instead of host/port' },
    { name: 'ssl-mode', type: 'string', description: 'TLS as the mysql client spells it: DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY' },
    ...TLS_FILE_OPTIONS,
    { name: 'all-databases', type: 'boolean', commands: ['backup'], description: 'Every database except the system schemas' },
    { name: 'target-database', type: 'string', commands: ['restore'], description: 'Restore into a database of this name (renaming it)' },
  ],
  capabilities: { incremental: false, pointInTime: false, selectiveRestore: true, atomicRestore: false },
  load: async () => new (await import('./mysql-connector.js')).MysqlConnector(),
};
