import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type MariaDbServer, startMariaDb } from '../helpers/mariadb-server.js';
import { tempDir } from '../helpers/temp.js';
import { showCreateAll, tableFingerprints } from '../integration/mysql/harness.js';

/** The built CLI (`npm run build` first): incremental backups from MariaDB's binary log and restore --at. */
describe('dbbackup backup --type incremental / restore --at with --db mysql (MariaDB)', () => {
  let server: MariaDbServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let env: NodeJS.ProcessEnv;
  const cli = (args: string[]) => runCli(args, { env, cwd: dir.path });

  beforeAll(async () => {
    server = await startMariaDb();
    dir = await tempDir('mysql-cap-e2e-');
    env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), MYSQL_PWD: '' };
    await server.query(String.raw`
      CREATE DATABASE shop CHARACTER SET utf8mb4;
      CREATE TABLE shop.items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50), price DECIMAL(9,2));
      CREATE TABLE shop.log (id INT PRIMARY KEY, msg TEXT) CHARACTER SET latin1;
      USE shop;
      CREATE TRIGGER items_ai AFTER INSERT ON items FOR EACH ROW INSERT INTO log VALUES (NEW.id + 100, NEW.name);
      INSERT INTO shop.items (name, price) VALUES ('tea', 3.50), ('naïve', NULL);`);
  });
  afterAll(async () => {
    await server?.stop();
    await dir?.cleanup();
  });

  const backup = async (...args: string[]) => {
    const r = await cli(['backup', '--db', 'mysql', '--url', server.url('shop'), '--out', 'chain', '--json', ...args]);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { manifest: { id: string; kind: string; logPosition: Record<string, unknown>; restorable: { from: string; to: string }; consistentAt: string } }).manifest;
  };

  /** The server's time now, once the binlog's second of it is over (binlog times are whole seconds). */
  const instant = async (): Promise<string> => {
    const [row] = await server.query<{ t: string }>('SELECT UNIX_TIMESTAMP(NOW(3)) AS t');
    const at = Number(row!.t);
    while (Number((await server.query<{ t: string }>('SELECT UNIX_TIMESTAMP() AS t'))[0]!.t) <= Math.floor(at)) await new Promise((r) => setTimeout(r, 50));
    return new Date(Math.round(at * 1000)).toISOString();
  };

  it('chains incrementals to a full and restores the state at an instant between them', async () => {
    const full = await backup();
    expect(full.logPosition).toMatchObject({ file: expect.stringMatching(/^binlog\.\d+$/), position: expect.any(Number), gtid: expect.stringMatching(/^\d+-1-\d+$/) });
    await server.query("INSERT INTO shop.items (name, price) VALUES ('cake', 4.25); UPDATE shop.items SET price = 3.75 WHERE id = 1;");
    const between = await instant();
    const expected = { tables: await tableFingerprints(server, 'shop'), objects: await showCreateAll(server, 'shop') };
    await server.query("DELETE FROM shop.items WHERE id = 2; ALTER TABLE shop.items ADD COLUMN stock INT NOT NULL DEFAULT 0; INSERT INTO shop.items (name, stock) VALUES ('jam', 5);");
    const inc = await backup('--type', 'incremental');
    expect(inc.kind).toBe('incremental');
    expect(inc.restorable).toEqual({ from: full.consistentAt, to: inc.consistentAt });

    const dry = await cli(['restore', '--from', 'chain', '--at', between, '--db', 'mysql', '--url', server.url('shop_at'), '--create', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout + dry.stderr).toMatch(/replays the binary log of the backup's databases/);

    const r = await cli(['restore', '--from', 'chain', '--at', between, '--db', 'mysql', '--url', server.url('shop_at'), '--create']);
    expect(r.code, r.stderr).toBe(0);
    expect(await tableFingerprints(server, 'shop_at')).toEqual(expected.tables);
    expect(await showCreateAll(server, 'shop_at')).toEqual(expected.objects);

    const latest = await cli(['restore', '--from', 'chain', '--db', 'mysql', '--url', server.url('shop_now'), '--create']);
    expect(latest.code, latest.stderr).toBe(0);
    expect(await tableFingerprints(server, 'shop_now')).toEqual(await tableFingerprints(server, 'shop'));

    const picked = await cli(['restore', '--from', 'chain', '--db', 'mysql', '--url', server.url('shop_t'), '--create', '--tables', 'items']);
    // The chain holds an ALTER TABLE: a replay limited to chosen tables cannot follow it.
    expect(picked.code).toBe(2);
    expect(picked.stderr).toMatch(/E_UNSUPPORTED.*without --tables/);
  });
});
