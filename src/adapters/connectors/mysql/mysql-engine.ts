import type { DatabaseConnector } from '../../../application/ports/database-connector.js';

/** The MySQL engine's name and capabilities: what mysql-plugin.ts and MysqlConnector both report. */
export const mysqlEngine: Pick<DatabaseConnector, 'engine' | 'capabilities'> = {
  engine: 'mysql',
  capabilities: { incremental: false, pointInTime: false, selectiveRestore: true, atomicRestore: false },
};
