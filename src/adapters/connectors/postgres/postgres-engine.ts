import type { DatabaseConnector } from '../../../application/ports/database-connector.js';

/** The PostgreSQL engine's name and capabilities: what postgres-plugin.ts and PostgresConnector both report. */
export const postgresEngine: Pick<DatabaseConnector, 'engine' | 'capabilities'> = {
  engine: 'postgres',
  capabilities: { incremental: false, pointInTime: false, selectiveRestore: true, atomicRestore: false, prepareDuringChecks: true },
};
