import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readdir, rename, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHashes, createNastyDatabase, Database } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';
import { runCliUmask022 } from './umask-cli.js';

/**
 * Issue 18 case 5: under the usual umask 022, nothing dbbackup writes may be readable by another
 * local user (a backup is the whole database), and a folder repository never follows a link.
 */
let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
let db: string;

beforeAll(async () => {
  dir = await tempDir('dbb-sec-files-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), XDG_STATE_HOME: join(dir.path, 'state') };
  db = join(dir.path, 'app.db');
  createNastyDatabase(db);
});

afterAll(() => dir.cleanup());

const cli = (...args: string[]) => runCliUmask022(args, { env, cwd: dir.path });
const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

async function modesUnder(root: string): Promise<{ path: string; dir: boolean; mode: number }[]> {
  const out = [{ path: root, dir: true, mode: await modeOf(root) }];
  for (const name of await readdir(root, { recursive: true })) {
    const path = join(root, String(name));
    const info = await stat(path);
    out.push({ path, dir: info.isDirectory(), mode: info.mode & 0o777 });
  }
  return out;
}

async function backupId(repo: string): Promise<string> {
  const b = await cli('backup', '--db', 'sqlite', '--file', db, '--out', repo, '--json');
  expect(b.code, b.stderr).toBe(0);
  return (JSON.parse(b.stdout) as { id: string }).id;
}

describe('5. files are private whatever the umask', () => {
  it('a folder repository: every folder 0700, every part, manifest and marker 0600; the catalog 0600 in a 0700 data dir', async () => {
    await backupId('repo');
    const entries = await modesUnder(join(dir.path, 'repo'));
    expect(entries.filter((e) => !e.dir).map((e) => e.path)).toEqual(
      expect.arrayContaining([expect.stringMatching(/manifest\.json$/), expect.stringMatching(/dbbackup-repo\.json$/), expect.stringMatching(/main\.0\.sqlite/)]),
    );
    for (const e of entries) expect([e.path, e.mode.toString(8)]).toEqual([e.path, e.dir ? '700' : '600']);
    expect((await modeOf(join(dir.path, 'data', 'catalog.db'))).toString(8)).toBe('600');
    expect((await modeOf(join(dir.path, 'data'))).toString(8)).toBe('700');
  });

  it('an existing catalog that others can read is narrowed to 0600 when opened', async () => {
    const catalog = join(dir.path, 'data', 'catalog.db');
    await chmod(catalog, 0o644);
    expect((await cli('list')).code).toBe(0);
    expect((await modeOf(catalog)).toString(8)).toBe('600');
  });

  it('.tar.gz and .zip archives are 0600, and so are their entries (and the files tar extracts)', async () => {
    for (const name of ['b.tar.gz', 'b.zip']) expect((await cli('backup', '--db', 'sqlite', '--file', db, '--out', name)).code).toBe(0);
    expect((await modeOf(join(dir.path, 'b.tar.gz'))).toString(8)).toBe('600');
    expect((await modeOf(join(dir.path, 'b.zip'))).toString(8)).toBe('600');
    const tarList = execFileSync('tar', ['tvzf', 'b.tar.gz'], { cwd: dir.path, encoding: 'utf8' }).trim().split('\n');
    const zipList = execFileSync('zipinfo', ['-s', 'b.zip'], { cwd: dir.path, encoding: 'utf8' }).split('\n').filter((l) => /^[-d]/.test(l));
    expect(tarList.length).toBeGreaterThanOrEqual(3);
    expect(zipList.length).toBe(tarList.length);
    for (const line of [...tarList, ...zipList]) expect(line.slice(0, 10)).toBe('-rw-------');
    // Extracted with the same umask 022, the files stay owner-only.
    const out = join(dir.path, 'untarred');
    await mkdir(out);
    execFileSync('sh', ['-c', `umask 022; tar xzf ${join(dir.path, 'b.tar.gz')} -C ${out}`]);
    const files = (await modesUnder(out)).filter((e) => !e.dir);
    expect(files.length).toBe(tarList.length);
    for (const f of files) expect(f.mode.toString(8)).toBe('600');
  });

  it('a SQLite restore keeps the mode of the file it replaces, and makes a new file 0600', async () => {
    const id = await backupId('restore-repo');
    const restore = (target: string, ...extra: string[]) =>
      cli('restore', '--from', 'restore-repo', '--backup', id, '--db', 'sqlite', '--database', target, ...extra);

    const fresh = join(dir.path, 'fresh.db');
    expect((await restore(fresh)).code).toBe(0);
    expect((await modeOf(fresh)).toString(8)).toBe('600');

    // An empty 0600 file the owner prepared (it is replaced by a rename).
    const empty = join(dir.path, 'empty.db');
    await writeFile(empty, '', { mode: 0o600 });
    expect((await restore(empty)).code).toBe(0);
    expect((await modeOf(empty)).toString(8)).toBe('600');
    expect(contentHashes(empty)).toEqual(contentHashes(db));

    // A non-SQLite file replaced with --clean keeps its 0640 too.
    const other = join(dir.path, 'other.db');
    await writeFile(other, 'not a database', { mode: 0o640 });
    await chmod(other, 0o640);
    expect((await restore(other, '--clean')).code).toBe(0);
    expect((await modeOf(other)).toString(8)).toBe('640');

    // A database with content, replaced in place with --clean.
    const full = join(dir.path, 'full.db');
    const d = new Database(full);
    d.exec('CREATE TABLE old (x); INSERT INTO old VALUES (1);');
    d.close();
    await chmod(full, 0o600);
    expect((await restore(full, '--clean')).code).toBe(0);
    expect((await modeOf(full)).toString(8)).toBe('600');

    // Only some tables, into a file that does not exist yet.
    const table = Object.keys(contentHashes(db))[0]!;
    const partial = join(dir.path, 'partial.db');
    const r = await restore(partial, '--tables', table);
    expect(r.code, r.stderr).toBe(0);
    expect((await modeOf(partial)).toString(8)).toBe('600');
  });

  it('a folder repository never follows a symbolic link: a linked source folder or data folder is refused, nothing is written through it', async () => {
    const id = await backupId('linked');
    const source = (await readdir(join(dir.path, 'linked'))).find((n) => n !== 'dbbackup-repo.json')!;
    // An attacker who can write to the repository points the source folder at a folder of theirs.
    const elsewhere = join(dir.path, 'elsewhere');
    await mkdir(elsewhere);
    await rename(join(dir.path, 'linked', source), join(dir.path, 'linked-real'));
    await symlink(elsewhere, join(dir.path, 'linked', source));
    const b = await cli('backup', '--db', 'sqlite', '--file', db, '--out', 'linked');
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/error E_STORAGE: .*linked\/[^ ]+ is a symbolic link; a repository folder never follows links/);
    expect(await readdir(elsewhere)).toEqual([]);

    // A backup whose data folder is a link to a copy: verify and restore refuse it.
    await rename(join(dir.path, 'linked', source), join(dir.path, 'dangling-link'));
    await rename(join(dir.path, 'linked-real'), join(dir.path, 'linked', source));
    const data = join(dir.path, 'linked', source, id, 'data');
    await rename(data, join(dir.path, 'data-copy'));
    await symlink(join(dir.path, 'data-copy'), data);
    const v = await cli('verify', '--from', 'linked', id);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/E_STORAGE: .*\/data is a symbolic link/);
    const r = await cli('restore', '--from', 'linked', '--backup', id, '--db', 'sqlite', '--database', join(dir.path, 'via-link.db'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_STORAGE: .*\/data is a symbolic link/);
    await expect(stat(join(dir.path, 'via-link.db'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
