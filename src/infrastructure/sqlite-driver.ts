import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';

const nodeRequire = createRequire(import.meta.url);

/** better-sqlite3, for every module that opens a SQLite file (the catalog, the SQLite connector, spill files). */
const Driver = nodeRequire('better-sqlite3') as typeof BetterSqlite3;

/**
 * The addon, named to the driver: without it better-sqlite3 finds it through `bindings`, which
 * walks the call stack and probes a dozen paths on every process's first open (a few ms of each
 * backup's start). Undefined (the driver's own search) when the package keeps it elsewhere.
 */
const addon = (() => {
  try {
    const file = join(dirname(nodeRequire.resolve('better-sqlite3/package.json')), 'build', 'Release', 'better_sqlite3.node');
    return existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
})();

/** better-sqlite3's Database, opened with the addon found above unless the options name one. */
export const Database = (addon
  ? class extends Driver {
      constructor(filename?: string | Buffer, options: BetterSqlite3.Options = {}) {
        super(filename, { nativeBinding: addon, ...options });
      }
    }
  : Driver) as typeof BetterSqlite3;
