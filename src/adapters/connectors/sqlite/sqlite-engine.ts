import type { DatabaseConnector } from '../../../application/ports/database-connector.js';

/** The SQLite engine's name and capabilities: what sqlite-plugin.ts and SqliteConnector both report. */
export const sqliteEngine: Pick<DatabaseConnector, 'engine' | 'capabilities'> = {
  engine: 'sqlite',
  capabilities: { incremental: false, pointInTime: false, selectiveRestore: true, atomicRestore: true },
};
