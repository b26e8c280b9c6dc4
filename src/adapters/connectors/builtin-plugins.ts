import type { ConnectorPlugin } from '../../application/ports/connector-plugin.js';
import { mongodbPlugin } from './mongodb/mongodb-plugin.js';
import { mysqlPlugin } from './mysql/mysql-plugin.js';
import { postgresPlugin } from './postgres/postgres-plugin.js';
import { sqlitePlugin } from './sqlite/sqlite-plugin.js';

/**
 * The engines built into dbbackup, one per folder here (a unit test checks that every folder with
 * a `<engine>-plugin.ts` is listed). Only these small descriptions load at start-up; each
 * plugin's `load` imports its connector and driver on first use. The first file engine is the one
 * `--file PATH` means when no --db is given.
 */
export const builtinPlugins: readonly ConnectorPlugin[] = [sqlitePlugin, postgresPlugin, mysqlPlugin, mongodbPlugin];
