// Kill -9 at a random moment of `dbbackup replicate` on a real server (PostgreSQL: a logical slot,
// format-2 segments; MariaDB: a binlog dump) under a writer committing numbered one-row
// transactions. After the kill: every listed segment and snapshot verifies, nothing half-written is
// listed, the catalog opens; `restore --at latest` gives a whole prefix of the writer's transactions
// holding at least every one replicate reported shipped (its `segment` events' commits, as in
// kill-chains.ts); a restarted replicate is not refused (a stale lock is detected by its dead pid),
// resumes or says why not, catches up, and `restore --at latest` then equals the source. PostgreSQL:
// the slot a killed run streamed is still there and the restart follows it; a slot a run killed
// during its first snapshot left (no repository names it) is dropped by the restart, which says so
// (a `slot-dropped` event): afterwards the one slot left is the one the restart follows.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import type mysql from 'mysql2/promise';
import { BIN } from '../helpers/cli.js';
import type { MariaDbServer } from '../helpers/mariadb-server.js';
import type { PostgresServer } from '../helpers/postgres-server.js';
import { checkCatalog, checkRepository } from './checks.js';
import { runCli, setPhase, spawnWatched } from './cli-watch.js';
import { rng } from './harness.js';
import type { ServerEngine } from './kill-server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The body of transaction `n` (its row): a restored row is checked against it. */
const body = (n: number) => `tx ${n} ${'x'.repeat(n % 97)}`;

