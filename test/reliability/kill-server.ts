// Kill -9 at a random moment of a PostgreSQL or MariaDB backup into a repository folder, or of a
// restore into a database on the server. After a killed backup: every listed backup verifies,
// nothing half-written is listed, the catalog opens, and the next backup succeeds without cleanup.
// After a killed restore: the target is untouched, complete, or carries the incomplete-restore mark
// (never silently half-restored); a marked target is refused without --clean, naming the unfinished
// restore; the next restore --clean makes it whole and removes the mark.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BIN, type CliResult } from '../helpers/cli.js';
import { runCli, setPhase, spawnWatched } from './cli-watch.js';
import { type MariaDbServer, startMariaDb } from '../helpers/mariadb-server.js';
import { type PostgresServer, startPostgres } from '../helpers/postgres-server.js';
import { checkCatalog, checkRepository, cliShapeProblems, runAndKill } from './checks.js';
import { rng } from './harness.js';

export type ServerEngine = 'postgres' | 'mysql';
export const SERVER_KILL_OPERATIONS = ['backup', 'restore'] as const;
export type ServerKillOperation = (typeof SERVER_KILL_OPERATIONS)[number];
/** Database faults: the server ends the CLI's connections (pg_terminate_backend, KILL) mid-run. */
export const CONNECTION_FAULTS = ['backup', 'restore'] as const;
export type ConnectionFault = (typeof CONNECTION_FAULTS)[number];

/** What a database on the server holds: per table, rows and a content checksum; and the mark, if any. */
interface DbState {
  exists: boolean;
  tables: Record<string, string>;
  marked: boolean;
}

