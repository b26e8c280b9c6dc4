import { execFile, execFileSync } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/npm-package.js';
import { startPostgres } from '../helpers/postgres-server.js';
import { s3CliEnv, startS3Server } from '../helpers/s3-server.js';
import { contentHashes, createNastyDatabase, schemaOf } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';
import { signedManifest, startUpdateServer, testKey } from '../helpers/update-server.js';

const run = promisify(execFile);

// The single executable (`npm run build:sea`, built here into the test's folder so that it tests this
// checkout) run from an empty folder with nothing on PATH but itself: no node, no node_modules.
let dir: { path: string; cleanup(): Promise<void> };
let bin: string;
let work: string;
/** The update key built into this executable (a test key; release builds bake in the release key). */
const key = testKey();

beforeAll(async () => {
  dir = await tempDir('dbb-sea-');
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-sea.mjs')], { cwd: ROOT, stdio: 'ignore', env: { ...process.env, DBBACKUP_UPDATE_PUBLIC_KEYS: key.publicKey } });
  await mkdir(join(dir.path, 'bin'));
  bin = join(dir.path, 'bin', 'dbbackup');
  await copyFile(join(ROOT, 'dist', 'sea', 'dbbackup'), bin);
  work = join(dir.path, 'work');
  await mkdir(work);
}, 300_000);

afterAll(async () => {
  await dir?.cleanup();
});

function dbbackup(...args: string[]) {
  return runWith({}, ...args);
}

function runWith(env: NodeJS.ProcessEnv, ...args: string[]) {
  return run('dbbackup', args, { cwd: work, env: { PATH: join(dir.path, 'bin'), HOME: join(dir.path, 'home'), ...env } });
}

