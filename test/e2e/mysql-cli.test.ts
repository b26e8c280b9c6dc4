import { execFileSync } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type MariaDbServer, startMariaDb } from '../helpers/mariadb-server.js';
import { tempDir } from '../helpers/temp.js';
import { showCreateAll, tableFingerprints } from '../integration/mysql/harness.js';

const PASSWORD = 'p@ss w0rd;"x';

/** The built CLI (`npm run build` first) against a throwaway MariaDB, as a user would run it. */
describe('dbbackup CLI with --db mysql (MariaDB)', () => {
  let server: MariaDbServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let env: NodeJS.ProcessEnv;
  const cli = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => runCli(args, { env: { ...env, ...extraEnv } });

  beforeAll(async () => {
    server = await startMariaDb();
    dir = await tempDir('mysql-e2e-');
    env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), MYSQL_PWD: '' };
    await server.query(String.raw`
      CREATE DATABASE shop CHARACTER SET utf8mb4;
      USE shop;
      CREATE TABLE shop.items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50), price DECIMAL(9,2), tags JSON, KEY kn (name));
      INSERT INTO shop.items (name, price, tags) VALUES ('tea ☕', 3.50, '["hot"]'), ('tab\there', NULL, NULL), ('', 0, '{}');
      CREATE TABLE shop.log (id INT PRIMARY KEY, msg TEXT) CHARACTER SET latin1;
      INSERT INTO shop.log VALUES (1, 'naïve');
      CREATE VIEW shop.cheap AS SELECT name FROM shop.items WHERE price < 5;
      CREATE PROCEDURE shop.touch() UPDATE shop.log SET msg = CONCAT(msg, '!');
      CREATE TRIGGER shop.items_ai AFTER INSERT ON shop.items FOR EACH ROW INSERT INTO log VALUES (NEW.id + 100, NEW.name);
      CREATE DATABASE extra; CREATE TABLE extra.t (x INT PRIMARY KEY); INSERT INTO extra.t VALUES (7);
      CREATE USER bk@localhost IDENTIFIED BY '${PASSWORD.replace(/'/g, "''")}';
      GRANT ALL PRIVILEGES ON *.* TO bk@localhost;`);
  });
  afterAll(async () => {
    await server?.stop();
    await dir?.cleanup();
  });

  it('backs up with --url and restores into a new database (--target-database --create), exactly', async () => {
    const repo = join(dir.path, 'repo');
    const b = await cli(['backup', '--db', 'mysql', '--url', server.url('shop'), '--out', repo, '--json']);
    expect(b.code, b.stderr).toBe(0);
    const out = JSON.parse(b.stdout) as { id: string; manifest: { logPosition: { file: string }; engine: string; objects: { rows?: number }[] } };
    expect(out.manifest.engine).toBe('mysql');
    expect(out.manifest.logPosition.file).toMatch(/^binlog\./);
    const schema = await readFile(join(repo, 'shop', out.id, 'schema.sql.zst')).catch(() => undefined);
    expect(schema).toBeDefined();

    const dry = await cli(['restore', '--from', repo, '--db', 'mysql', '--url', server.url(), '--target-database', 'shop2', '--create', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/Dry run: nothing was changed/);
    expect(dry.stdout).toMatch(/shop2\.items/);
    expect(await server.query("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop2'")).toEqual([]);

    const r = await cli(['restore', '--from', repo, '--db', 'mysql', '--url', server.url(), '--target-database', 'shop2', '--create']);
    expect(r.code, r.stderr).toBe(0);
    // Exactly this backup, the objects its manifest lists, and the 3 + 1 rows of shop.items and shop.log.
    expect(r.stdout).toMatch(new RegExp(`^Restored backup ${out.id} into .+: ${out.manifest.objects.length} objects, 4 rows; `, 'm'));
    expect(await tableFingerprints(server, 'shop2')).toEqual(await tableFingerprints(server, 'shop'));
    const [restored, original] = [await showCreateAll(server, 'shop2'), await showCreateAll(server, 'shop')];
    // The trigger was created as `shop.items_ai … ON shop.items`: a renaming restore drops the qualifier.
    expect(restored['trigger items_ai']).toBe(original['trigger items_ai']!.replace('shop.items_ai', 'items_ai').replace('ON shop.items', 'ON items'));
    delete restored['trigger items_ai'];
    delete original['trigger items_ai'];
    // The procedure's body named shop: the qualifier follows the rename.
    expect(restored['procedure touch']).toBe(original['procedure touch']!.replace('UPDATE shop.log', 'UPDATE `DB`.log'));
    delete restored['procedure touch'];
    delete original['procedure touch'];
    expect(restored).toEqual(original);
    // Renamed for real: the view and trigger point at shop2's tables, not shop's.
    const [view] = await server.query<{ v: string }>("SELECT VIEW_DEFINITION AS v FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'shop2'");
    expect(view!.v).toMatch(/`shop2`\.`items`/);
    await server.query("INSERT INTO shop2.items (name) VALUES ('new')");
    expect(await server.query('SELECT COUNT(*) AS n FROM shop2.log WHERE id > 100')).toEqual([{ n: '1' }]);

    const again = await cli(['restore', '--from', repo, '--db', 'mysql', '--url', server.url('shop2')]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/E_TARGET_EXISTS/);
    const clean = await cli(['restore', '--from', repo, '--db', 'mysql', '--url', server.url('shop2'), '--clean']);
    expect(clean.code, clean.stderr).toBe(0);

    // The restore looks at the target and logs its connections in while the stored bytes are
    // checked, but changes nothing before they passed: a damaged data part leaves no database behind.
    const dataDir = join(repo, 'shop', out.id, 'data');
    const part = join(dataDir, (await readdir(dataDir)).find((f) => f.startsWith('shop.items.'))!);
    const bytes = await readFile(part);
    bytes[bytes.length >> 1] ^= 0xff;
    await writeFile(part, bytes);
    const damaged = await cli(['restore', '--from', repo, '--db', 'mysql', '--url', server.url(), '--target-database', 'shop3', '--create']);
    expect(damaged.code, damaged.stderr).toBe(4);
    expect(damaged.stderr).toMatch(/shop\.items/);
    expect(await server.query("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop3'")).toEqual([]);
  });

  it('takes the password from --password-env or MYSQL_PWD, never prints it, and fails a bad login with exit 3', async () => {
    const repo = join(dir.path, 'repo-pw');
    const flags = ['--db', 'mysql', '--host', '127.0.0.1', '--port', String(server.port), '--user', 'bk', '--database', 'shop', '--out', repo];
    const viaEnvVar = await cli(['backup', ...flags, '--password-env', 'SHOP_PW'], { SHOP_PW: PASSWORD });
    expect(viaEnvVar.code, viaEnvVar.stderr).toBe(0);
    const viaMysqlPwd = await cli(['backup', ...flags, '--json'], { MYSQL_PWD: PASSWORD });
    expect(viaMysqlPwd.code, viaMysqlPwd.stderr).toBe(0);
    expect(viaMysqlPwd.stdout).not.toContain(PASSWORD);

    const bad = await cli(['backup', ...flags, '--password-env', 'SHOP_PW', '--verbose'], { SHOP_PW: 'wrong-secret-123' });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/E_AUTH/);
    expect(bad.stderr + bad.stdout).not.toContain('wrong-secret-123');
    const refused = await cli(['backup', '--db', 'mysql', '--url', 'mysql://root@127.0.0.1:1/shop', '--out', repo]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/E_CONN_REFUSED/);
  });

  it('connects over --socket, backs up --all-databases into a .tar.gz, and restores one database from it', async () => {
    const archive = join(dir.path, 'all.tar.gz');
    const b = await cli(['backup', '--db', 'mysql', '--socket', server.socket, '--user', 'root', '--all-databases', '--out', archive, '--json']);
    expect(b.code, b.stderr).toBe(0);
    const names = (JSON.parse(b.stdout) as { manifest: { objects: { name: string }[] } }).manifest.objects.map((o) => o.name);
    expect(names).toEqual(expect.arrayContaining(['shop.items', 'extra.t']));
    expect(names.some((n) => n.startsWith('mysql.'))).toBe(false);

    await server.query('DROP DATABASE extra');
    const r = await cli(['restore', '--file', archive, '--db', 'mysql', '--socket', server.socket, '--user', 'root', '--database', 'extra', '--create']);
    expect(r.code, r.stderr).toBe(0);
    expect(await server.query('SELECT x FROM extra.t')).toEqual([{ x: 7 }]);
  });

  it('writes parts that native tools restore: mariadb < schema.sql, LOAD DATA of each part, mariadb < post-data.sql', async () => {
    const repo = join(dir.path, 'plain');
    const b = await cli(['backup', '--db', 'mysql', '--url', server.url('shop'), '--out', repo, '--compress', 'none', '--json']);
    expect(b.code, b.stderr).toBe(0);
    const folder = join(repo, 'shop', (JSON.parse(b.stdout) as { id: string }).id);
    const before = await tableFingerprints(server, 'shop');
    await server.query('DROP DATABASE shop');
    const mariadb = (sql: string, input?: string) =>
      execFileSync('mariadb', ['--no-defaults', '-S', server.socket, '-uroot', '--local-infile=1', ...(sql ? ['-e', sql] : [])], { input });
    mariadb('', await readFile(join(folder, 'schema.sql'), 'utf8'));
    for (const file of await readdir(join(folder, 'data'))) {
      const table = file.replace(/^shop\.(.*)\.\d+\.tsv$/, '$1');
      mariadb(`SET time_zone = '+00:00'; LOAD DATA LOCAL INFILE '${join(folder, 'data', file)}' INTO TABLE shop.${table} CHARACTER SET binary`);
    }
    mariadb('', await readFile(join(folder, 'post-data.sql'), 'utf8'));
    expect(await tableFingerprints(server, 'shop')).toEqual(before);
  });

  it('refuses --ssl-mode REQUIRED against a server without TLS (exit 3)', async () => {
    const r = await cli(['backup', '--db', 'mysql', '--url', server.url('shop'), '--ssl-mode', 'REQUIRED', '--out', join(dir.path, 'tls')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/E_CONN_REFUSED/);
  });
});
