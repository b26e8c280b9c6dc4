import { PLUGIN_API_VERSION, type ConnectorPlugin } from '../../../application/ports/connector-plugin.js';
import { mysqlEngine } from './mysql-engine.js';
import { IO_TIMEOUT_OPTION } from '../io-timeout.js';
import { LOCK_WAIT_OPTION } from '../lock-wait-timeout.js';
import { TLS_MODE_AND_FILE_OPTIONS } from '../tls-options.js';

/** MySQL and MariaDB through mysql2 alone (no mysqldump). */
export const mysqlPlugin: ConnectorPlugin = {
  apiVersion: PLUGIN_API_VERSION,
  engine: mysqlEngine.engine,
  description: 'MySQL 5.7+/8 and MariaDB 10.3+ (consistent snapshot, TSV data, LOAD DATA LOCAL restore)',
  schemes: ['mysql', 'mariadb'],
  database: 'name',
  options: [
    { name: 'socket', type: 'string', description: 'Unix socket file instead of host/port' },
    ...TLS_MODE_AND_FILE_OPTIONS,
    IO_TIMEOUT_OPTION,
    {
      ...LOCK_WAIT_OPTION,
      commands: ['backup', 'restore'],
      description: `${LOCK_WAIT_OPTION.description}; a restore's statements (a DROP or CREATE behind another session's transaction) wait as long, then fail with E_LOCK_TIMEOUT`,
    },
    { name: 'all-databases', type: 'boolean', commands: ['backup'], description: 'Every database except the system schemas' },
    { name: 'target-database', type: 'string', commands: ['restore'], description: 'Restore into a database of this name (renaming it)' },
    { name: 'replay-connections', type: 'number', commands: ['restore'], description: 'Connections replaying the binary log of a chain at once (default 4; 1 = one session, in order)' },
    {
      name: 'replay-gtids',
      type: 'string',
      commands: ['restore'],
      description: "keep = replayed transactions carry their source GTIDs (MariaDB, MySQL; one connection, each committed alone); those the target holds are skipped unless this restore loaded the full; off (default)",
    },
    {
      name: 'set-gtid-slave-pos',
      type: 'boolean',
      commands: ['restore'],
      description: 'MariaDB: after a chain replayed with --replay-gtids keep or --changes-only, set the target\'s gtid_slave_pos to the GTID position reached, so it can replicate from the source (MASTER_USE_GTID = slave_pos)',
    },
  ],
  capabilities: mysqlEngine.capabilities,
  load: async () => new (await import('./mysql-connector.js')).MysqlConnector(),
};
