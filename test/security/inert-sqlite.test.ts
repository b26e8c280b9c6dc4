import { readFile, stat, writeFile, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { Database } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';
import { backupFolder, readManifest, tamperPart, writeManifest } from './tamper.js';

let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
let source: string;
let counter = 0;

const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });
const exists = async (path: string) => (await stat(path).catch(() => undefined)) !== undefined;

beforeAll(async () => {
  dir = await tempDir('dbb-inert-sqlite-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data') };
  source = join(dir.path, 'app.db');
  const db = new Database(source);
  db.exec(`
    CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
    CREATE TABLE other (x INTEGER);
    CREATE INDEX users_name ON users(name);
    CREATE VIEW user_names AS SELECT name FROM users;
    CREATE TRIGGER users_audit AFTER INSERT ON users BEGIN INSERT INTO other VALUES (NEW.id); END;
    INSERT INTO users (name) VALUES ('ann'), ('bob');
    INSERT INTO other VALUES (7);
  `);
  db.close();
});

afterAll(async () => {
  await dir.cleanup();
});

/** A fresh uncompressed backup of the source in its own repository: { repo, id, folder }. */
async function backup(): Promise<{ repo: string; id: string; folder: string }> {
  const repo = join(dir.path, `repo${++counter}`);
  const b = await cli('backup', '--db', 'sqlite', '--file', source, '--out', repo, '--compress', 'none', '--json');
  expect(b.code, b.stderr).toBe(0);
  const { id } = JSON.parse(b.stdout) as { id: string };
  return { repo, id, folder: await backupFolder(repo, id) };
}

/** Rewrites schema rows of the backup's database file (what an attacker with storage access can do). */
async function editSchema(folder: string, edit: (db: InstanceType<typeof Database>) => void): Promise<void> {
  await tamperPart(folder, (p) => p.role === 'data', async (bytes) => {
    const scratch = await mkdtemp(join(dir.path, 'edit-'));
    const file = join(scratch, 'x.db');
    await writeFile(file, bytes);
    const db = new Database(file);
    db.unsafeMode(true);
    db.pragma('writable_schema = ON');
    edit(db);
    db.pragma('writable_schema = OFF');
    db.close();
    return readFile(file);
  });
}

/** Sets a schema row's SQL; PWNED stands for a file outside every target (which must never appear). */
const setSql = (name: string, sql: string) => (db: InstanceType<typeof Database>) => {
  db.prepare('UPDATE sqlite_master SET sql = ? WHERE name = ?').run(sql.replace('PWNED', pwned()), name);
};
const pwned = () => join(dir.path, 'pwned.db');

describe('a crafted SQLite backup restores inertly', () => {
  it('the untampered backup restores a table with its index, trigger and a view', async () => {
    const { repo, id } = await backup();
    const target = join(dir.path, 'legit.db');
    const r = await cli('restore', '--from', repo, '--backup', id, '--db', 'sqlite', '--database', target, '--tables', 'users,other,user_names');
    expect(r.code, r.stderr).toBe(0);
    const db = new Database(target, { readonly: true });
    const names = (db.prepare('SELECT name FROM sqlite_master ORDER BY name').all() as { name: string }[]).map((x) => x.name);
    expect(names).toEqual(['other', 'user_names', 'users', 'users_audit', 'users_name']);
    expect(db.prepare('SELECT count(*) AS n FROM users').get()).toEqual({ n: 2 });
    db.close();
  });

  // `code`: SQLite itself calls a schema whose row and SQL disagree on the table malformed (E_CHECKSUM).
  const cases: { name: string; tables: string; edit: (db: InstanceType<typeof Database>) => void; code?: RegExp }[] = [
    {
      name: 'a table whose SQL ATTACHes a file after its CREATE',
      tables: 'users',
      edit: setSql('users', 'CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); ATTACH DATABASE \'PWNED\' AS x; CREATE TABLE x.t(a)'),
    },
    {
      name: 'a view with a second statement',
      tables: 'user_names',
      edit: setSql('user_names', 'CREATE VIEW user_names AS SELECT name FROM users; ATTACH DATABASE \'PWNED\' AS x'),
    },
    {
      name: 'a trigger with a statement after its END',
      tables: 'users',
      edit: setSql('users_audit', 'CREATE TRIGGER users_audit AFTER INSERT ON users BEGIN SELECT 1; END; ATTACH DATABASE \'PWNED\' AS x'),
    },
    {
      name: 'an index of users that is built on another table',
      tables: 'users',
      edit: setSql('users_name', 'CREATE INDEX users_name ON other(x)'),
      code: /E_CHECKSUM.*malformed database schema/,
    },
    {
      name: 'a trigger of users that fires on another table',
      tables: 'users',
      edit: setSql('users_audit', 'CREATE TRIGGER users_audit AFTER DELETE ON other BEGIN DELETE FROM users; END'),
      code: /E_CHECKSUM.*malformed database schema/,
    },
    {
      name: 'a table row whose SQL creates another table',
      tables: 'users',
      edit: setSql('users', 'CREATE TABLE other2 (id INTEGER PRIMARY KEY, name TEXT)'),
      code: /E_CHECKSUM|E_UNSAFE_BACKUP/,
    },
    {
      name: 'a table SQL of another kind (a TEMP table)',
      tables: 'users',
      edit: setSql('users', 'CREATE TEMP TABLE users (id INTEGER PRIMARY KEY, name TEXT)'),
    },
  ];

  for (const c of cases) {
    it(`refuses ${c.name}: verify passes, restore exits 4 and changes nothing`, async () => {
      const { repo, id, folder } = await backup();
      await editSchema(folder, c.edit);
      const v = await cli('verify', '--from', repo, id);
      expect(v.code, v.stderr).toBe(0);
      const target = join(dir.path, `target-${counter}.db`);
      const r = await cli('restore', '--from', repo, '--backup', id, '--db', 'sqlite', '--database', target, '--tables', c.tables);
      expect(r.code, r.stdout + r.stderr).toBe(4);
      expect(r.stderr).toMatch(c.code ?? /E_UNSAFE_BACKUP/);
      expect(await exists(pwned())).toBe(false);
      expect(await exists(target)).toBe(false);
    });
  }

  it('leaves an existing target as it was when a chosen object is refused', async () => {
    const { repo, id, folder } = await backup();
    await editSchema(folder, setSql('users', "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); DROP TABLE other"));
    const target = join(dir.path, 'kept.db');
    const db = new Database(target);
    db.exec('CREATE TABLE other (x INTEGER); CREATE TABLE users (keep TEXT); INSERT INTO users VALUES (1)');
    db.close();
    const before = await readFile(target);
    const r = await cli('restore', '--from', repo, '--backup', id, '--db', 'sqlite', '--database', target, '--tables', 'users', '--clean');
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/E_UNSAFE_BACKUP.*table "users"/);
    expect((await readFile(target)).equals(before)).toBe(true);
  });

  it('refuses a whole-database restore of a file holding an object the manifest does not declare', async () => {
    const { repo, id, folder } = await backup();
    const manifest = await readManifest(folder);
    manifest.objects = manifest.objects.filter((o) => o.name !== 'users_audit');
    await writeManifest(folder, manifest);
    const target = join(dir.path, 'whole.db');
    const r = await cli('restore', '--from', repo, '--backup', id, '--db', 'sqlite', '--database', target);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/trigger "users_audit".*does not declare/);
    expect(await exists(target)).toBe(false);
  });
});
