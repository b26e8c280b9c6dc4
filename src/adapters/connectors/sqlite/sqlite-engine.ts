import type { DatabaseConnector } from '../../../application/ports/database-connector.js';

/** The SQLite engine's name and capabilities: what sqlite-plugin.ts and SqliteConnector both report. */
export const sqliteEngine: Pick<DatabaseConnector, 'engine' | 'capabilities'> = {
  engine: 'sqlite',
  capabilities: {
    incremental: true,
    pointInTime: false,
    selectiveRestore: true,
    atomicRestore: true,
    // Changed pages against a page map: against any earlier backup, but no replay to a time.
    changes: { differential: true, pointInTime: false },
  },
};
