import type { ConnectionTarget } from '../../../application/ports/connection-target.js';
import type { ScratchDatabases } from '../../../application/ports/scratch-databases.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { Manifest } from '../../../domain/manifest.js';
import { scratchName, scratchServer } from '../scratch-name.js';
import { closeConnection, openConnection, qi, resolveEndpoint } from './mysql-connection.js';
import { engineInfoOf } from './mysql-restore-scope.js';

/** A scratch MySQL/MariaDB database: a new name on the named server (the backup's one database is restored into it), dropped after. */
export class MysqlScratch implements ScratchDatabases {
  async allocate(server: ConnectionTarget | undefined, manifest: Manifest): Promise<ConnectionTarget> {
    const databases = engineInfoOf(manifest).databases;
    if (databases.length !== 1) {
      throw new DbBackupError('E_UNSUPPORTED', `verify --deep restores one database into a scratch database; backup ${manifest.id} holds ${databases.length}.`);
    }
    return { ...scratchServer(server, 'mysql'), database: scratchName() };
  }

  async drop(target: ConnectionTarget): Promise<void> {
    const endpoint = resolveEndpoint(target);
    const name = endpoint.databases[0]!;
    const conn = await openConnection({ ...endpoint, databases: [] });
    try {
      await conn.query(`DROP DATABASE IF EXISTS ${qi(name)}`);
    } finally {
      await closeConnection(conn);
    }
  }
}
