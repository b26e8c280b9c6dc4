// Storage faults: a fault-injecting HTTP proxy (test/helpers/faulty-proxy.ts) in front of the S3
// emulator (s3rver) answers 500 or 503 SlowDown, resets the connection mid-body, stalls past the
// request timeout or truncates a response, once or twice (a retry heals it) or for good. What must
// hold: the backup completes and verifies, or it fails with exit 3 or 4 naming the target; either
// way no listed backup is incomplete; the retries it made are in its log.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { runCli } from './cli-watch.js';
import { type Fault, type FaultyProxy, startFaultyProxy } from '../helpers/faulty-proxy.js';
import { s3CliEnv, type S3Server, startS3Server } from '../helpers/s3-server.js';
import { Database } from '../helpers/sqlite-fixtures.js';
import { pick, rng } from './harness.js';

export const STORAGE_FAULTS = ['500', '503 SlowDown', 'reset mid-body', 'stall', 'truncated response'] as const;
export type StorageFault = (typeof STORAGE_FAULTS)[number];

const BUCKET = 'faults';

export interface StorageFaultBench {
  trial(i: number, seed: number, fault?: StorageFault): Promise<{ variant: string; what: string; problems: string[] }>;
  stop(): Promise<void>;
}

/** Which requests a fault hits: writes for request-side faults, reads for a truncated response. */
const MATCHERS: Record<string, (req: IncomingMessage) => boolean> = {
  PUT: (req) => req.method === 'PUT' || req.method === 'POST',
  GET: (req) => req.method === 'GET' && !/list-type=2/.test(req.url ?? ''),
  HEAD: (req) => req.method === 'HEAD',
  LIST: (req) => req.method === 'GET' && /list-type=2/.test(req.url ?? ''),
};

const FAULT: Record<StorageFault, { fault: Fault; on: string[] }> = {
  '500': { fault: 500, on: ['PUT', 'GET', 'HEAD', 'LIST'] },
  '503 SlowDown': { fault: 503, on: ['PUT', 'GET', 'HEAD', 'LIST'] },
  'reset mid-body': { fault: 'drop', on: ['PUT'] },
  stall: { fault: 'stall', on: ['PUT', 'GET', 'LIST'] },
  'truncated response': { fault: 'truncate', on: ['GET'] },
};

export async function storageFaultBench(dir: string): Promise<StorageFaultBench> {
  await mkdir(dir, { recursive: true });
  const s3: S3Server = await startS3Server([BUCKET]);
  const proxy: FaultyProxy = await startFaultyProxy({ port: s3.port });
  const db = join(dir, 'app.db');
  const d = new Database(db);
  d.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB);
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300)
    INSERT INTO t SELECT x, randomblob(1000) FROM c;`);
  d.close();
  const env = {
    ...s3CliEnv({ ...s3, endpoint: proxy.endpoint }, dir),
    DBBACKUP_DATA_DIR: join(dir, 'data'),
    XDG_STATE_HOME: join(dir, 'state'),
    DBBACKUP_STORAGE_RETRIES: '4',
    DBBACKUP_STORAGE_RETRY_DELAY_MS: '20',
    DBBACKUP_STORAGE_TIMEOUT_MS: '1500',
  };
  const cli = (...args: string[]) => runCli(args, { env, cwd: dir });

  return {
    async trial(i, seed, chosen) {
      const random = rng(seed);
      const name = chosen ?? pick(random, STORAGE_FAULTS);
      const spec = FAULT[name];
      const on = pick(random, spec.on);
      // A third of the trials keep failing past every retry; the others heal after 1 or 2.
      const lasting = random() < 1 / 3;
      const count = lasting ? 10_000 : 1 + Math.floor(random() * 2);
      const repo = `s3://${BUCKET}/trial-${i}`;
      const what = `${name} on ${on}, ${lasting ? 'for good' : `${count} time(s)`}`;
      const problems: string[] = [];
      proxy.clearFaults();
      const before = proxy.injected.length;
      // Truncation hits reads: the backup is written cleanly, then read back (verify) through the fault.
      if (spec.fault !== 'truncate') proxy.failNext(count, spec.fault, MATCHERS[on]);
      const backup = await cli('backup', '--file', db, '--out', repo, '--json', '--verbose');
      let id: string | undefined;
      if (backup.code === 0) id = (JSON.parse(backup.stdout) as { id: string }).id;
      else problems.push(...failedWell('backup', backup, repo));
      if (spec.fault === 'truncate') proxy.failNext(count, spec.fault, MATCHERS[on]);
      const injectedInBackup = proxy.injected.length - before;
      if (id) {
        const verify = await cli('verify', '--from', repo, id, '--verbose');
        if (verify.code !== 0) problems.push(...failedWell('verify', verify, repo));
      }
      // Retries our RetryingBlobStore makes are logged ('storage request failed; retrying'); the AWS
      // SDK's own retries inside a request are not (yet): the count is a figure here, not a check.
      const retried = (backup.stderr.match(/retrying/g) ?? []).length;
      // Whatever happened, with the faults gone: every listed backup is complete and verifies.
      proxy.clearFaults();
      const list = await cli('list', '--from', repo, '--json');
      if (list.code !== 0) {
        // A backup that failed before the repository existed leaves nothing to list.
        if (id || !/E_NOT_FOUND|E_BACKUP_NOT_FOUND/.test(list.stdout + list.stderr)) problems.push(`list failed (${list.code}): ${(list.stdout + list.stderr).slice(0, 300)}`);
      } else {
        const listed = (JSON.parse(list.stdout) as { id: string }[] | { backups: { id: string }[] });
        const ids = (Array.isArray(listed) ? listed : listed.backups).map((b) => b.id);
        if (id && !ids.includes(id)) problems.push(`the backup ${id} that succeeded is not listed`);
        if (!id && ids.length > 0) problems.push(`the failed backup left ${ids.length} listed backup(s)`);
        for (const listedId of ids) {
          const v = await cli('verify', '--from', repo, listedId);
          if (v.code !== 0) problems.push(`listed backup ${listedId} does not verify (${v.code}): ${v.stderr.slice(0, 200)}`);
        }
      }
      const injected = proxy.injected.length - before;
      if (injected === 0) problems.push('no fault was injected (the matcher hit no request): the trial checked nothing');
      const outcome = backup.code === 0 ? 'healed' : `exit ${backup.code}`;
      return { variant: `${name} (${outcome})`, what: `${what}: ${injected} injected (${injectedInBackup} in the backup), ${retried} retry line(s) in its log`, problems };
    },
    async stop() {
      await proxy.stop();
      await s3.stop();
    },
  };
}

/** A failure is well-formed: exit 3 or 4, one `error E_…` line naming the target. */
function failedWell(step: string, r: { code: number | null; stdout: string; stderr: string }, repo: string): string[] {
  const problems: string[] = [];
  // With --json the error is a JSON object on stdout; otherwise one `error E_…` line on stderr.
  const line = r.stderr.split('\n').find((l) => /^error E_/.test(l)) ?? (/"code":"E_/.test(r.stdout) ? r.stdout.trim() : r.stderr.slice(-300));
  if (r.code !== 3 && r.code !== 4) problems.push(`${step} failed with exit ${r.code}, not 3 or 4: ${line}`);
  if (!line.includes(repo) && !line.includes(`s3://${BUCKET}`)) problems.push(`${step}'s error does not name the target ${repo}: ${line}`);
  return problems;
}
