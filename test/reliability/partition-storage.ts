// A silent network partition between the CLI and its storage target: a TCP gate in front of the S3
// emulator goes silent (no byte either way, nothing closed; new connections accepted but never
// answered) once a seeded number of bytes of the upload passed. The S3 store's request timeout
// (DBBACKUP_STORAGE_TIMEOUT_MS, a socket idle timeout) and its retries must end the backup with
// exit 3 (E_NETWORK_TIMEOUT) naming the target, list nothing, and the next backup, the network back,
// must succeed. About 17 s a trial (every retry waits the timeout out): the long mode only.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startTcpGate } from '../helpers/tcp-gate.js';
import { s3CliEnv, type S3Server, startS3Server } from '../helpers/s3-server.js';
import { Database } from '../helpers/sqlite-fixtures.js';
import { cliShapeProblems } from './checks.js';
import { runCli, setPhase } from './cli-watch.js';
import { rng } from './harness.js';

const BUCKET = 'partition';

export async function storagePartitionBench(dir: string) {
  await mkdir(dir, { recursive: true });
  const s3: S3Server = await startS3Server([BUCKET]);
  const db = join(dir, 'app.db');
  const d = new Database(db);
  // ~2 MB of incompressible rows: several requests' worth, so the cut falls inside the upload.
  d.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB);
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000)
    INSERT INTO t SELECT x, randomblob(1000) FROM c;`);
  d.close();
  const base = {
    DBBACKUP_DATA_DIR: join(dir, 'data'),
    XDG_STATE_HOME: join(dir, 'state'),
    DBBACKUP_STORAGE_RETRIES: '2',
    DBBACKUP_STORAGE_RETRY_DELAY_MS: '20',
    DBBACKUP_STORAGE_TIMEOUT_MS: '1500',
  };
  return {
    async trial(i: number, seed: number): Promise<{ variant: string; what: string; problems: string[] }> {
      const random = rng(seed);
      const problems: string[] = [];
      const after = Math.round(4096 + random() * 1_500_000);
      const repo = `s3://${BUCKET}/trial-${i}`;
      const gate = await startTcpGate({ port: s3.port }, undefined, { blackholeAfter: { toServer: after } });
      let run;
      try {
        setPhase(`backup into S3 through a gate that goes silent after ${after} bytes to the server`);
        run = await runCli(['backup', '--file', db, '--out', repo], { env: { ...s3CliEnv({ ...s3, endpoint: `http://127.0.0.1:${gate.port}` }, dir), ...base }, cwd: dir });
      } finally {
        await gate.stop();
      }
      const env = { ...s3CliEnv(s3, dir), ...base };
      if (run.code === 0 && gate.silent) problems.push(`the backup succeeded although the network went silent after ${after} bytes`);
      if (run.code !== 0) {
        problems.push(...cliShapeProblems(run, [3]));
        if (!/^error E_NETWORK_TIMEOUT: .*the storage endpoint passed no byte for 1500 ms/m.test(run.stderr)) problems.push(`not an E_NETWORK_TIMEOUT saying the endpoint passed no byte: ${run.stderr.slice(0, 300)}`);
        const line = run.stderr.split('\n').find((l) => l.startsWith('error ')) ?? '';
        if (!line.includes(repo) && !line.includes(`s3://${BUCKET}`)) problems.push(`the error does not name the target ${repo}: ${line || run.stderr.slice(0, 300)}`);
      }
      setPhase('list and the next backup, the network back');
      const list = await runCli(['list', '--from', repo, '--json'], { env, cwd: dir });
      const listed = list.code === 0 ? (JSON.parse(list.stdout) as { id: string }[] | { backups: { id: string }[] }) : [];
      const ids = (Array.isArray(listed) ? listed : listed.backups).map((b) => b.id);
      if (run.code !== 0 && ids.length > 0) problems.push(`the failed backup left ${ids.length} listed backup(s)`);
      const next = await runCli(['backup', '--file', db, '--out', repo], { env, cwd: dir });
      if (next.code !== 0) problems.push(`the next backup failed (${next.code}): ${next.stderr.slice(0, 300)}`);
      const code = /error (E_[A-Z_]+)/.exec(run.stderr)?.[1];
      return {
        variant: `s3 backup: ${run.code === 0 ? (gate.silent ? 'succeeded silent' : 'finished first') : `failed ${code ?? run.code}`}`,
        what: `SQLite backup into S3, the network silent after ${after} bytes to the server: ${run.stderr.split('\n').find((l) => l.startsWith('error ')) ?? `exit ${run.code}`}`,
        problems,
      };
    },
    stop: () => s3.stop(),
  };
}
