import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installGlobal, localPrebuilds, packTarball, ROOT } from '../helpers/npm-package.js';
import { contentHashes, createNastyDatabase, schemaOf } from '../helpers/sqlite-fixtures.js';
import { memoryTempBase, tempDir } from '../helpers/temp.js';
import { startUpdateServer, type UpdateServer } from '../helpers/update-server.js';

const run = promisify(execFile);

// What a stranger does: `npm pack`, then `npm install -g ./dbbackup-<v>.tgz` into a fresh prefix,
// then the installed `dbbackup` with nothing of this checkout around it. The native addons come
// from local prebuilds of this checkout's builds (see localPrebuilds) unless
// DBBACKUP_E2E_BUILD_FROM_SOURCE=1 asks npm to build them with node-gyp as a machine without
// prebuilds would (~2 min here). The prefix is on a tmpfs where there is one: each of the three
// installs unpacks ~30,000 files, ~20 s faster there than on this machine's disk.
let dir: { path: string; cleanup(): Promise<void> };
let tarball: string;
let prefix: string;
let installed: string;
let prebuilds: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await tempDir('dbb-npm-', await memoryTempBase());
  tarball = await packTarball(dir.path);
  prefix = join(dir.path, 'prefix');
  prebuilds = process.env.DBBACKUP_E2E_BUILD_FROM_SOURCE === '1' ? {} : await localPrebuilds(join(dir.path, 'prebuilds'));
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
    env: {
      PATH: `${join(prefix, 'bin')}:${dirname(process.execPath)}`,
      HOME: cwd,
      DBBACKUP_DATA_DIR: join(cwd, 'data'),
      XDG_STATE_HOME: join(cwd, 'state'),
      // For self-update's `npm install -g`: this machine's npm cache and the addons' local prebuilds.
      npm_config_cache: process.env.npm_config_cache ?? join(homedir(), '.npm'),
      npm_config_prefer_offline: 'true',
      npm_config_nodedir: '/usr',
      ...prebuilds,
    },
  });
}

/** `tarball` with another version in its package.json: what a newer release of the package looks like. */
async function withVersion(tarball: string, version: string): Promise<Buffer> {
  const work = join(dir.path, `repack-${version}`);
  await mkdir(work);
  await run('tar', ['xzf', tarball, '-C', work]);
  const pkgFile = join(work, 'package', 'package.json');
  const pkg = JSON.parse(await readFile(pkgFile, 'utf8')) as { version: string };
  await writeFile(pkgFile, JSON.stringify({ ...pkg, version }, null, 2));
  const out = join(dir.path, `dbbackup-${version}.tgz`);
  await run('tar', ['czf', out, '-C', work, 'package']);
  return readFile(out);
}

const integrity = (bytes: Buffer) => `sha512-${createHash('sha512').update(bytes).digest('base64')}`;

