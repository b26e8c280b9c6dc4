import type { DatabaseConnector } from '../../../application/ports/database-connector.js';

/** The MongoDB engine's name and capabilities: what mongodb-plugin.ts and MongodbConnector both report. */
export const mongodbEngine: Pick<DatabaseConnector, 'engine' | 'capabilities'> = {
  engine: 'mongodb',
  capabilities: {
    incremental: true,
    pointInTime: true,
    selectiveRestore: true,
    atomicRestore: false,
    // The oplog (mongodb-changes.ts): replica sets only; a differential reads it from the full's end while the server still has it.
    changes: { differential: true, pointInTime: true, selective: true },
  },
};
