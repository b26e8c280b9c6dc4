import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ConnectionTarget } from '../../../application/ports/connection-target.js';
import type { ScratchDatabases } from '../../../application/ports/scratch-databases.js';
import { makeScratchDir } from '../../../infrastructure/scratch.js';

/** A scratch SQLite database: a file in a private temp folder (TMPDIR), removed with its folder. */
export class SqliteScratch implements ScratchDatabases {
  async allocate(): Promise<ConnectionTarget> {
    const dir = await makeScratchDir('dbbackup-verify-');
    return { engine: 'sqlite', database: join(dir, 'scratch.db') };
  }

  async drop(target: ConnectionTarget): Promise<void> {
    if (target.database) await rm(dirname(target.database), { recursive: true, force: true });
  }
}
