// Database faults beyond a dropped connection (kill-server.ts has those), on the same server:
// - the server restarted (a fast shutdown, then started again) while a backup or a restore runs;
// - a table held by another session while a backup wants it (PostgreSQL: ACCESS EXCLUSIVE mode;
//   MariaDB: LOCK TABLES … WRITE, with and without the metadata_lock_info plugin that names the holder);
// - the backup role's credentials revoked between runs (PostgreSQL: NOLOGIN, or CONNECT revoked;
//   MariaDB: the password changed, or the account locked);
// - PostgreSQL: the snapshot's leader ended by the server just as a worker joins it (through a TCP
//   gate that holds the worker's connection until then: an exact moment, not a timed one).
// Each must end as a clear failure with its stable code (or heal, for a restart the retries ride
// out), list nothing incomplete (repository and catalog), and the next run, with the fault gone,
// must succeed. Trials of a restart pick its moment from the seed.
import type { PostgresServer } from '../helpers/postgres-server.js';
import { startTcpGate } from '../helpers/tcp-gate.js';
import { checkCatalog, checkRepository, cliShapeProblems } from './checks.js';
import { setPhase } from './cli-watch.js';
import { rng } from './harness.js';
import type { serverKillBench } from './kill-server.js';
import { runWithFault } from './kill-server.js';
import { lockWaitTrial } from './lock-wait.js';

export const SERVER_FAULTS = ['restart during backup', 'restart during restore', 'lock wait', 'credentials revoked', 'snapshot leader ended'] as const;
export type ServerFault = (typeof SERVER_FAULTS)[number];

