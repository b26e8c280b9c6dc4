import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { packagePath } from '../../infrastructure/paths.js';

/** Migrations ship in `drizzle/` at the package root, beside `dist/` and `src/`. */
const MIGRATIONS = packagePath('drizzle');

/**
 * Runs the catalog migrations, unless the catalog has the newest already: one query against the
 * journal's last entry, instead of reading and hashing every migration file and a transaction on
 * each open (every backup opens the catalog). Two processes opening a fresh catalog at once race on
 * the first migration (both see "nothing applied"); the loser waits a moment and retries, then sees
 * it done.
 */
export function migrateCatalog(db: BetterSQLite3Database, sqlite: BetterSqlite3.Database): void {
  if (isCurrent(sqlite)) return;
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

/**
 * Whether the newest migration is applied: drizzle's migrator applies a migration when the last
 * applied one's `created_at` is older than its `when`, so a catalog whose last is at least the
 * journal's last has nothing to apply. Anything unexpected (no table yet) says no.
 */
function isCurrent(sqlite: BetterSqlite3.Database): boolean {
  try {
    const journal = JSON.parse(readFileSync(join(MIGRATIONS, 'meta', '_journal.json'), 'utf8')) as { entries: { when: number }[] };
    const newest = Math.max(...journal.entries.map((e) => e.when));
    const last = sqlite.prepare('SELECT created_at FROM __drizzle_migrations ORDER BY created_at DESC LIMIT 1').get() as { created_at: number | string } | undefined;
    return last !== undefined && Number.isFinite(newest) && Number(last.created_at) >= newest;
  } catch {
    return false;
  }
}