describe('the single executable', () => {
  it('is one file that needs no node on PATH', async () => {
    const { stdout } = await dbbackup('--version');
    expect(stdout).toMatch(/^dbbackup \d+\.\d+\.\d+ \(commit \w+\) on Node v20[^\n]*, single executable\n/);
    expect(stdout).toMatch(/native zstd \(zstd-napi\)\s+loads/);
    expect(stdout).toMatch(/S3 \(@aws-sdk\/client-s3\)\s+built in/);
    await expect(run('sh', ['-c', 'command -v node'], { env: { PATH: join(dir.path, 'bin') } })).rejects.toThrow();
    expect((await stat(bin)).mode & 0o111).not.toBe(0);
  });

  it('backs up, lists, verifies and restores SQLite; native addons load from the per-version cache', async () => {
    const db = join(work, 'app.db');
    createNastyDatabase(db, { bigText: 1000 });
    const b = await dbbackup('backup', '--db', 'sqlite', '--file', 'app.db', '--out', 'repo', '--compress', 'zstd', '--json');
    const { id } = JSON.parse(b.stdout) as { id: string };
    const list = JSON.parse((await dbbackup('list', '--json')).stdout) as { backups: { id: string }[] };
    expect(list.backups.map((x) => x.id)).toContain(id);
    expect((await dbbackup('verify', '--from', 'repo', id)).stdout).toContain('intact');
    await dbbackup('restore', '--from', 'repo', '--backup', id, '--database', 'restored.db');
    expect(schemaOf(join(work, 'restored.db'))).toEqual(schemaOf(db));
    expect(contentHashes(join(work, 'restored.db'))).toEqual(contentHashes(db));
    const [cache] = await readdir(join(dir.path, 'home', '.cache', 'dbbackup', 'sea'));
    const addons = join(dir.path, 'home', '.cache', 'dbbackup', 'sea', cache!, 'node_modules');
    expect((await stat(join(addons, 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'))).isFile()).toBe(true);
    expect((await stat(join(addons, 'zstd-napi', 'build', 'Release', 'binding.node'))).isFile()).toBe(true);
  });

  it('runs the scheduler, whose jobs run in worker threads', async () => {
    await writeFile(
      join(work, 'dbbackup.yaml'),
      `sources:
  app: { engine: sqlite, database: ${join(work, 'app.db')} }
targets:
  sched: { url: ${join(work, 'sched-repo')} }
backups:
  app: { targets: [sched] }
schedules:
  - { name: every-second, cron: "* * * * * *", task: backup, source: app, timezone: UTC }
`,
    );
    // The first run records where the schedule starts from; the next one runs the slot since.
    await dbbackup('schedule', 'run', '--once');
    await new Promise((r) => setTimeout(r, 1_200));
    await dbbackup('schedule', 'run', '--once');
    const history = JSON.parse((await dbbackup('schedule', 'history', 'every-second', '--json')).stdout) as { runs: { outcome: string }[] };
    expect(history.runs.map((r) => r.outcome)).toContain('success');
    const sources = await readdir(join(work, 'sched-repo'));
    expect(sources).toContain('app');
  });

  it('loads the cloud SDK and the PostgreSQL driver it carries: a PostgreSQL backup into S3 restores', async () => {
    const [pg, s3] = await Promise.all([startPostgres(), startS3Server(['backups'])]);
    try {
      await pg.query('CREATE DATABASE app');
      await pg.query("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g;", [], 'app');
      const env = s3CliEnv(s3, dir.path);
      const b = await runWith(env, 'backup', '--db', 'postgres', '--url', pg.url('app'), '--out', 's3://backups/pg', '--json').catch((err: { stdout: string }) => {
        throw new Error(err.stdout);
      });
      const { id } = JSON.parse(b.stdout) as { id: string };
      await runWith(env, 'restore', '--from', 's3://backups/pg', '--backup', id, '--db', 'postgres', '--url', pg.url('copy'), '--create');
      expect(await pg.query('SELECT count(*)::int AS n, md5(string_agg(v, \',\' ORDER BY id)) AS h FROM t', [], 'copy')).toEqual(
        await pg.query('SELECT count(*)::int AS n, md5(string_agg(v, \',\' ORDER BY id)) AS h FROM t', [], 'app'),
      );
    } finally {
      await Promise.allSettled([pg.stop(), s3.stop()]);
    }
  }, 300_000);

  it('self-update replaces the executable with a signed release, refuses a bad signature, and rolls back', async () => {
    const server = await startUpdateServer();
    try {
      const current = await readFile(bin);
      const { stdout: version } = await dbbackup('--version', '--short');
      const [major, minor, patch] = version.trim().split('.').map(Number);
      const next = `${major}.${minor}.${patch! + 1}`;
      // Bytes after the last segment change nothing when it runs: a file that differs and still works.
      const body = Buffer.concat([current, Buffer.from(`\n# release ${next}\n`)]);
      const name = `dbbackup-${next}-${process.platform}-${process.arch}`;
      server.files.set(`/${name}`, { body });
      const self = (...args: string[]) => dbbackup('self-update', '--update-url', server.url, ...args);

      server.files.set('/manifest.json', { body: signedManifest(testKey().privateKey, next, { platform: `${process.platform}-${process.arch}`, name, body }) });
      const refused = await self().catch((err: { code: number; stderr: string }) => err);
      expect(refused).toMatchObject({ code: 4, stderr: expect.stringMatching(/E_UPDATE_AUTH.*not signed by a key this executable trusts/) });
      expect((await readFile(bin)).equals(current)).toBe(true);

      server.files.set('/manifest.json', { body: signedManifest(key.privateKey, next, { platform: `${process.platform}-${process.arch}`, name, body }, [`${next}: a test release`]) });
      expect((await self('--check')).stdout).toMatch(new RegExp(`${next} is available[\\s\\S]*a test release`));
      expect((await self()).stdout).toContain(`Updated dbbackup ${version.trim()} → ${next}`);
      expect((await readFile(bin)).equals(body)).toBe(true);
      expect((await readFile(`${bin}.previous`)).equals(current)).toBe(true);
      expect((await dbbackup('--version', '--short')).stdout).toBe(version);

      expect((await self('--rollback')).stdout).toMatch(/Rolled back/);
      expect((await readFile(bin)).equals(current)).toBe(true);
    } finally {
      await server.close();
    }
  }, 300_000);
});
