import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { packagePath } from '../../infrastructure/paths.js';

/** Migrations ship in `drizzle/` at the package root, beside `dist/` and `src/`. */
const MIGRATIONS = packagePath('drizzle');

/**
 * Runs the catalog migrations. Two processes opening a fresh catalog at once race on the first
 * migration (both see "nothing applied"); the loser waits a moment and retries, then sees it done.
 */
export function migrateCatalog(db: BetterSQLite3Database): void {
  for (let attempt = 1; ; attempt++) {
    try {
      migrate(db, { migrationsFolder: MIGRATIONS });
      return;
    } catch (err) {
      if (attempt >= 5 || !/already exists|SQLITE_BUSY|database is locked/i.test(String((err as Error).message))) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50 * attempt);
    }
  }
}