type Bench = Awaited<ReturnType<typeof serverKillBench>>['ctx'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const errorLine = (stderr: string) => stderr.split('\n').find((l) => l.startsWith('error ')) ?? stderr.slice(0, 200);

/**
 * The faults an engine's server gets.
 * `ci`: one restart only, during a backup or a restore as the seed says (a MariaDB restart costs
 * seconds); the long mode has both.
 */
export function serverFaultsFor(engine: 'postgres' | 'mysql', ci = false, seed = 0): ServerFault[] {
  const all = engine === 'postgres' ? [...SERVER_FAULTS] : SERVER_FAULTS.filter((f) => f !== 'snapshot leader ended');
  return ci ? all.filter((f) => f !== (seed % 2 ? 'restart during backup' : 'restart during restore')) : all;
}

/** The next `restore --clean --create` after a fault: it succeeds, leaves no incomplete-restore mark and gives the source's tables. */
export async function nextRestoreProblems(b: Bench, phase: string): Promise<string[]> {
  setPhase(phase);
  const next = await b.cli([...b.restoreArgs(true), '--create']);
  if (next.code !== 0) return [`the next restore --clean failed (${next.code}): ${next.stderr.slice(0, 300)}`];
  const last = await b.read('restored');
  const problems = last.marked ? ['the next restore --clean left the incomplete-restore mark'] : [];
  for (const [t, v] of Object.entries(b.sourceTables)) if (last.tables[t] !== v) problems.push(`after the next restore --clean, ${t} differs from the source`);
  return problems;
}

export async function serverFaultTrial(b: Bench, seed: number, fault: ServerFault): Promise<{ variant: string; what: string; problems: string[] }> {
  const random = rng(seed);
  const problems: string[] = [];
  /** Nothing incomplete is listed, the catalog opens; the ids the repository lists. */
  const listed = async () => {
    const after = await checkRepository(b.repo);
    problems.push(...after.problems, ...(await checkCatalog(b.dataDir, b.repo, after.ids)));
    return after.ids;
  };
  const nextBackup = async () => {
    setPhase('the next backup');
    const next = await b.cli([...b.args, '--json']);
    if (next.code !== 0) problems.push(`the next backup failed (${next.code}): ${next.stderr.slice(0, 300)}`);
  };

  if (fault === 'restart during backup' || fault === 'restart during restore') {
    const backup = fault === 'restart during backup';
    const db = backup ? 'app' : 'restored';
    // Within the first half of an untouched run (timed from its start, so most restarts meet it running).
    const at = Math.round((backup ? b.backupMs : b.restoreMs) * random() * 0.5);
    if (!backup) await b.occupyTarget();
    let restarted = false;
    setPhase(`${backup ? 'backup' : 'restore'} with the server restarted after ${at} ms`);
    const run = await runWithFault(backup ? b.args : b.restoreArgs(true), b.env, b.dir, async (running) => {
      while (running() && (await b.connections(db).catch(() => 0)) === 0) await sleep(20);
      await sleep(at);
      if (!running()) return;
      await b.server.restart();
      restarted = true;
    });
    if (run.code !== 0) {
      problems.push(...cliShapeProblems(run, [1, 3]));
      if (/error E_INTERNAL/.test(run.stderr)) problems.push(`an unexpected (E_INTERNAL) error: ${run.stderr.slice(0, 400)}`);
    }
    if (backup) {
      await listed();
      await nextBackup();
    } else {
      problems.push(...(await nextRestoreProblems(b, 'the next restore --clean')));
    }
    const how = run.code === 0 ? (restarted ? 'rode it out' : 'finished first') : `failed ${/error (E_[A-Z_]+)/.exec(run.stderr)?.[1] ?? run.code}`;
    return {
      variant: `${b.engine} ${fault}: ${how}`,
      what: `${b.engine} ${backup ? 'backup' : 'restore --clean'}, the server restarted ${at} ms after the run first held a connection${run.code ? `: ${errorLine(run.stderr)}` : ''}`,
      problems,
    };
  }

  if (fault === 'snapshot leader ended') {
    // PostgreSQL, the CI hang of seed 1335744750 made exact: as the backup's second connection opens
    // (1: the session's test, which the leader that exports the snapshot takes over, 2: a worker that imports it),
    // the server ends the others, so the snapshot is gone when the worker asks for it. The CLI must
    // exit E_BACKUP_FAILED saying so (it once printed that and then never exited: the worker's
    // connection was left open).
    const pgs = b.server as PostgresServer;
    const ours = "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = 'app' AND application_name = 'dbbackup'";
    const gate = await startTcpGate({ port: pgs.port }, async (n) => {
      if (n !== 2) return;
      await pgs.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'app' AND application_name = 'dbbackup'");
      while ((await pgs.query<{ n: number }>(ours))[0]!.n > 0) await sleep(20);
    });
    const before = await listed();
    let run;
    try {
      const args = [...b.args, '--parallel', '2'];
      args[args.indexOf('--url') + 1] = `postgres://postgres@127.0.0.1:${gate.port}/app?sslmode=disable`;
      setPhase('backup whose snapshot leader the server ends as a worker joins');
      run = await b.cli(args);
    } finally {
      await gate.stop();
    }
    problems.push(...cliShapeProblems(run, [1]));
    if (gate.opened < 2) problems.push(`the backup opened ${gate.opened} connections, not the 2 the fault needs`);
    else if (!/^error E_BACKUP_FAILED: .*holds the backup's snapshot ended before another connection could join it/m.test(run.stderr)) {
      problems.push(`not an E_BACKUP_FAILED saying the snapshot's connection ended: ${run.stderr.slice(0, 400)}`);
    }
    const after = await listed();
    if (after.length !== before.length) problems.push(`the failed backup changed what is listed: ${before.length} backups before, ${after.length} after`);
    await nextBackup();
    return { variant: `${b.engine} snapshot leader ended: ${/error (E_[A-Z_]+)/.exec(run.stderr)?.[1] ?? `exit ${run.code}`}`, what: `${b.engine} backup --parallel 2 whose leader the server ends as the worker joins its snapshot: ${errorLine(run.stderr)}`, problems };
  }

  if (fault === 'lock wait') return lockWaitTrial(b, seed, problems, listed, nextBackup);

  // Credentials revoked between two runs of the same backup (a role of its own; the suite's root/postgres stay).
  const how = random() < 0.5 ? 0 : 1;
  const pg = b.engine === 'postgres';
  const kinds = pg ? ['NOLOGIN', 'CONNECT revoked'] : ['password changed', 'account locked'];
  const kind = kinds[how]!;
  const user = `rel_backup_${seed % 100_000}`;
  const url = new URL(b.args[b.args.indexOf('--url') + 1]!);
  url.username = user;
  const args = [...b.args];
  args[args.indexOf('--url') + 1] = url.toString();
  const env = { ...b.env, REL_PASSWORD: 'first-secret' };
  const withPassword = pg ? args : [...args, '--password-env', 'REL_PASSWORD'];
  const sql = (s: string) => b.server.query(s);
  if (pg) {
    await sql(`CREATE ROLE ${user} LOGIN IN ROLE pg_read_all_data`);
    await sql(`GRANT CONNECT ON DATABASE app TO ${user}`);
  } else {
    await sql(`CREATE USER ${user}@'%' IDENTIFIED BY 'first-secret'`);
    await sql(`GRANT ALL PRIVILEGES ON *.* TO ${user}@'%'`);
  }
  try {
    setPhase(`backup as ${user} before its credentials are revoked`);
    const first = await b.cli([...withPassword, '--json'], env);
    if (first.code !== 0) {
      problems.push(`the backup as ${user} failed before anything was revoked (${first.code}): ${first.stderr.slice(0, 300)}`);
      return { variant: `${b.engine} credentials revoked: setup failed`, what: `${b.engine} backup as ${user}, then ${kind}`, problems };
    }
    const before = await listed();
    if (pg) await sql(kind === 'NOLOGIN' ? `ALTER ROLE ${user} NOLOGIN` : `REVOKE CONNECT ON DATABASE app FROM ${user}, PUBLIC`);
    else await sql(kind === 'password changed' ? `ALTER USER ${user}@'%' IDENTIFIED BY 'second-secret'` : `ALTER USER ${user}@'%' ACCOUNT LOCK`);
    setPhase(`backup as ${user} after ${kind}`);
    const run = await b.cli(withPassword, env);
    problems.push(...cliShapeProblems(run, [3]));
    if (!/^error E_AUTH: /m.test(run.stderr)) problems.push(`not an E_AUTH error after ${kind}: ${run.stderr.slice(0, 400)}`);
    if (/first-secret|second-secret/.test(run.stderr + run.stdout)) problems.push('the password appears in the output');
    const after = await listed();
    if (after.length !== before.length) problems.push(`the refused backup changed what is listed: ${before.length} backups before, ${after.length} after`);
    // The credentials back: the same command works again.
    if (pg) await sql(kind === 'NOLOGIN' ? `ALTER ROLE ${user} LOGIN` : `GRANT CONNECT ON DATABASE app TO ${user}, PUBLIC`);
    else await sql(kind === 'password changed' ? `ALTER USER ${user}@'%' IDENTIFIED BY 'first-secret'` : `ALTER USER ${user}@'%' ACCOUNT UNLOCK`);
    setPhase(`backup as ${user} with its credentials back`);
    const again = await b.cli(withPassword, env);
    if (again.code !== 0) problems.push(`the backup with the credentials back failed (${again.code}): ${again.stderr.slice(0, 300)}`);
    return { variant: `${b.engine} credentials revoked (${kind}): ${/error (E_[A-Z_]+)/.exec(run.stderr)?.[1] ?? `exit ${run.code}`}`, what: `${b.engine} backup as ${user} after ${kind}: ${errorLine(run.stderr)}`, problems };
  } finally {
    if (pg) await sql(`GRANT CONNECT ON DATABASE app TO PUBLIC; DROP OWNED BY ${user}; DROP ROLE ${user}`).catch(() => undefined);
    else await sql(`DROP USER ${user}@'%'`).catch(() => undefined);
  }
}
