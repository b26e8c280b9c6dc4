import type { DatabaseConnector } from '../../../application/ports/database-connector.js';

/** The MySQL engine's name and capabilities: what mysql-plugin.ts and MysqlConnector both report. */
export const mysqlEngine: Pick<DatabaseConnector, 'engine' | 'capabilities'> = {
  engine: 'mysql',
  capabilities: {
    incremental: true,
    pointInTime: true,
    selectiveRestore: true,
    atomicRestore: false,
    // The restore reads the target and the schema, and logs its connections in, while the stored bytes are checked.
    prepareDuringChecks: true,
    // The binary log (mysql-changes.ts); a differential reads it from the full's position while the server still has it;
    // --changes-only skips what the target holds by its GTIDs (MariaDB's state, MySQL's gtid_executed).
    changes: { differential: true, pointInTime: true, selective: true, skipsApplied: true },
  },
};
