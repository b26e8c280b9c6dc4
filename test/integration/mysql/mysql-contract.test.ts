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
  // Row events of every type family (a table without a key, generated columns, a non-transactional
  // Aria table, spatial, bits, JSON, latin1) and a DDL statement, for the binlog replay.
  async mutate(t) {
    const conn = await server.connect(t.database);
    try {
      await conn.query(`INSERT INTO strs SELECT id + 100, CONCAT(COALESCE(v, ''), 'ü'), c, t, e, s FROM strs;
        UPDATE nums SET dn = 1.25, f = -f;
        UPDATE bits SET b7 = b'0000001';
        DELETE FROM latin ORDER BY id LIMIT 1;
        UPDATE latin SET v = 'naïve';
        UPDATE single SET v = CONCAT(COALESCE(v, ''), '!');
        INSERT INTO gen (id, a) VALUES (999, 5);
        UPDATE aria_t SET v = CONCAT(COALESCE(v, ''), 'x');
        INSERT INTO keyed (u, n) VALUES ('new one', 1);
        UPDATE times SET dt = '2030-01-02 03:04:05.678901';
        UPDATE docs SET j = JSON_OBJECT('k', id, 'ü', JSON_ARRAY(1, 'two'));
        UPDATE geo SET p = POINT(id, -id);
        UPDATE bins SET vb = UNHEX('00FF27225C0A');
        ALTER TABLE strs ADD COLUMN extra INT NOT NULL DEFAULT 3;
        UPDATE strs SET extra = id WHERE id > 100;`);
    } finally {
      await conn.end();
    }
  },
});
