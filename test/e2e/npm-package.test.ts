import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installGlobal, localPrebuilds, packTarball, ROOT } from '../helpers/npm-package.js';
import { contentHashes, createNastyDatabase, schemaOf } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';

const run = promisify(execFile);

// What a stranger does: `npm pack`, then `npm install -g ./dbbackup-<v>.tgz` into a fresh prefix,
// then the installed `dbbackup` with nothing of this checkout around it. The native addons come
// from local prebuilds of this checkout's builds (see localPrebuilds) unless
// DBBACKUP_E2E_BUILD_FROM_SOURCE=1 asks npm to build them with node-gyp as a machine without
// prebuilds would (~2 min here).
let dir: { path: string; cleanup(): Promise<void> };
let tarball: string;
let prefix: string;
let installed: string;

beforeAll(async () => {
  dir = await tempDir('dbb-npm-');
  tarball = await packTarball(dir.path);
  prefix = join(dir.path, 'prefix');
  const prebuilds = process.env.DBBACKUP_E2E_BUILD_FROM_SOURCE === '1' ? {} : await localPrebuilds(join(dir.path, 'prebuilds'));
  await installGlobal(tarball, prefix, prebuilds);
  installed = join(prefix, 'lib', 'node_modules', 'dbbackup');
}, 900_000);

afterAll(async () => {
  await dir?.cleanup();
});

/** The installed command, from an empty folder, with only it and node on PATH. */
function dbbackup(cwd: string, ...args: string[]) {
  return run(join(prefix, 'bin', 'dbbackup'), args, {
    cwd,
    env: { PATH: `${join(prefix, 'bin')}:${dirname(process.execPath)}`, HOME: cwd, DBBACKUP_DATA_DIR: join(cwd, 'data'), XDG_STATE_HOME: join(cwd, 'state') },
  });
}

describe('the npm package', () => {
  it('ships compiled JavaScript and no sources, tests or TypeScript build step', async () => {
    const { stdout } = await run('tar', ['tzf', tarball], { maxBuffer: 64 << 20 });
    const files = stdout.split('\n').filter(Boolean);
    expect(files).toContain('package/bin/dbbackup.js');
    expect(files).toContain('package/dist/bundle/main.js');
    expect(files).toContain('package/drizzle/meta/_journal.json');
    expect(files.filter((f) => /^package\/(src|test|bench|scripts)\//.test(f))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    const pkg = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    // Nothing runs at install time but the native addons' own scripts.
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) expect(pkg.scripts?.[hook]).toBeUndefined();
  });

  it('installs no dev dependencies and a working native SQLite addon', async () => {
    const modules = await readdir(join(installed, 'node_modules'));
    for (const dev of ['typescript', 'vitest', 'esbuild', 'azurite', 's3rver', 'drizzle-kit', 'fast-check', '@duckdb']) expect(modules).not.toContain(dev);
    expect(modules).toContain('better-sqlite3');
    const { stdout } = await dbbackup(dir.path, '--version');
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(stdout.trim()).toBe(version);
  });

  it('backs up and restores a SQLite database with the installed command', async () => {
    const work = join(dir.path, 'work');
    await mkdir(work);
    const db = join(work, 'app.db');
    createNastyDatabase(db, { bigText: 1000 });
    const b = await dbbackup(work, 'backup', '--db', 'sqlite', '--file', db, '--out', 'repo', '--json');
    const { id } = JSON.parse(b.stdout) as { id: string };
    expect((await dbbackup(work, 'verify', '--from', 'repo', id)).stdout).toContain('intact');
    await dbbackup(work, 'restore', '--from', 'repo', '--backup', id, '--db', 'sqlite', '--database', 'restored.db');
    expect(schemaOf(join(work, 'restored.db'))).toEqual(schemaOf(db));
    expect(contentHashes(join(work, 'restored.db'))).toEqual(contentHashes(db));
    const list = JSON.parse((await dbbackup(work, 'list', '--json')).stdout) as { backups: { id: string }[] };
    expect(list.backups.map((x) => x.id)).toEqual([id]);
  });
});
