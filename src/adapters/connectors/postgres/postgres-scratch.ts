import type { ConnectionTarget } from '../../../application/ports/connection-target.js';
import type { ScratchDatabases } from '../../../application/ports/scratch-databases.js';
import { scratchName, scratchServer } from '../scratch-name.js';
import { resolveEndpoint } from './connection.js';
import { dropDatabase } from './postgres-target.js';

/** A scratch PostgreSQL database: a new name on the named server (the restore creates it with --create), dropped WITH (FORCE). */
export class PostgresScratch implements ScratchDatabases {
  async allocate(server: ConnectionTarget | undefined): Promise<ConnectionTarget> {
    return { ...scratchServer(server, 'postgres'), database: scratchName() };
  }

  async drop(target: ConnectionTarget): Promise<void> {
    await dropDatabase(resolveEndpoint(target));
  }
}
