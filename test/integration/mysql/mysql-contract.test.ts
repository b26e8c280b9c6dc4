import { afterAll, beforeAll } from 'vitest';
import { mysqlPlugin } from '../../../src/adapters/connectors/mysql/mysql-plugin.js';
import type { ConnectionTarget } from '../../../src/application/ports/connection-target.js';
import { type Contents, databaseConnectorContract } from '../../contracts/database-connector-contract.js';
import { type MariaDbServer, startMariaDb } from '../../helpers/mariadb-server.js';
import { tableFingerprints } from './harness.js';
import { valueTypesSql } from './value-types.js';

/** The value types of nasty-data.test.ts (smaller long values: each case makes a fresh source). */
const VALUES_SQL = valueTypesSql({ textRepeat: 600, blobRepeat: 3000 });

let server: MariaDbServer;
let n = 0;

beforeAll(async () => {
  server = await startMariaDb();
});
afterAll(() => server?.stop());

const at = (database?: string, options?: Record<string, unknown>): ConnectionTarget => ({
  engine: 'mysql',
  host: '127.0.0.1',
  port: server.port,
  user: 'root',
  ...(database ? { database } : {}),
  ...(options ? { options } : {}),
});

databaseConnectorContract('mysql', {
  plugin: mysqlPlugin,
  async source() {
    const db = `src_${++n}`;
    const conn = await server.connect();
    try {
      await conn.query(`CREATE DATABASE ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
      await conn.query(`USE ${db}`);
      await conn.query(VALUES_SQL);
    } finally {
      await conn.end();
    }
    return at(db);
  },
  target: async () => at(undefined, { targetDatabase: `target_${++n}` }),
  async contents(t) {
    const db = (t.options?.targetDatabase as string | undefined) ?? t.database!;
    const [exists] = await server.query('SELECT 1 AS x FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [db]);
    if (!exists) return {};
    const out: Contents = {};
    for (const [table, f] of Object.entries(await tableFingerprints(server, db))) out[table] = `${f.rows}:${f.checksum}`;
    return out;
  },
  selective: ['strs', 'bits'],
  restoreOptions: { create: true },
  badCredentials: async () => ({ ...at('mysql'), user: 'nobody', password: 'not the password' }),
});
