// Storage faults: a fault-injecting HTTP proxy (test/helpers/faulty-proxy.ts) in front of each cloud
// test server (s3rver, azurite, our GCS JSON-API double) answers the service's own errors (S3 500 /
// 503 SlowDown, Azure 500 / 503 ServerBusy, GCS 429 / 503), throttles (429 or 503 with Retry-After),
// resets the connection mid-body, stalls past the request timeout, truncates a response, or rewrites
// the ETag / Content-MD5 / md5Hash of an upload's answer, once or twice (a retry heals it) or for
// good. What must hold: the backup completes and verifies, or it fails with exit 3 or 4 naming the
// target; either way no listed backup is incomplete; each retry it made is one line of its log (a
// run that healed N injected faults logs N retry lines, each naming target, operation, attempt of
// maxAttempts, delay and reason; after a `Retry-After: 2` answer the delay is at least 2000 ms). A last
// variant fans one backup out to a local repository and to the cloud target behind a proxy that
// answers 503 forever: the local copy completes and verifies, the run exits 5 (E_PARTIAL) naming the
// failed target, and the failed target lists nothing.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { BlobServiceClient } from '@azure/storage-blob';
import { runCli } from './cli-watch.js';
import { AZURITE_KEY, startAzurite } from '../helpers/azurite.js';
import { type Answer, type BodyRewrite, type Fault, type FaultyProxy, startFaultyProxy } from '../helpers/faulty-proxy.js';
import { startGcsFake } from '../helpers/gcs-fake.js';
import { s3CliEnv, startS3Server } from '../helpers/s3-server.js';
import { Database } from '../helpers/sqlite-fixtures.js';
import { pick, rng } from './harness.js';

export type Provider = 's3' | 'azure' | 'gcs';

/** The faults every service gets, then each service's own answers. */
const COMMON = ['reset mid-body', 'stall', 'truncated response'] as const;
export const STORAGE_FAULTS = {
  s3: ['500', '503 SlowDown', ...COMMON, '503 Retry-After', 'wrong ETag', 'fan-out, one target down'],
  azure: ['500', '503 ServerBusy', ...COMMON, '503 Retry-After', 'wrong Content-MD5', 'fan-out, one target down'],
  gcs: ['429', '503', ...COMMON, '429 Retry-After', 'wrong md5Hash', 'fan-out, one target down'],
} as const satisfies Record<Provider, readonly string[]>;
/** The faults S3 had before the other services joined: the CI mode runs each of them every time. */
export const S3_BASE_FAULTS = STORAGE_FAULTS.s3.slice(0, 5);

const BUCKET = 'faults';
const FAN_OUT = 'fan-out, one target down';

type Trial = { variant: string; what: string; problems: string[] };
export interface StorageFaultBench {
  trial(i: number, seed: number, fault: string): Promise<Trial>;
  stop(): Promise<void>;
}

type Matchers = Record<'PUT' | 'GET' | 'HEAD' | 'LIST', (req: IncomingMessage) => boolean>;
const url = (req: IncomingMessage) => req.url ?? '';
const writes = (req: IncomingMessage) => req.method === 'PUT' || req.method === 'POST';

/** Which requests a fault hits, per service: writes, object reads, metadata reads, listings. */
const MATCHERS: Record<Provider, Matchers> = {
  s3: {
    PUT: writes,
    GET: (req) => req.method === 'GET' && !/list-type=2/.test(url(req)),
    HEAD: (req) => req.method === 'HEAD',
    LIST: (req) => req.method === 'GET' && /list-type=2/.test(url(req)),
  },
  azure: {
    PUT: writes,
    GET: (req) => req.method === 'GET' && !/comp=list/.test(url(req)),
    HEAD: (req) => req.method === 'HEAD',
    LIST: (req) => req.method === 'GET' && /comp=list/.test(url(req)),
  },
  gcs: {
    PUT: writes,
    GET: (req) => req.method === 'GET' && /alt=media/.test(url(req)),
    // Object metadata (the JSON API has no HEAD): GET /b/B/o/NAME without alt=media.
    HEAD: (req) => req.method === 'GET' && !/alt=media/.test(url(req)) && /\/o\/[^?]/.test(url(req)),
    LIST: (req) => req.method === 'GET' && /\/o(\?|$)/.test(url(req)),
  },
};