describe('the npm package', () => {
  it('ships compiled JavaScript and no sources, tests or TypeScript build step', async () => {
    const { stdout } = await run('tar', ['tzf', tarball], { maxBuffer: 64 << 20 });
    const files = stdout.split('\n').filter(Boolean);
    expect(files).toContain('package/bin/dbbackup.js');
    expect(files).toContain('package/dist/bundle/main.js');
    expect(files).toContain('package/dist/bundle/cli.cjs');
    expect(files).toContain('package/dist/bundle/start.cjs');
    // This machine's code cache stays here.
    expect(files.filter((f) => f.includes('.v8-cache'))).toEqual([]);
    expect(files).toContain('package/drizzle/meta/_journal.json');
    expect(files.filter((f) => /^package\/(src|test|bench|scripts|dist\/sea)\//.test(f))).toEqual([]);
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
    expect(stdout).toMatch(new RegExp(`^dbbackup ${version.replaceAll('.', '\\.')} \\(commit [0-9a-f]{7,}\\) on Node v\\d+.*, npm\n`));
    expect(stdout).toMatch(/native zstd \(zstd-napi\)\s+loads/);
    expect(stdout).toMatch(/SQLite \(better-sqlite3\)\s+loads/);
    expect(stdout).toMatch(/S3 \(@aws-sdk\/client-s3\)\s+installed/);
    expect((await dbbackup(dir.path, '--version', '--short')).stdout).toBe(`${version}\n`);
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

  it('keeps its code cache in the installed package, or in the data dir where the package cannot take it', async () => {
    const work = join(dir.path, 'cache-work');
    await mkdir(work);
    const bundle = join(installed, 'dist', 'bundle');
    expect(await readdir(bundle)).toContain('cli.cjs');
    // The backup test above ran `backup`, `verify`, `restore` and `list`: each left its cache there.
    const beside = await readdir(join(bundle, '.v8-cache'));
    for (const command of ['backup', 'verify', 'restore', 'list']) expect(beside.some((f) => f.startsWith(`cli.cjs-${command}-`))).toBe(true);
    const mode = (await stat(join(bundle, '.v8-cache', beside[0]!))).mode & 0o777;
    expect(mode).toBe(0o600);
    // A package folder nothing can be written to (a file where the cache folder would be: root
    // writes through permissions): the cache goes to the data dir, and the command works each time.
    await rm(join(bundle, '.v8-cache'), { recursive: true });
    await writeFile(join(bundle, '.v8-cache'), 'read-only install');
    try {
      for (let i = 0; i < 2; i++) expect((await dbbackup(work, '--version', '--short')).stdout).toMatch(/^\d+\.\d+\.\d+/);
      expect((await readdir(join(work, 'data', 'v8-cache'))).filter((f) => f.startsWith('cli.cjs---version-'))).toHaveLength(1);
    } finally {
      await rm(join(bundle, '.v8-cache'));
    }
  });

  it('self-update installs the registry\'s newer version after checking its sha512, refuses a bad one, and rolls back', async () => {
    const registry: UpdateServer = await startUpdateServer();
    try {
      const current = await readFile(tarball);
      const next = await withVersion(tarball, '0.1.1');
      const bad = await withVersion(tarball, '0.1.2');
      const publish = (latest: string, versions: Record<string, { body: Buffer; integrity: string }>) => {
        registry.files.set('/dbbackup', {
          body: Buffer.from(
            JSON.stringify({
              name: 'dbbackup',
              'dist-tags': { latest },
              versions: Object.fromEntries(Object.entries(versions).map(([v, x]) => [v, { name: 'dbbackup', version: v, dist: { tarball: `${registry.url}/dbbackup-${v}.tgz`, integrity: x.integrity } }])),
              time: Object.fromEntries(Object.keys(versions).map((v) => [v, '2026-12-01T00:00:00.000Z'])),
            }),
          ),
        });
        for (const [v, x] of Object.entries(versions)) registry.files.set(`/dbbackup-${v}.tgz`, { body: x.body });
      };
      const work = join(dir.path, 'update');
      await mkdir(work);
      const self = (...args: string[]) => dbbackup(work, 'self-update', '--registry', registry.url, ...args);
      const version = async () => (await dbbackup(work, '--version', '--short')).stdout.trim();

      publish('0.1.1', { '0.1.0': { body: current, integrity: integrity(current) }, '0.1.1': { body: next, integrity: integrity(next) } });
      expect((await self('--check')).stdout).toMatch(/0\.1\.1 is available \(running 0\.1\.0\)[\s\S]*0\.1\.1 \(2026-12-01\)/);

      // A tarball whose bytes are not what the registry's integrity says: exit 4, nothing installed.
      publish('0.1.2', { '0.1.0': { body: current, integrity: integrity(current) }, '0.1.2': { body: bad, integrity: integrity(next) } });
      const refused = await self().then(
        () => undefined,
        (err: { code: number; stderr: string }) => err,
      );
      expect(refused?.code).toBe(4);
      expect(refused?.stderr).toMatch(/E_UPDATE_AUTH.*sha512/);
      expect(await version()).toBe('0.1.0');

      publish('0.1.1', { '0.1.0': { body: current, integrity: integrity(current) }, '0.1.1': { body: next, integrity: integrity(next) } });
      expect((await self()).stdout).toMatch(/Updated dbbackup 0\.1\.0 → 0\.1\.1/);
      expect(await version()).toBe('0.1.1');
      expect((await self('--check')).stdout).toMatch(/0\.1\.1 is up to date/);

      expect((await self('--rollback')).stdout).toMatch(/Rolled back from 0\.1\.1 to 0\.1\.0/);
      expect(await version()).toBe('0.1.0');
    } finally {
      await registry.close();
    }
    // Three `npm install -g` runs: about 100 s on a busy machine.
  }, 900_000);
});
