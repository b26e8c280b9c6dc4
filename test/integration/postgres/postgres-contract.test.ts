import { afterAll, beforeAll } from 'vitest';
import { postgresPlugin } from '../../../src/adapters/connectors/postgres/postgres-plugin.js';
import type { ConnectionTarget } from '../../../src/application/ports/connection-target.js';
import { type Contents, databaseConnectorContract } from '../../contracts/database-connector-contract.js';
import { type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';
import { NASTY_SQL, tableHashes } from './fixtures.js';

/** Every value type of the fidelity suite, without its 50 MB table (each case makes a fresh source). */
const VALUES_SQL = NASTY_SQL.split('\n').filter((line) => !/public\.big\b/.test(line)).join('\n');
const PASSWORD = 'contract pw ✓';
let server: PostgresServer;
let n = 0;

beforeAll(async () => {
  server = await startPostgres([], { auth: 'scram-sha-256', password: PASSWORD });
});
afterAll(() => server?.stop());

const at = (database: string): ConnectionTarget => ({ engine: 'postgres', host: '127.0.0.1', port: server.port, user: 'postgres', password: PASSWORD, database });

databaseConnectorContract('postgres', {
  plugin: postgresPlugin,
  async source() {
    const name = `src_${++n}`;
    await server.query(`CREATE DATABASE ${name}`);
    await server.query(VALUES_SQL, [], name);
    return at(name);
  },
  target: async () => at(`target_${++n}`),
  async contents(t) {
    const [exists] = await server.query('SELECT 1 FROM pg_database WHERE datname = $1', [t.database]);
    if (!exists) return {};
    const out: Contents = {};
    for (const [table, h] of Object.entries(await tableHashes(server, t.database!))) out[table] = `${h.rows}:${h.hash}`;
    return out;
  },
  selective: ['public.many', 'public.empty_table'],
  restoreOptions: { create: true },
  badCredentials: async () => ({ ...at('postgres'), password: 'not the password' }),
  async mutate(t) {
    await server.query(
      `INSERT INTO public.nasty SELECT id + 100, t, b, j, jb, ia, ta, ma, c, r, tr, n, f8, f4, ts, tsn, d, iv, u, bo, x, ip, mac, bits, tv, pnt, money_, ch, vc FROM public.nasty;
       UPDATE public.nasty SET n = n + 1, iv = iv - interval '1 day', t = coalesce(t, '') || 'ü' WHERE id IN (3, 6);
       UPDATE public.nasty SET id = 1000 WHERE id = 4;
       DELETE FROM public.many WHERE id <= 100;
       UPDATE public.many SET v = v || E'\\n changed', w = -w WHERE id BETWEEN 101 AND 300;`,
      [],
      t.database,
    );
  },
});