/** Each service's error answer for a status (its headers and body, as its SDK parses them). */
function answer(p: Provider, status: number, retryAfter?: number): Answer {
  const headers: Record<string, string> = retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) };
  if (p === 'gcs') {
    const reason = status === 429 ? 'rateLimitExceeded' : status === 503 ? 'backendError' : 'internalError';
    return { status, headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify({ error: { code: status, message: 'injected', errors: [{ reason, message: 'injected' }] } }) };
  }
  if (p === 'azure') {
    const code = status === 503 ? 'ServerBusy' : 'InternalError';
    return { status, headers: { ...headers, 'x-ms-error-code': code }, body: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>injected</Message></Error>` };
  }
  return { status, headers, body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${status === 503 ? 'SlowDown' : 'InternalError'}</Code><Message>injected</Message></Error>` };
}

type Spec = { fault: Fault | 'checksum' | 'down'; on: (keyof Matchers)[] };
/** A throttling answer's Retry-After: the retry after it must have waited at least this long (a logged figure, not a timing). */
const RETRY_AFTER_S = 2;

/** The `storage request failed; retrying` lines of a run's log (one per retry, every layer, every service). */
export function retryLines(stderr: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{') || !line.includes('storage request failed; retrying')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      out.push({ unparsed: line });
    }
  }
  return out;
}

/**
 * What the retry lines of a run that healed `healed` injected faults must show: one line per fault,
 * each with its target, operation, attempt of maxAttempts, delay and reason; after a Retry-After
 * answer, a delay of at least what it asked.
 */
function retryLogProblems(step: string, stderr: string, healed: number, repo: string, retryAfter: boolean): string[] {
  const lines = retryLines(stderr);
  const problems: string[] = [];
  if (lines.length !== healed) problems.push(`${step} healed ${healed} injected fault(s) but its log holds ${lines.length} retry line(s): ${JSON.stringify(lines).slice(0, 600)}`);
  for (const l of lines) {
    const ok =
      typeof l.target === 'string' && repo.startsWith(l.target.replace(/\/$/, '')) &&
      typeof l.operation === 'string' && l.operation !== '' &&
      Number.isInteger(l.attempt) && Number.isInteger(l.maxAttempts) && (l.attempt as number) < (l.maxAttempts as number) &&
      typeof l.delayMs === 'number' && typeof l.reason === 'string' && l.reason !== '';
    if (!ok) problems.push(`${step}: a retry line lacks target/operation/attempt of maxAttempts/delayMs/reason: ${JSON.stringify(l).slice(0, 300)}`);
    if (retryAfter && !((l.retryAfterMs as number) >= RETRY_AFTER_S * 1000 - 100 && (l.delayMs as number) >= RETRY_AFTER_S * 1000 - 100)) {
      problems.push(`${step}: after a Retry-After: ${RETRY_AFTER_S} answer the logged delay is ${String(l.delayMs)} ms (asked ${String(l.retryAfterMs)}), not ≥ ${RETRY_AFTER_S * 1000} ms`);
    }
  }
  return problems;
}
const ALL: (keyof Matchers)[] = ['PUT', 'GET', 'HEAD', 'LIST'];
function spec(p: Provider, name: string): Spec {
  const status = /^(\d{3})/.exec(name);
  if (name === FAN_OUT) return { fault: 'down', on: ALL };
  if (name.startsWith('wrong')) return { fault: 'checksum', on: ['PUT'] };
  if (name.endsWith('Retry-After')) return { fault: answer(p, Number(status![1]), RETRY_AFTER_S), on: ALL };
  if (status) return { fault: answer(p, Number(status[1])), on: ALL };
  if (name === 'reset mid-body') return { fault: 'drop', on: ['PUT'] };
  if (name === 'stall') return { fault: 'stall', on: ['PUT', 'GET', 'LIST'] };
  return { fault: 'truncate', on: ['GET'] };
}

