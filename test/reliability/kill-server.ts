// Kill -9 at a random moment of a PostgreSQL or MariaDB backup into a repository folder; then every
// listed backup verifies, nothing half-written is listed, the catalog opens, and the next backup
// succeeds without cleanup. (A killed restore into a server is not covered yet: nothing marks a
// half-restored database as incomplete — see the closing note.)
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { startMariaDb } from '../helpers/mariadb-server.js';
import { startPostgres } from '../helpers/postgres-server.js';
import { checkCatalog, checkRepository, runAndKill } from './checks.js';
import { rng } from './harness.js';

export type ServerEngine = 'postgres' | 'mysql';

export async function serverKillBench(engine: ServerEngine, dir: string, rows = 150_000) {
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const server = engine === 'postgres' ? await startPostgres() : await startMariaDb();
  if (engine === 'postgres') {
    await server.query('CREATE DATABASE app');
    await server.query(`CREATE TABLE t AS SELECT i, md5(i::text) AS h, repeat(md5(i::text), 4) AS pad FROM generate_series(1, ${rows}) i; CREATE TABLE u AS SELECT * FROM t WHERE i % 3 = 0`, [], 'app');
  } else {
    await server.query('CREATE DATABASE app');
    await server.query(`CREATE TABLE app.t (i INT PRIMARY KEY, h CHAR(32), pad TEXT) SELECT seq AS i, md5(seq) AS h, repeat(md5(seq), 4) AS pad FROM app.seq_1_to_${rows}`);
    await server.query('CREATE TABLE app.u (i INT PRIMARY KEY, h CHAR(32), pad TEXT) SELECT * FROM app.t WHERE i % 3 = 0');
  }
  const dataDir = join(dir, 'data');
  const env = { DBBACKUP_DATA_DIR: dataDir, XDG_STATE_HOME: join(dir, 'state'), TMPDIR: join(dir, 'tmp') };
  const args = ['backup', '--db', engine, '--url', server.url('app'), '--out', 'repo'];
  const started = Date.now();
  const first = await runCli([...args, '--json'], { env, cwd: dir });
  if (first.code !== 0) throw new Error(`the first ${engine} backup failed: ${first.stderr}`);
  const ms = Date.now() - started;
  const repo = join(dir, 'repo');

  return {
    stop: () => server.stop(),
    async trial(_i: number, seed: number) {
      const random = rng(seed);
      const at = Math.round(ms * (0.15 + random() * 0.95));
      const problems: string[] = [];
      const ended = await runAndKill(args, env, dir, at);
      const after = await checkRepository(repo);
      problems.push(...after.problems, ...(await checkCatalog(dataDir, repo, after.ids)));
      const next = await runCli([...args, '--json'], { env, cwd: dir });
      if (next.code !== 0) problems.push(`the next backup failed (${next.code}): ${next.stderr.slice(0, 300)}`);
      else problems.push(...(await checkRepository(repo, { expectIds: [(JSON.parse(next.stdout) as { id: string }).id] })).problems);
      return { variant: `${engine} backup${ended.killed ? '' : ' (finished first)'}`, what: `${engine} backup, SIGKILL after ${at} ms (an untouched run takes ${ms} ms)`, problems };
    },
  };
}
