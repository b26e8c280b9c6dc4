import type { DatabaseConnector } from '../../../application/ports/database-connector.js';

/** The PostgreSQL engine's name and capabilities: what postgres-plugin.ts and PostgresConnector both report. */
export const postgresEngine: Pick<DatabaseConnector, 'engine' | 'capabilities'> = {
  engine: 'postgres',
  capabilities: {
    incremental: true,
    pointInTime: true,
    selectiveRestore: true,
    atomicRestore: false,
    prepareDuringChecks: true,
    // Logical decoding (postgres-changes.ts); a differential folds the stored links since the full (postgres-differential.ts).
    changes: { differential: true, pointInTime: true },
  },
};