/** Looks at one database of the server (in-process, as root), the same way for both engines. */
function stateReader(engine: ServerEngine, server: PostgresServer | MariaDbServer): (db: string) => Promise<DbState> {
  if (engine === 'postgres') {
    const pgs = server as PostgresServer;
    return async (db) => {
      const [found] = await pgs.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_database WHERE datname = $1', [db]);
      if (!found!.n) return { exists: false, tables: {}, marked: false };
      const names = await pgs.query<{ s: string; t: string }>(
        "SELECT table_schema AS s, table_name AS t FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE' ORDER BY 1, 2",
        [],
        db,
      );
      const tables: Record<string, string> = {};
      let marked = false;
      for (const { s, t } of names) {
        if (s === 'dbbackup_restore') {
          marked = true;
          continue;
        }
        const [r] = await pgs.query<{ n: number; h: string }>(`SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM "${s}"."${t}" x`, [], db);
        tables[`${s}.${t}`] = `${r!.n} ${r!.h}`;
      }
      return { exists: true, tables, marked };
    };
  }
  const my = server as MariaDbServer;
  return async (db) => {
    const found = await my.query('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [db]);
    if (!found.length) return { exists: false, tables: {}, marked: false };
    const names = await my.query<{ t: string }>("SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1", [db]);
    const tables: Record<string, string> = {};
    let marked = false;
    for (const { t } of names) {
      if (t === 'dbbackup_restore_incomplete') {
        marked = true;
        continue;
      }
      const [c] = await my.query<{ n: number }>(`SELECT COUNT(*) AS n FROM \`${db}\`.\`${t}\``);
      const [sum] = await my.query<{ Checksum: string | number }>(`CHECKSUM TABLE \`${db}\`.\`${t}\` EXTENDED`);
      tables[t] = `${Number(c!.n)} ${String(sum!.Checksum)}`;
    }
    return { exists: true, tables, marked };
  };
}

export async function serverKillBench(engine: ServerEngine, dir: string, rows = process.env.RELIABILITY_TRIALS ? 150_000 : 60_000) {
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const server = engine === 'postgres' ? await startPostgres() : await startMariaDb();
  if (engine === 'postgres') {
    await server.query('CREATE DATABASE app');
    await server.query(
      `CREATE TABLE t AS SELECT i, md5(i::text) AS h, repeat(md5(i::text), 4) AS pad FROM generate_series(1, ${rows}) i; CREATE TABLE u AS SELECT * FROM t WHERE i % 3 = 0;
       ALTER TABLE t ADD PRIMARY KEY (i); CREATE INDEX ON u (h)`,
      [],
      'app',
    );
  } else {
    await server.query('CREATE DATABASE app');
    await server.query(`CREATE TABLE app.t (i INT PRIMARY KEY, h CHAR(32), pad TEXT) SELECT seq AS i, md5(seq) AS h, repeat(md5(seq), 4) AS pad FROM app.seq_1_to_${rows}`);
    await server.query('CREATE TABLE app.u (i INT PRIMARY KEY, h CHAR(32), pad TEXT, KEY (h)) SELECT * FROM app.t WHERE i % 3 = 0');
  }
  const read = stateReader(engine, server);
  const dataDir = join(dir, 'data');
  const env = { DBBACKUP_DATA_DIR: dataDir, XDG_STATE_HOME: join(dir, 'state'), TMPDIR: join(dir, 'tmp') };
  const cli = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => runCli(args, { env: { ...env, ...extraEnv }, cwd: dir });
  const args = ['backup', '--db', engine, '--url', server.url('app'), '--out', 'repo'];
  let started = Date.now();
  const first = await cli([...args, '--json']);
  if (first.code !== 0) throw new Error(`the first ${engine} backup failed: ${first.stderr}`);
  const backupMs = Date.now() - started;
  const backupId = (JSON.parse(first.stdout) as { id: string }).id;
  const repo = join(dir, 'repo');

  // Restores go into the database `restored` (created by the restore with --create, or there
  // already holding a table of its own, restored over with --clean).
  const restoreArgs = (clean: boolean) => [
    'restore', '--from', 'repo', '--backup', backupId, '--db', engine,
    ...(engine === 'postgres' ? ['--url', server.url('restored')] : ['--url', server.url(), '--target-database', 'restored']),
    ...(clean ? ['--clean'] : ['--create']),
  ];
  const dropTarget = () => server.query(engine === 'postgres' ? 'DROP DATABASE IF EXISTS restored WITH (FORCE)' : 'DROP DATABASE IF EXISTS restored');
  const occupyTarget = async () => {
    await dropTarget();
    await server.query('CREATE DATABASE restored');
    if (engine === 'postgres') await server.query("CREATE TABLE previous (x text); INSERT INTO previous VALUES ('before the restore')", [], 'restored');
    else await server.query("CREATE TABLE restored.previous (x TEXT) SELECT 'before the restore' AS x");
  };
  const source = await read('app');
  const sourceTables = source.tables;
  await dropTarget();
  started = Date.now();
  const baseline = await cli(restoreArgs(false));
  if (baseline.code !== 0) throw new Error(`the first ${engine} restore failed: ${baseline.stderr}`);
  const restoreMs = Date.now() - started;
  const complete = await read('restored');
  if (JSON.stringify(complete.tables) !== JSON.stringify(sourceTables) || complete.marked) {
    throw new Error(`the first ${engine} restore is not the source: ${JSON.stringify(complete)} vs ${JSON.stringify(sourceTables)}`);
  }

  const backupTrial = async (seed: number) => {
    const random = rng(seed);
    const at = Math.round(backupMs * (0.15 + random() * 0.95));
    const problems: string[] = [];
    setPhase(`backup killed after ${at} ms`);
    const ended = await runAndKill(args, env, dir, at);
    const after = await checkRepository(repo);
    problems.push(...after.problems, ...(await checkCatalog(dataDir, repo, after.ids)));
    setPhase('the next backup');
    const next = await cli([...args, '--json']);
    if (next.code !== 0) problems.push(`the next backup failed (${next.code}): ${next.stderr.slice(0, 300)}`);
    else problems.push(...(await checkRepository(repo, { expectIds: [(JSON.parse(next.stdout) as { id: string }).id] })).problems);
    return { variant: `${engine} backup${ended.killed ? '' : ' (finished first)'}`, what: `${engine} backup, SIGKILL after ${at} ms (an untouched run takes ${backupMs} ms)`, problems };
  };

  const restoreTrial = async (seed: number) => {
    const random = rng(seed);
    const clean = random() < 0.5;
    const at = Math.round(restoreMs * (0.1 + random() * 1.0));
    const problems: string[] = [];
    if (clean) await occupyTarget();
    else await dropTarget();
    const before = await read('restored');
    setPhase(`restore killed after ${at} ms`);
    const ended = await runAndKill(restoreArgs(clean), env, dir, at);
    const after = await read('restored');
    const same = (a: Record<string, string>, b: Record<string, string>) => JSON.stringify(a) === JSON.stringify(b);
    // Complete: the backup's tables as in the source; anything else is what the target held before
    // (PostgreSQL's --clean replaces the backup's objects only, MariaDB's the database's contents).
    const isComplete = (t: Record<string, string>) =>
      Object.entries(sourceTables).every(([k, v]) => t[k] === v) && Object.entries(t).every(([k, v]) => k in sourceTables || before.tables[k] === v);
    let outcome: string;
    if (after.marked) {
      outcome = 'marked';
      // Marked: a restore without --clean refuses it and says why; nothing is changed by that.
      setPhase('a restore without --clean over the marked target');
      const refused = await cli(restoreArgs(false).filter((a) => a !== '--create'));
      if (refused.code !== 1 || !/E_TARGET_EXISTS: .*holds an incomplete restore: a restore of backup /.test(refused.stderr)) {
        problems.push(`a restore without --clean over the marked target did not refuse it as an incomplete restore (exit ${refused.code}): ${refused.stderr.slice(0, 300)}`);
      }
    } else if (!after.exists || (same(after.tables, before.tables) && after.exists === before.exists) || (!clean && Object.keys(after.tables).length === 0)) {
      // Untouched (an empty database a killed --create made is no partial restore: nothing is in it).
      outcome = 'untouched';
    } else if (isComplete(after.tables)) {
      outcome = 'complete';
    } else {
      outcome = 'half-restored';
      problems.push(`the killed restore left the target half-restored with no mark: ${JSON.stringify(after.tables).slice(0, 400)}`);
    }
    // The next restore, as a user would run it after any outcome: --clean, and --create if it is gone.
    setPhase('the next restore --clean --create');
    const next = await cli([...restoreArgs(true), '--create']);
    if (next.code !== 0) problems.push(`the next restore --clean --create failed (${next.code}): ${next.stderr.slice(0, 300)}`);
    else {
      const last = await read('restored');
      if (last.marked) problems.push('the next restore --clean finished but left the incomplete-restore mark');
      const got = Object.fromEntries(Object.entries(last.tables).filter(([k]) => k in sourceTables));
      if (!same(sortKeys(got), sortKeys(sourceTables))) problems.push(`after the next restore --clean the tables differ from the source: ${JSON.stringify(last.tables).slice(0, 400)}`);
    }
    const how = ended.killed ? outcome : 'finished first';
    return {
      variant: `${engine} restore ${how}`,
      what: `${engine} restore${clean ? ' --clean over a database' : ' --create'}, SIGKILL after ${at} ms (an untouched run takes ${restoreMs} ms)`,
      problems,
    };
  };

  /** How many client connections to `db` there are (ours, in these tests: the checks connect elsewhere). */
  const connections = async (db: string): Promise<number> =>
    engine === 'postgres'
      ? (await (server as PostgresServer).query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'", [db]))[0]!.n
      : // A MariaDB restore's connections name no database (its statements do): every other client counts.
        Number((await server.query<{ n: number }>("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND NOT IN ('Binlog Dump', 'Daemon') AND USER <> 'system user'"))[0]!.n);

  /** Ends every connection of the server's clients to `db` but the one asking (as an operator or a failover would). */
  const dropConnections = async (db: string): Promise<number> => {
    if (engine === 'postgres') {
      const rows = await (server as PostgresServer).query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = $2', [db, 'client backend']);
      await (server as PostgresServer).query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = $2', [db, 'client backend']);
      return rows.length;
    }
    const ids = await (server as MariaDbServer).query<{ id: number }>("SELECT ID AS id FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND NOT IN ('Binlog Dump', 'Daemon') AND USER <> 'system user'");
    for (const { id } of ids) await server.query(`KILL ${Number(id)}`).catch(() => undefined);
    return ids.length;
  };

  const faultTrial = async (seed: number, operation: ConnectionFault) => {
    const random = rng(seed);
    const ms = operation === 'backup' ? backupMs : restoreMs;
    // The connections end this long after the run first holds one (so the fault meets a connection).
    const at = Math.round(ms * random() * 0.3);
    const problems: string[] = [];
    const db = operation === 'backup' ? 'app' : 'restored';
    if (operation === 'restore') await occupyTarget();
    const before = operation === 'restore' ? await read(db) : undefined;
    let dropped = 0;
    setPhase(`${operation} whose connections the server ends after ${at} ms`);
    const run = await runWithFault(operation === 'backup' ? args : restoreArgs(true), env, dir, async (running) => {
      while (running() && (await connections(db)) === 0) await sleep(20);
      await sleep(at);
      if (running()) dropped = await dropConnections(db);
    });
    const hit = run.code !== 0;
    if (hit) {
      // A clear failure: exit 1 or 3, one `error E_…` line, no stack trace.
      problems.push(...cliShapeProblems(run, [1, 3]));
      // The server dropping the connection is expected, not an internal error (a MariaDB backup whose
      // connections were KILLed once ended as "the operation stopped before it finished": a table read
      // on a destroyed connection never settled; seed 31337).
      if (/error E_INTERNAL/.test(run.stderr)) problems.push(`an unexpected (E_INTERNAL) error: ${run.stderr.slice(0, 400)}`);
    }
    if (operation === 'backup') {
      const after = await checkRepository(repo);
      problems.push(...after.problems, ...(await checkCatalog(dataDir, repo, after.ids)));
      setPhase('the next backup');
      const next = await cli([...args, '--json']);
      if (next.code !== 0) problems.push(`the next backup failed (${next.code}): ${next.stderr.slice(0, 300)}`);
    } else {
      const after = await read('restored');
      const untouched = JSON.stringify(after.tables) === JSON.stringify(before!.tables);
      if (hit && !after.marked && !untouched) problems.push(`the restore failed (${run.stderr.split('\n')[0]}) and left the target unmarked: ${JSON.stringify(after.tables).slice(0, 300)}`);
      setPhase('the next restore --clean');
      const next = await cli([...restoreArgs(true), '--create']);
      if (next.code !== 0) problems.push(`the next restore --clean failed (${next.code}): ${next.stderr.slice(0, 300)}`);
      else if ((await read('restored')).marked) problems.push('the next restore --clean left the mark');
    }
    const code = /error (E_[A-Z_]+)/.exec(run.stderr)?.[1];
    return {
      variant: `${engine} ${operation} ${hit ? `failed ${code ?? run.code}` : dropped ? 'healed' : 'missed'}`,
      what: `${engine} ${operation}, its connections ended ${at} ms after it first held one (an untouched run takes ${ms} ms)${hit ? `: ${run.stderr.split('\n').find((l) => l.startsWith('error ')) ?? run.stderr.slice(0, 200)}` : ''}`,
      problems,
    };
  };

  return {
    /** What other fault families (server-faults.ts) build on: the server, the CLI and its commands, the checks. */
    ctx: { engine, server, dir, env, dataDir, repo, args, restoreArgs, cli, read, occupyTarget, connections, backupMs, restoreMs, sourceTables },
    stop: () => server.stop(),
    async trial(_i: number, seed: number, operation: ServerKillOperation = 'backup') {
      return operation === 'backup' ? backupTrial(seed) : restoreTrial(seed);
    },
    fault: (_i: number, seed: number, operation: ConnectionFault) => faultTrial(seed, operation),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the built CLI while `fault(running)` runs beside it; resolves with the CLI's result once both are done. */
export async function runWithFault(args: string[], env: NodeJS.ProcessEnv, cwd: string, fault: (running: () => boolean) => Promise<void>): Promise<CliResult> {
  const { done } = spawnWatched(process.execPath, [BIN, ...args], { cwd, env });
  let closed = false;
  const faulting = fault(() => !closed).catch(() => undefined);
  const r = await done.finally(() => (closed = true));
  await faulting;
  return r;
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
