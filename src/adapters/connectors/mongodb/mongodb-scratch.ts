import type { ConnectionTarget } from '../../../application/ports/connection-target.js';
import type { ScratchDatabases } from '../../../application/ports/scratch-databases.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { Manifest } from '../../../domain/manifest.js';
import { scratchName, scratchServer } from '../scratch-name.js';
import { splitNs } from './mongodb-catalog.js';
import { openClient, resolveEndpoint } from './mongodb-endpoint.js';

/** A scratch MongoDB database: a new name on the named server (the backup's one database is restored under it), dropped after. */
export class MongodbScratch implements ScratchDatabases {
  async allocate(server: ConnectionTarget | undefined, manifest: Manifest): Promise<ConnectionTarget> {
    const databases = new Set(manifest.objects.filter((o) => o.type === 'collection' || o.type === 'timeseries' || o.type === 'view').map((o) => splitNs(o.name).db));
    if (databases.size !== 1) {
      throw new DbBackupError('E_UNSUPPORTED', `verify --deep restores one database into a scratch database; backup ${manifest.id} holds ${databases.size}.`);
    }
    // A one-database backup restores under the target's database (mongodb-restore-scope.ts).
    const { url, host, port, user, password, options } = scratchServer(server, 'mongodb');
    return { engine: 'mongodb', url, host, port, user, password, options, database: scratchName() };
  }

  async drop(target: ConnectionTarget): Promise<void> {
    const endpoint = resolveEndpoint(target);
    const client = await openClient(endpoint);
    try {
      await client.db(endpoint.databases[0]!).dropDatabase();
    } finally {
      await client.close().catch(() => undefined);
    }
  }
}
