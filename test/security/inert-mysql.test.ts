import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type MariaDbServer, startMariaDb } from '../helpers/mariadb-server.js';
import { tempDir } from '../helpers/temp.js';
import { backupFolder, readManifest, tamperText, writeManifest } from './tamper.js';

/** Crafted MySQL backups (parts edited, checksums fixed) against a real MariaDB: refused before the server changes. */
describe('a crafted MySQL backup restores inertly', () => {
  let server: MariaDbServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let env: NodeJS.ProcessEnv;
  let counter = 0;
  const cli = (...args: string[]) => runCli(args, { env });

  beforeAll(async () => {
    server = await startMariaDb();
    dir = await tempDir('dbb-inert-mysql-');
    env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), MYSQL_PWD: '' };
    await server.query(`
      CREATE DATABASE shop CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
      CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(50), KEY kn (name));
      CREATE TABLE shop.log (id INT PRIMARY KEY, msg TEXT);
      INSERT INTO shop.items VALUES (1, 'tea'), (2, 'cake');
      INSERT INTO shop.log VALUES (1, 'hello');
      CREATE DATABASE bystander; CREATE TABLE bystander.keep (x INT PRIMARY KEY); INSERT INTO bystander.keep VALUES (7);`);
  });
  afterAll(async () => {
    await server?.stop();
    await dir?.cleanup();
  });

  async function backup(): Promise<{ repo: string; id: string; folder: string }> {
    const repo = join(dir.path, `repo${++counter}`);
    const b = await cli('backup', '--db', 'mysql', '--url', server.url('shop'), '--out', repo, '--compress', 'none', '--json');
    expect(b.code, b.stderr).toBe(0);
    const { id } = JSON.parse(b.stdout) as { id: string };
    return { repo, id, folder: await backupFolder(repo, id) };
  }

  const databases = async () => (await server.query<{ n: string }>('SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA ORDER BY 1')).map((r) => r.n);
  const tables = async () =>
    (await server.query<{ n: string }>("SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 1")).map((r) => r.n);

  /** Replaces the statement of `block` (its marker's JSON contains it) in the schema script. */
  const editBlock = (marker: string, edit: (statement: string) => string) => (text: string) => {
    const at = text.indexOf(marker);
    if (at < 0) throw new Error(`no block ${marker}`);
    const start = text.indexOf('\n', at) + 1;
    const end = text.indexOf('\n;;\n', start);
    return text.slice(0, start) + edit(text.slice(start, end)) + text.slice(end);
  };
  const schemaPart = (p: { role: string }) => p.role === 'schema';

  it('restores the untampered backup with --tables into a new database', async () => {
    const { repo, id } = await backup();
    const r = await cli('restore', '--from', repo, '--backup', id, '--db', 'mysql', '--url', server.url('legit'), '--create', '--tables', 'items');
    expect(r.code, r.stderr).toBe(0);
    expect(await server.query('SELECT id, name FROM legit.items ORDER BY id')).toEqual([
      { id: 1, name: 'tea' },
      { id: 2, name: 'cake' },
    ]);
  });

  const cases: { name: string; tables?: string; edit: (t: string) => string }[] = [
    {
      name: "a table's block with a second statement that drops another database's table",
      edit: (t) => editBlock('"name":"log"', (s) => `${s}\n;;\nDROP TABLE bystander.keep`)(t),
    },
    {
      name: 'a table block whose CREATE makes a table in another database',
      edit: editBlock('"name":"log"', (s) => s.replace('CREATE TABLE `log`', 'CREATE TABLE `bystander`.`evil`')),
    },
    {
      name: "the items table relabelled as log's block, so --tables log would run it",
      tables: 'log',
      edit: (t) => t.replace('"kind":"table","db":"shop","name":"log"', '"kind":"table","db":"shop","name":"tmp"').replace('"kind":"table","db":"shop","name":"items"', '"kind":"table","db":"shop","name":"log"'),
    },
    {
      name: 'a session block that sets a global variable',
      edit: (t) => t.replace('SET FOREIGN_KEY_CHECKS = 0', 'SET GLOBAL read_only = 1'),
    },
  ];

  for (const c of cases) {
    it(`refuses ${c.name}: verify passes, restore exits 4, the server is unchanged`, async () => {
      const { repo, id, folder } = await backup();
      await tamperText(folder, schemaPart, c.edit);
      expect((await cli('verify', '--from', repo, id)).code).toBe(0);
      const before = { dbs: await databases(), tables: await tables() };
      const args = ['restore', '--from', repo, '--backup', id, '--db', 'mysql', '--url', server.url(`t${counter}`), '--create'];
      const r = await cli(...args, ...(c.tables ? ['--tables', c.tables] : []));
      expect(r.code, r.stdout + r.stderr).toBe(4);
      expect(r.stderr).toMatch(/E_UNSAFE_BACKUP/);
      expect({ dbs: await databases(), tables: await tables() }).toEqual(before);
      expect(Number((await server.query<{ r: unknown }>('SELECT @@GLOBAL.read_only AS r'))[0]!.r)).toBe(0);
    });
  }

  it('refuses a charset that is not a plain name, before creating the database', async () => {
    const { repo, id, folder } = await backup();
    const manifest = await readManifest(folder);
    const info = manifest.engineInfo as { databases: { charset: string; collation: string }[] };
    info.databases[0]!.charset = "utf8mb4 COMMENT 'x'";
    await writeManifest(folder, manifest);
    const before = await databases();
    const r = await cli('restore', '--from', repo, '--backup', id, '--db', 'mysql', '--url', server.url('charset_target'), '--create');
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/E_UNSAFE_BACKUP.*charset or collation/);
    expect(await databases()).toEqual(before);
  });
});