/** The upload answers whose checksum a wrong-checksum fault rewrites, and how. */
const WRONG = Buffer.alloc(16, 7);
const CHECKSUM: Record<Provider, { match: (req: IncomingMessage) => boolean; headers: (h: IncomingHttpHeaders) => IncomingHttpHeaders; body?: (b: Buffer) => Buffer | undefined }> = {
  // PutObject and UploadPart answer with the MD5 of what was stored as the ETag.
  s3: { match: (req) => req.method === 'PUT', headers: (h) => (h.etag ? { ...h, etag: `"${WRONG.toString('hex')}"` } : h) },
  // Put Block echoes the Content-MD5 of the block it stored.
  // (azurite leaves it out; the service sends it: the proxy adds the wrong one either way)
  azure: { match: (req) => req.method === 'PUT' && /comp=block(&|$)/.test(url(req)), headers: (h) => ({ ...h, 'content-md5': WRONG.toString('base64') }) },
  // The last PUT of a resumable upload answers with the object's metadata, md5Hash included.
  gcs: {
    match: (req) => req.method === 'PUT' && /upload/.test(url(req)),
    headers: (h) => h,
    body: (b) => {
      try {
        const o = JSON.parse(b.toString('utf8')) as { md5Hash?: string };
        return o.md5Hash ? Buffer.from(JSON.stringify({ ...o, md5Hash: WRONG.toString('base64') })) : undefined;
      } catch {
        return undefined;
      }
    },
  },
};

