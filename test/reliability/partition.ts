// A silent network partition between the CLI and its database server: a TCP gate in front of the
// server (test/helpers/tcp-gate.ts) stops passing bytes both ways, closing nothing, once a seeded
// number of bytes went through — inside a backup's table stream (server → client) or a restore's
// data load (client → server). With --io-timeout 2s the run must end within that timeout's reach
// (a hang is killed at the CLI limit and named) as exit 3 with one `error E_NETWORK_TIMEOUT` line
// naming the gate's host:port, list nothing incomplete, leave a restore target untouched or marked,
// and the next run, with the network back (straight to the server), must succeed. The stream
// variant lets a running `replicate` idle on a healthy network for three timeouts (it must go on),
// then partitions it while its change stream idles (PostgreSQL's replication
// connection, MariaDB's binlog dump): the server's keepalives / heartbeats stop, and it must exit
// the same way; the next replicate resumes from what the repository holds.
import { join } from 'node:path';
import { BIN } from '../helpers/cli.js';
import type { PostgresServer } from '../helpers/postgres-server.js';
import { cliShapeProblems } from './checks.js';
import { setPhase, spawnWatched } from './cli-watch.js';
import { rng } from './harness.js';
import type { serverKillBench } from './kill-server.js';
import { startTcpGate } from '../helpers/tcp-gate.js';
import { checkCatalog, checkRepository } from './checks.js';
import { nextRestoreProblems } from './server-faults.js';
import { FIRST_ANSWER_FACTOR } from '../../src/infrastructure/read-watchdog.js';

type Bench = Awaited<ReturnType<typeof serverKillBench>>['ctx'];

export const PARTITION_OPERATIONS = ['backup', 'restore', 'replicate stream'] as const;
export type PartitionOperation = (typeof PARTITION_OPERATIONS)[number];

const IO_TIMEOUT = '2s';

/**
 * CI (≈ 10 s a trial): one trial in all, on the seed's engine, a backup or a restore as the seed says
 * (the stream costs a snapshot and a second run: long mode only); the long mode every operation on both.
 */
export function partitionOperationsFor(engine: 'postgres' | 'mysql', ci: boolean, seed: number): PartitionOperation[] {
  if (!ci) return [...PARTITION_OPERATIONS];
  return engine === (seed % 2 ? 'mysql' : 'postgres') ? [PARTITION_OPERATIONS[(seed >>> 1) % 2]!] : [];
}

/** `url` with its port replaced by the gate's. */
function through(url: string, port: number): string {
  const u = new URL(url);
  u.port = String(port);
  return u.toString();
}

export async function partitionTrial(b: Bench, seed: number, operation: PartitionOperation): Promise<{ variant: string; what: string; problems: string[] }> {
  if (operation === 'replicate stream') return streamTrial(b, seed);
  const random = rng(seed);
  const problems: string[] = [];
  const backup = operation === 'backup';
  // Past the catalog reads and into the data (a backup reads ~13 MB of table data, a restore sends as much).
  const after = Math.round(64 * 1024 + random() * 4 * 1024 * 1024);
  const engine = b.engine === 'postgres' ? 'PostgreSQL' : 'MySQL';
  if (!backup) await b.occupyTarget();
  const before = backup ? await checkRepository(b.repo) : undefined;
  const targetBefore = backup ? undefined : await b.read('restored');
  const gate = await startTcpGate({ port: b.server.port }, undefined, { blackholeAfter: backup ? { toClient: after } : { toServer: after } });
  let run;
  try {
    const args = backup ? [...b.args] : b.restoreArgs(true);
    const at = args.indexOf('--url') + 1;
    args[at] = through(args[at]!, gate.port);
    setPhase(`${operation} through a gate that goes silent after ${after} bytes ${backup ? 'from the server' : 'to the server'}`);
    run = await b.cli([...args, '--io-timeout', IO_TIMEOUT]);
  } finally {
    await gate.stop();
  }
  if (run.code === 0 && gate.silent) problems.push(`the ${operation} succeeded although the network went silent after ${after} bytes`);
  if (run.code !== 0) {
    problems.push(...cliShapeProblems(run, [3]));
    const expected = new RegExp(`^error E_NETWORK_TIMEOUT: (.* )?The connection to the ${engine} server at 127\\.0\\.0\\.1:${gate.port} passed no byte for (2|${2 * FIRST_ANSWER_FACTOR}) s \\(--io-timeout\\) while .+`, 'm');
    if (!expected.test(run.stderr)) problems.push(`not an E_NETWORK_TIMEOUT naming 127.0.0.1:${gate.port} and the 2 s: ${run.stderr.slice(0, 400)}`);
  }
  if (backup) {
    const after = await checkRepository(b.repo);
    problems.push(...after.problems, ...(await checkCatalog(b.dataDir, b.repo, after.ids)));
    if (run.code !== 0 && after.ids.length !== before!.ids.length) problems.push(`the failed backup changed what is listed: ${before!.ids.length} backups before, ${after.ids.length} after`);
    setPhase('the next backup, the network back');
    const next = await b.cli([...b.args, '--json']);
    if (next.code !== 0) problems.push(`the next backup failed (${next.code}): ${next.stderr.slice(0, 300)}`);
  } else {
    const now = await b.read('restored');
    const untouched = JSON.stringify(now.tables) === JSON.stringify(targetBefore!.tables);
    if (run.code !== 0 && !now.marked && !untouched) problems.push(`the restore failed and left the target unmarked: ${JSON.stringify(now.tables).slice(0, 300)}`);
    problems.push(...(await nextRestoreProblems(b, 'the next restore --clean, the network back')));
  }
  const code = /error (E_[A-Z_]+)/.exec(run.stderr)?.[1];
  return {
    variant: `${b.engine} ${operation}: ${run.code === 0 ? (gate.silent ? 'succeeded silent' : 'finished first') : `failed ${code ?? run.code}`}`,
    what: `${b.engine} ${operation} --io-timeout ${IO_TIMEOUT}, the network silent after ${after} bytes ${backup ? 'from' : 'to'} the server: ${run.stderr.split('\n').find((l) => l.startsWith('error ')) ?? `exit ${run.code}`}`,
    problems,
  };
}

