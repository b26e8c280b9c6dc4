import type { DatabaseConnector } from '../../../application/ports/database-connector.js';

/** The MongoDB engine's name and capabilities: what mongodb-plugin.ts and MongodbConnector both report. */
export const mongodbEngine: Pick<DatabaseConnector, 'engine' | 'capabilities'> = {
  engine: 'mongodb',
  capabilities: { incremental: false, pointInTime: false, selectiveRestore: true, atomicRestore: false },
};
