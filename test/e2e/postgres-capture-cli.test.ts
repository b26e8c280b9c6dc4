import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type PostgresServer, startPostgres } from '../helpers/postgres-server.js';
import { tempDir } from '../helpers/temp.js';

let server: PostgresServer;
let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  [server, dir] = await Promise.all([startPostgres(), tempDir('dbb-e2e-pgcap-')]);
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), PGPASSWORD: undefined, PGHOST: undefined, PGPORT: undefined, PGUSER: undefined, PGDATABASE: undefined };
  await server.query('CREATE DATABASE shop');
  await server.query('CREATE TABLE public.orders (id int PRIMARY KEY, total numeric); CREATE TABLE public.log (line text); INSERT INTO public.orders VALUES (1, 9.5);', [], 'shop');
});

afterAll(async () => {
  await server?.stop();
  await dir?.cleanup();
});

const cli = (args: string[]) => runCli(args, { env, cwd: dir.path });

describe('dbbackup backup --capture changes (PostgreSQL)', () => {
  it('creates the publication and a slot, and records them as the backup position', async () => {
    const b = await cli(['backup', '--db', 'postgres', '--url', server.url('shop'), '--out', 'backups', '--capture', 'changes', '--json']);
    expect(b.code).toBe(0);
    const { manifest } = JSON.parse(b.stdout) as { manifest: { logPosition: Record<string, string>; warnings: string[] } };
    expect(manifest.logPosition).toMatchObject({ publication: 'dbbackup_shop', slot: expect.stringMatching(/^dbbackup_shop_[a-z0-9]+$/), lsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/) });
    expect(manifest.warnings.join('\n')).toMatch(/public\.log has no primary key/);
    expect(await server.query('SELECT slot_name, plugin FROM pg_replication_slots')).toEqual([{ slot_name: manifest.logPosition.slot, plugin: 'pgoutput' }]);
    expect(await server.query(`SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = 'dbbackup_shop'`, [], 'shop')).toEqual([{ schemaname: 'public', tablename: 'orders' }]);
    // Writes to the table left out of the publication still work.
    await server.query(`INSERT INTO public.log VALUES ('x'); UPDATE public.log SET line = 'y'; DELETE FROM public.log;`, [], 'shop');

    const bad = await cli(['backup', '--db', 'postgres', '--url', server.url('shop'), '--out', 'backups', '--capture', 'everything']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--capture takes "changes"/);
  });
});