/** Starts `replicate … --json` (watched); `event(types, seen)` resolves once it printed more than `seen` such events, or with false when it exited first. */
function replicate(b: Bench, args: string[]) {
  const { child, done } = spawnWatched(process.execPath, [BIN, 'replicate', ...args, '--json'], { cwd: b.dir, env: b.env, output: 'pipe' });
  let out = '';
  const waiters: (() => void)[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    waiters.splice(0).forEach((w) => w());
  });
  const exited = done.then(() => false);
  const count = (types: string[]) => types.reduce((n, t) => n + out.split(`"event":"${t}"`).length - 1, 0);
  const event = (types: string[], seen = 0): Promise<boolean> =>
    Promise.race([
      exited,
      new Promise<boolean>((resolve) => {
        const check = () => (count(types) > seen ? resolve(true) : waiters.push(check));
        check();
      }),
    ]);
  return { child, done, event, count };
}

/** Runs `sql` in the source database `app`. */
function onApp(b: Bench, sql: string): Promise<unknown> {
  return b.engine === 'postgres' ? (b.server as PostgresServer).query(sql, [], 'app') : b.server.query(`USE app; ${sql}`);
}

async function streamTrial(b: Bench, seed: number): Promise<{ variant: string; what: string; problems: string[] }> {
  const problems: string[] = [];
  const engine = b.engine === 'postgres' ? 'PostgreSQL' : 'MySQL';
  const repo = join(b.dir, `replica-${seed}`);
  const url = b.args[b.args.indexOf('--url') + 1]!;
  // PostgreSQL: table u has no primary key; replicate follows it with REPLICA IDENTITY FULL.
  const common = ['--db', b.engine, '--out', repo, '--interval', '200ms', ...(b.engine === 'postgres' ? ['--replica-identity-full'] : [])];
  const gate = await startTcpGate({ port: b.server.port });
  let run;
  let healed = false;
  try {
    setPhase('replicate through the gate, until its first generation');
    const r = replicate(b, [...common, '--url', through(url, gate.port), '--io-timeout', IO_TIMEOUT, ...(process.env.PARTITION_VERBOSE ? ['--verbose'] : [])]);
    if (!(await r.event(['generation', 'resumed']))) {
      const failed = await r.done;
      problems.push(`replicate exited (${failed.code}) before its first generation: ${failed.stderr.slice(0, 300)} ${failed.stdout.slice(-400)}`);
      return { variant: `${b.engine} replicate stream: setup failed`, what: `${b.engine} replicate through a gate`, problems };
    }
    // The stream now idles: the server's keepalives (heartbeats) are all that passes, then nothing —
    // on the stream's connection only (PostgreSQL: the walsender's startup packet; MariaDB: the dump
    // session's settings), so that it is the stream that must notice.
    setPhase('replicate with its change stream silent');
    const marker = b.engine === 'postgres' ? 'replication\0database' : '@mariadb_slave_capability';
    let running = true;
    void r.done.then(() => (running = false));
    // Healthy but idle for three timeouts first: the keepalives (heartbeats) must keep it alive.
    setPhase('replicate idle, the network healthy');
    await new Promise((resolve) => setTimeout(resolve, 6000));
    if (!running) {
      const failed = await r.done;
      problems.push(`replicate exited (${failed.code}) while idle on a healthy network: ${failed.stdout.slice(-300)} ${failed.stderr.slice(0, 300)}`);
      return { variant: `${b.engine} replicate stream: failed idle`, what: `${b.engine} replicate --io-timeout ${IO_TIMEOUT}, idle on a healthy network`, problems };
    }
    // The stream's connection may open after the generation event (MariaDB: once the snapshot is in): wait for it.
    let silenced = 0;
    while (running && (silenced = gate.blackhole((head) => head.includes(marker))) === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    if (silenced !== 1) problems.push(`the gate silenced ${silenced} connections as the change stream's, not 1`);
    // Either it stops (E_NETWORK_TIMEOUT) or the stream heals on a connection of its own (MariaDB's
    // dump resumes after a cut): then a change made now must still be shipped.
    const segments = r.count(['segment']);
    await onApp(b, `INSERT INTO t VALUES (${10_000_000 + (seed % 1000)}, 'partition', 'partition')`);
    if (await r.event(['segment'], segments)) {
      healed = true;
      r.child.kill('SIGTERM');
    }
    run = await r.done;
  } finally {
    await gate.stop();
    await onApp(b, 'DELETE FROM t WHERE i >= 10000000');
  }
  // With --json the error is the closing JSON object on stdout: { error: { code, message } } or { code, message }.
  if (run.code !== (healed ? 0 : 3)) problems.push(`exit ${run.code}, expected ${healed ? '0 (healed, then stopped)' : 3}: ${run.stdout.slice(-300)} ${run.stderr.slice(0, 300)}`);
  const closing = run.stdout.trim().split('\n').findLast((l) => l.startsWith('{"ok"'));
  let error: { code?: string; message?: string } = {};
  try {
    const parsed = JSON.parse(closing ?? '{}') as { error?: { code?: string; message?: string }; code?: string; message?: string };
    error = parsed.error ?? parsed;
  } catch {
    problems.push(`no closing JSON on stdout: ${run.stdout.slice(-400)}`);
  }
  const expected = new RegExp(`^(.* )?The connection to the ${engine} server at 127\\.0\\.0\\.1:${gate.port} passed no byte for (2|${2 * FIRST_ANSWER_FACTOR}) s \\(--io-timeout\\) while .+`);
  if (!healed && (error.code !== 'E_NETWORK_TIMEOUT' || !expected.test(error.message ?? ''))) problems.push(`not an E_NETWORK_TIMEOUT naming 127.0.0.1:${gate.port} and the 2 s: ${run.stdout.slice(-400)} ${run.stderr.slice(0, 300)}`);
  const held = await checkRepository(repo);
  problems.push(...held.problems);
  // The network back: the next replicate resumes from the repository, then stops when asked.
  setPhase('the next replicate, the network back');
  const next = replicate(b, [...common, '--url', url]);
  if (!(await next.event(['resumed', 'generation']))) {
    const failed = await next.done;
    problems.push(`the next replicate exited (${failed.code}) before resuming: ${failed.stderr.slice(0, 300)}`);
  } else {
    next.child.kill('SIGTERM');
    const stopped = await next.done;
    if (stopped.code !== 0) problems.push(`the next replicate, stopped, exited ${stopped.code}: ${stopped.stderr.slice(0, 300)}`);
  }
  problems.push(...(await checkRepository(repo)).problems);
  if (b.engine === 'postgres') await b.server.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active').catch(() => undefined);
  return {
    variant: `${b.engine} replicate stream: ${healed ? 'healed (resumed on a new connection)' : error.code ? `failed ${error.code}` : `exit ${run.code}`}`,
    what: `${b.engine} replicate --io-timeout ${IO_TIMEOUT} whose idle change stream went silent: ${healed ? 'a change made after it was shipped' : `${error.code ?? ''} ${error.message ?? `exit ${run.code}`}`}`,
    problems,
  };
}