export async function storageFaultBench(dir: string, provider: Provider): Promise<StorageFaultBench> {
  await mkdir(dir, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    DBBACKUP_DATA_DIR: join(dir, 'data'),
    XDG_STATE_HOME: join(dir, 'state'),
    DBBACKUP_STORAGE_RETRIES: '4',
    DBBACKUP_STORAGE_RETRY_DELAY_MS: '20',
    DBBACKUP_STORAGE_TIMEOUT_MS: '1500',
  };
  let proxy: FaultyProxy;
  let stopServer: () => Promise<void>;
  let repoUrl: (name: string) => string;
  if (provider === 's3') {
    const s3 = await startS3Server([BUCKET]);
    proxy = await startFaultyProxy({ port: s3.port });
    Object.assign(env, s3CliEnv({ ...s3, endpoint: proxy.endpoint }, dir));
    stopServer = () => s3.stop();
    repoUrl = (name) => `s3://${BUCKET}/${name}`;
  } else if (provider === 'azure') {
    const azurite = await startAzurite();
    await BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(BUCKET).create();
    proxy = await startFaultyProxy({ port: azurite.port });
    Object.assign(env, { DBBACKUP_AZURE_ENDPOINT: `${proxy.endpoint}/devstoreaccount1`, AZURE_STORAGE_KEY: AZURITE_KEY });
    stopServer = () => azurite.stop();
    repoUrl = (name) => `azure://devstoreaccount1/${BUCKET}/${name}`;
  } else {
    const gcs = await startGcsFake();
    gcs.createBucket(BUCKET);
    proxy = await startFaultyProxy({ port: gcs.port });
    env.DBBACKUP_GCS_ENDPOINT = proxy.endpoint;
    stopServer = () => gcs.stop();
    repoUrl = (name) => `gs://${BUCKET}/${name}`;
  }
  const db = join(dir, 'app.db');
  const d = new Database(db);
  d.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB);
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300)
    INSERT INTO t SELECT x, randomblob(1000) FROM c;`);
  d.close();
  const cli = (...args: string[]) => runCli(args, { env, cwd: dir });

  /** Every backup `repo` lists verifies; returns their ids (undefined: nothing to list), and the problems. */
  const listed = async (repo: string, problems: string[], mayBeMissing: boolean): Promise<string[]> => {
    const list = await cli('list', '--from', repo, '--json');
    if (list.code !== 0) {
      // A backup that failed before the repository existed leaves nothing to list.
      if (!mayBeMissing || !/E_NOT_FOUND|E_BACKUP_NOT_FOUND/.test(list.stdout + list.stderr)) problems.push(`list --from ${repo} failed (${list.code}): ${(list.stdout + list.stderr).slice(0, 300)}`);
      return [];
    }
    const out = JSON.parse(list.stdout) as { id: string }[] | { backups: { id: string }[] };
    const ids = (Array.isArray(out) ? out : out.backups).map((b) => b.id);
    for (const id of ids) {
      const v = await cli('verify', '--from', repo, id);
      if (v.code !== 0) problems.push(`listed backup ${id} in ${repo} does not verify (${v.code}): ${v.stderr.slice(0, 200)}`);
    }
    return ids;
  };

  /** One backup to the local repository and to the cloud target, which answers 503 to everything. */
  const fanOut = async (i: number): Promise<Trial> => {
    const problems: string[] = [];
    const local = join(dir, `local-${i}`);
    const repo = repoUrl(`fan-${i}`);
    const down = spec(provider, '503').fault as Answer;
    proxy.clearFaults();
    const before = proxy.injected.length;
    proxy.failNext(1_000_000, down);
    const backup = await cli('backup', '--file', db, '--out', local, '--out', repo, '--json', '--verbose');
    proxy.clearFaults();
    const injected = proxy.injected.length - before;
    const all = backup.stdout + backup.stderr;
    if (backup.code !== 5) problems.push(`the fan-out with one target down exited ${backup.code}, not 5 (E_PARTIAL): ${all.slice(-400)}`);
    if (!/E_PARTIAL/.test(all)) problems.push(`the fan-out's output does not say E_PARTIAL: ${all.slice(-300)}`);
    if (!all.includes(repo)) problems.push(`the fan-out's output does not name the failed target ${repo}: ${all.slice(-300)}`);
    const good = await listed(local, problems, false);
    if (good.length !== 1) problems.push(`the healthy target lists ${good.length} backup(s), not 1`);
    const bad = await listed(repo, problems, true);
    if (bad.length) problems.push(`the failed target lists ${bad.length} backup(s): ${bad.join(', ')}`);
    if (injected === 0) problems.push('no fault was injected: the trial checked nothing');
    const retried = retryLines(backup.stderr).length;
    return { variant: `${FAN_OUT} (exit ${backup.code})`, what: `${FAN_OUT} (${provider} answers 503 for good): ${injected} injected, ${retried} retry line(s) in its log`, problems };
  };

  return {
    async trial(i, seed, name) {
      if (name === FAN_OUT) return fanOut(i);
      const random = rng(seed);
      const s = spec(provider, name);
      const on = pick(random, s.on);
      // A third of the trials keep failing past every retry; the others heal after 1 or 2.
      const lasting = random() < 1 / 3;
      const count = lasting ? 10_000 : 1 + Math.floor(random() * 2);
      const repo = repoUrl(`trial-${i}`);
      const what = `${name} on ${on}, ${lasting ? 'for good' : `${count} time(s)`}`;
      const problems: string[] = [];
      proxy.clearFaults();
      const before = proxy.injected.length;
      let rewritten = 0;
      if (s.fault === 'checksum') {
        const c = CHECKSUM[provider];
        const left = () => rewritten < count;
        const headers = (h: IncomingHttpHeaders) => {
          if (!left() || c.body) return h;
          const out = c.headers(h);
          if (out !== h) rewritten++;
          return out;
        };
        const body: BodyRewrite | undefined = c.body
          ? (b) => {
              const out = left() ? c.body!(b) : undefined;
              if (out) rewritten++;
              return out ?? b;
            }
          : undefined;
        proxy.rewriteResponses(c.match, headers, body);
      } else if (s.fault !== 'truncate') proxy.failNext(count, s.fault as Fault, MATCHERS[provider][on]);
      // Truncation hits reads: the backup is written cleanly, then read back (verify) through the fault.
      const backup = await cli('backup', '--file', db, '--out', repo, '--json', '--verbose');
      let id: string | undefined;
      if (backup.code === 0) id = (JSON.parse(backup.stdout) as { id: string }).id;
      else problems.push(...failedWell('backup', backup, repo, s.fault === 'checksum'));
      if (s.fault === 'truncate') proxy.failNext(count, 'truncate', MATCHERS[provider][on]);
      const injectedInBackup = proxy.injected.length - before + rewritten;
      const retryAfter = name.endsWith('Retry-After');
      if (id) {
        const beforeVerify = proxy.injected.length;
        const verify = await cli('verify', '--from', repo, id, '--verbose');
        if (verify.code !== 0) problems.push(...failedWell('verify', verify, repo, false));
        // A fault on reads (GET, LIST) that the backup did not meet heals in the verify.
        else if (!lasting && s.fault !== 'checksum') problems.push(...retryLogProblems('the verify', verify.stderr, proxy.injected.length - beforeVerify, repo, retryAfter));
      }
      // Every retry, whichever layer makes it (ours or an SDK's), is one log line: a fault that healed is one retry.
      const retried = retryLines(backup.stderr).length;
      if (!lasting && backup.code === 0 && s.fault !== 'checksum') problems.push(...retryLogProblems('the backup', backup.stderr, injectedInBackup, repo, retryAfter));
      // Whatever happened, with the faults gone: every listed backup is complete and verifies.
      proxy.clearFaults();
      const ids = await listed(repo, problems, !id);
      if (id && !ids.includes(id)) problems.push(`the backup ${id} that succeeded is not listed`);
      if (!id && ids.length > 0) problems.push(`the failed backup left ${ids.length} listed backup(s)`);
      const injected = proxy.injected.length - before + rewritten;
      if (injected === 0) problems.push('no fault was injected (the matcher hit no request): the trial checked nothing');
      const outcome = backup.code === 0 ? 'healed' : `exit ${backup.code}`;
      return { variant: `${name} (${outcome})`, what: `${what}: ${injected} injected (${injectedInBackup} in the backup), ${retried} retry line(s) in its log`, problems };
    },
    async stop() {
      await proxy.stop();
      await stopServer();
    },
  };
}

/**
 * A failure is well-formed: exit 3 or 4, one `error E_…` line naming the target (and for a wrong
 * checksum, exit 4 naming the object: a key under the repository).
 */
function failedWell(step: string, r: { code: number | null; stdout: string; stderr: string }, repo: string, checksum: boolean): string[] {
  const problems: string[] = [];
  // With --json the error is a JSON object on stdout; otherwise one `error E_…` line on stderr.
  const line = r.stderr.split('\n').find((l) => /^error E_/.test(l)) ?? (/"code":"E_/.test(r.stdout) ? r.stdout.trim() : r.stderr.slice(-300));
  if (checksum ? r.code !== 4 : r.code !== 3 && r.code !== 4) problems.push(`${step} failed with exit ${r.code}, not ${checksum ? 4 : '3 or 4'}: ${line}`);
  if (!line.includes(repo)) problems.push(`${step}'s error does not name the target ${repo}: ${line}`);
  // The object: `The stored copy of KEY at TARGET does not match…`.
  if (checksum && !/copy of \S+ at /.test(line)) problems.push(`${step}'s error does not name the object: ${line}`);
  return problems;
}