/** `db`: the source database to create; `killAfter`: when to kill (ms), from the trial's random numbers. */
export async function replicateKillBench(
  engine: ServerEngine,
  server: PostgresServer | MariaDbServer,
  dir: string,
  env: NodeJS.ProcessEnv,
  // From before the run holds its lock and slot (node starting) to well after its first segments.
  options: { db?: string; killAfter?: (random: () => number) => number } = {},
) {
  const db = options.db ?? 'rep';
  const killAfter = options.killAfter ?? ((random: () => number) => Math.round(150 + random() * 3350));
  const pgs = server as PostgresServer;
  const my = server as MariaDbServer;
  if (engine === 'postgres') {
    await pgs.query(`CREATE DATABASE ${db}`);
    await pgs.query('CREATE TABLE public.ev (id int PRIMARY KEY, body text NOT NULL)', [], db);
  } else {
    await my.query(`CREATE DATABASE ${db}`);
    await my.query(`CREATE TABLE ${db}.ev (id INT PRIMARY KEY, body TEXT NOT NULL)`);
  }
  const repoName = `replicate-repo-${db}`;
  const repo = join(dir, repoName);
  const dataDir = String(env.DBBACKUP_DATA_DIR);
  const cli = (args: string[]) => runCli(args, { env, cwd: dir });
  const replicateArgs = ['replicate', '--db', engine, '--url', server.url(db), '--out', repoName, '--interval', '200ms', '--json'];

  /** The writer's one connection; `commit(n)` commits transaction n (one row). */
  const openWriter = async (): Promise<{ commit(n: number): Promise<void>; end(): Promise<void> }> => {
    if (engine === 'postgres') {
      const c: pg.Client = await pgs.connect(db);
      return { commit: async (n) => void (await c.query('INSERT INTO public.ev (id, body) VALUES ($1, $2)', [n, body(n)])), end: () => c.end() };
    }
    const c: mysql.Connection = await my.connect(db);
    return { commit: async (n) => void (await c.query('INSERT INTO ev (id, body) VALUES (?, ?)', [n, body(n)])), end: () => c.end() };
  };
  const rowsOf = async (database: string): Promise<{ id: number; body: string }[]> =>
    engine === 'postgres'
      ? pgs.query<{ id: number; body: string }>('SELECT id, body FROM public.ev ORDER BY id', [], database)
      : my.query<{ id: number; body: string }>(`SELECT id, body FROM \`${database}\`.ev ORDER BY id`);
  const drop = (database: string) => (engine === 'postgres' ? pgs.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`) : my.query(`DROP DATABASE IF EXISTS ${database}`));
  /** The dbbackup slots of the source (not the temporary ones a snapshot of another command takes). */
  const slots = async (): Promise<string[]> =>
    engine === 'postgres'
      ? (await pgs.query<{ s: string }>("SELECT slot_name AS s FROM pg_replication_slots WHERE database = $1 AND slot_name LIKE 'dbbackup\\_%' AND slot_name NOT LIKE 'dbbackup\\_tmp\\_%' ORDER BY 1", [db])).map((r) => r.s)
      : [];

  /** `restore --at latest` into a fresh database: the rows, how many form the prefix 1..n, or the failure. */
  const restoreLatest = async (target: string): Promise<{ n?: number; whole?: boolean; point?: string; problem?: string }> => {
    await drop(target);
    const r = await cli(['restore', '--from', repoName, '--at', 'latest', '--db', engine, '--url', server.url(target), '--create', '--json']);
    if (r.code !== 0) return { problem: `restore --at latest failed (${r.code}): ${r.stderr.slice(0, 300)}` };
    try {
      const rows = await rowsOf(target);
      const point = (JSON.parse(r.stdout) as { point?: string }).point;
      return { n: rows.length, whole: rows.every((x, i) => Number(x.id) === i + 1 && x.body === body(i + 1)), point };
    } finally {
      await drop(target);
    }
  };

  /** Transactions committed so far (1..written); every one shipped once a trial's restart caught up. */
  let written = 0;
  let shippedBefore = 0;

  const trial = async (seed: number) => {
    const random = rng(seed);
    const at = killAfter(random);
    const problems: string[] = [];
    const slotsBefore = await slots();
    setPhase(`replicate (${engine}) killed after ${at} ms`);
    const run = spawnWatched(process.execPath, [BIN, ...replicateArgs], { cwd: dir, env });
    const killAt = Date.now() + at;
    // The writer: bursts of one-row transactions every 30 ms until the kill.
    const w = await openWriter();
    const from = written;
    try {
      while (Date.now() < killAt && run.child.exitCode === null) {
        const n = 1 + Math.floor(random() * 15);
        for (let k = 0; k < n; k++) await w.commit(++written);
        await sleep(30);
      }
    } finally {
      await w.end();
    }
    run.child.kill('SIGKILL');
    const ended = await run.done;
    const killed = ended.signal === 'SIGKILL' && !ended.overrun;
    if (!killed) problems.push(`replicate ended before the kill (${ended.code}): ${ended.stderr.slice(0, 300)}`);
    const events = ended.stdout.split('\n').filter((l) => l.startsWith('{"event"')).map((l) => JSON.parse(l) as { event: string; commits?: number; through?: string });
    const shipped = events.filter((e) => e.event === 'segment').reduce((n, e) => n + Number(e.commits ?? 0), 0);
    const started = events.find((e) => e.event === 'generation' || e.event === 'resumed')?.event ?? 'nothing';

    setPhase('checks after the kill');
    // Killed before it made the repository folder: nothing listed.
    const after = existsSync(repo) ? await checkRepository(repo) : { ids: [] as string[], problems: [] as string[] };
    problems.push(...after.problems, ...(await checkCatalog(dataDir, repo, after.ids)));
    const slotsAfterKill = await slots();
    setPhase('restore --at latest after the kill');
    const got = await restoreLatest(`${db}_after_kill`);
    if (got.problem) {
      // Nothing listed yet at all (killed during the first snapshot) is the one case with nothing to restore.
      if (after.ids.length > 0) problems.push(`after the kill: ${got.problem}`);
    } else {
      if (!got.whole) problems.push(`after the kill restore --at latest is not a whole prefix of the transactions (${got.n} rows)`);
      if (got.n! < shippedBefore + shipped) problems.push(`after the kill restore --at latest holds ${got.n} transactions, fewer than the ${shippedBefore + shipped} replicate reported shipped (its last segment through ${events.filter((e) => e.event === 'segment').at(-1)?.through}; the restore's point ${got.point})`);
      if (got.n! > written) problems.push(`after the kill restore --at latest holds ${got.n} transactions, more than the ${written} written`);
    }
    const restored = got.n ?? 0;

    // The restart: not refused by the dead run's lock; it resumes (or starts a generation, saying
    // why), ships what the killed run had not, and is stopped as Ctrl-C would (exit 0).
    setPhase('replicate restarted');
    const again = spawnWatched(process.execPath, [BIN, ...replicateArgs], { cwd: dir, env });
    let out = '';
    again.child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    const seen = () => out.split('\n').filter((l) => l.startsWith('{"event"')).map((l) => JSON.parse(l) as { event: string; commits?: number; reason?: string });
    let how = '';
    while (again.child.exitCode === null) {
      const e = seen();
      const start = e.find((x) => x.event === 'generation' || x.event === 'resumed');
      const caught = e.filter((x) => x.event === 'segment').reduce((n, x) => n + Number(x.commits ?? 0), 0);
      // Resumed: caught up once it shipped what the repository lacked; a new generation's snapshot holds it all.
      if (start?.event === 'generation') {
        how = `a new generation${start.reason ? ` (${start.reason})` : ''}`;
        break;
      }
      if (start && caught >= written - restored) {
        how = 'resumed';
        break;
      }
      await sleep(50);
    }
    const slotsRunning = await slots();
    again.child.kill('SIGTERM');
    const stopped = await again.done;
    if (stopped.code !== 0) problems.push(`the restarted replicate did not run and stop cleanly (${stopped.code}): ${stopped.stderr.slice(0, 400)}`);
    else {
      shippedBefore = written;
      setPhase('restore --at latest after the restart');
      const caught = await restoreLatest(`${db}_caught`);
      if (caught.problem) problems.push(`after the restart: ${caught.problem}`);
      else if (!caught.whole || caught.n !== written) problems.push(`after the restart restore --at latest differs from the source (${caught.n} rows of ${written}, whole prefix: ${caught.whole})`);
    }
    let dropped = false;
    if (engine === 'postgres') {
      // The killed run's slot is still there (a kill drops nothing) and the restart follows it; a run
      // killed after it made its generation's slot and before the snapshot was listed leaves a slot no
      // repository names: the restart drops it (saying so), so afterwards only the slot the restart
      // follows is left, none retaining WAL unseen.
      const finalSlots = await slots();
      if (slotsBefore.some((s) => !slotsAfterKill.includes(s))) problems.push(`a slot vanished with the kill: before ${slotsBefore.join(',')}, after ${slotsAfterKill.join(',')}`);
      if (how === 'resumed' && slotsAfterKill.length > 0 && !slotsRunning.every((s) => slotsAfterKill.includes(s))) problems.push(`the resumed replicate made a new slot instead of following the killed run's: ${slotsAfterKill.join(',')} → ${slotsRunning.join(',')}`);
      const drops = seen().filter((e) => e.event === 'slot-dropped') as unknown as { slot: string; pid: number }[];
      dropped = drops.length > 0;
      for (const d of drops) {
        if (!slotsAfterKill.includes(d.slot) || d.pid !== run.child.pid) problems.push(`the restart dropped ${d.slot} (pid ${d.pid}), which is not the killed run's (pid ${run.child.pid}) left slot: ${slotsAfterKill.join(',')}`);
      }
      if (stopped.code === 0 && finalSlots.length !== 1) problems.push(`after the restart ${finalSlots.length} slots are left for the source (${finalSlots.join(', ')}); only the one the restart follows should be (killed run's: ${slotsAfterKill.join(',')})`);
      // Clean for the next trial whatever happened (a slot left would retain WAL for every later one).
      const extra = finalSlots.filter((x) => (how.startsWith('a new') ? slotsAfterKill.includes(x) : !slotsRunning.includes(x)));
      for (const x of extra) await pgs.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [x]);
    }
    return {
      variant: `${engine} replicate ${killed ? '' : '(ended first) '}killed after ${started === 'nothing' ? 'nothing started' : started}, restart ${how.startsWith('a new') ? 'new generation' : how || 'failed'}${dropped ? ', the killed run\'s left slot dropped by the restart' : ''}`,
      what: `${engine} replicate under a writer, SIGKILL after ${at} ms: ${written - from} transactions written, ${shipped} reported shipped, ${restored} of ${written} restored; restart: ${how || 'failed'}`,
      problems,
    };
  };

  return { trial: (_i: number, seed: number) => trial(seed) };
}
