// Kill -9 at a random moment of a SQLite incremental or differential backup (a link of a chain) and
// of `replicate` under a writer. After a killed link: every listed backup verifies, nothing
// half-written is listed, the catalog opens, `restore latest` gives the database as of the last
// backup that was reported (or of the killed one, if it got listed: then it is whole), and the next
// backup of the same type succeeds and restores to the source. After a killed replicate: the same
// repository checks; `restore latest` gives a whole prefix of the writer's transactions holding at
// least every one replicate reported shipped; a restarted replicate catches up and `restore latest`
// equals the source.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BIN } from '../helpers/cli.js';
import { contentHashes, Database } from '../helpers/sqlite-fixtures.js';
import { checkCatalog, checkRepository, runAndKill } from './checks.js';
import { runCli, setPhase, spawnWatched } from './cli-watch.js';
import { rng } from './harness.js';

export const CHAIN_KILL_OPERATIONS = ['incremental', 'differential', 'replicate'] as const;
export type ChainKillOperation = (typeof CHAIN_KILL_OPERATIONS)[number];

type Trial = { variant: string; what: string; problems: string[] };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function chainKillBench(dir: string, rows = process.env.RELIABILITY_TRIALS ? 6000 : 3000) {
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const dataDir = join(dir, 'data');
  const env = { DBBACKUP_DATA_DIR: dataDir, XDG_STATE_HOME: join(dir, 'state'), TMPDIR: join(dir, 'tmp') };
  const cli = (...args: string[]) => runCli(args, { env, cwd: dir });
  const hashes = (file: string) => JSON.stringify(contentHashes(file));

  // The chain's source: WAL mode, rows of random bytes; each trial changes a few thousand pages.
  const db = join(dir, 'chain.db');
  const d = new Database(db);
  d.exec(`PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB, v INTEGER);
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${rows}) INSERT INTO t SELECT x, randomblob(1500), 0 FROM c;`);
  d.close();
  let version = 0;
  /** Rewrites a random slice of the rows and adds some: the next link has pages to carry. */
  const change = (random: () => number) => {
    version++;
    const w = new Database(db);
    const from = Math.floor(random() * rows * 0.8);
    w.exec(`UPDATE t SET data = randomblob(1500), v = ${version} WHERE id BETWEEN ${from} AND ${from + Math.round(rows * 0.4)};
      INSERT INTO t (data, v) SELECT randomblob(1500), ${version} FROM t LIMIT ${Math.round(rows / 20)};`);
    w.close();
  };
  const repo = join(dir, 'chain-repo');
  const args = (type: string) => ['backup', '--file', db, '--out', 'chain-repo', '--type', type];
  const full = await cli(...args('full'), '--json');
  if (full.code !== 0) throw new Error(`the chain's full failed: ${full.stderr}`);
  /** The source as of the newest backup reported (listed). */
  let reported: string;
  change(rng(1));
  const first = Date.now();
  const link = await cli(...args('incremental'));
  if (link.code !== 0) throw new Error(`the first incremental failed: ${link.stderr}`);
  const linkMs = Date.now() - first;
  reported = hashes(db);

  /** `restore latest` into a fresh file: its content hashes, or the failure. */
  const restoreLatest = async (from: string, name: string): Promise<{ hashes?: string; problem?: string }> => {
    const target = join(dir, `${name}.db`);
    const r = await cli('restore', '--from', from, '--backup', 'latest', '--database', target, '--clean');
    if (r.code !== 0) return { problem: `restore latest failed (${r.code}): ${r.stderr.slice(0, 300)}` };
    try {
      return { hashes: hashes(target) };
    } finally {
      await Promise.all(['', '-wal', '-shm'].map((s) => rm(`${target}${s}`, { force: true })));
    }
  };

  const linkTrial = async (seed: number, type: 'incremental' | 'differential'): Promise<Trial> => {
    const random = rng(seed);
    change(random);
    const wanted = hashes(db);
    const at = Math.round(linkMs * (0.1 + random() * 1.0));
    const problems: string[] = [];
    const before = (await checkRepository(repo)).ids;
    setPhase(`${type} killed after ${at} ms`);
    const ended = await runAndKill(args(type), env, dir, at);
    const after = await checkRepository(repo);
    problems.push(...after.problems, ...(await checkCatalog(dataDir, repo, after.ids)));
    // Listed: the killed link was complete; else the chain ends where it did.
    const landed = after.ids.some((id) => !before.includes(id));
    setPhase('restore latest after the kill');
    const got = await restoreLatest('chain-repo', 'after-kill');
    if (got.problem) problems.push(`after the kill: ${got.problem}`);
    else if (got.hashes !== (landed ? wanted : reported)) {
      problems.push(`after the kill restore latest is not the database as of the last reported backup (${landed ? 'the killed link, which got listed' : 'the one before the kill'})`);
    }
    setPhase(`the next ${type}`);
    const next = await cli(...args(type), '--json');
    if (next.code !== 0) problems.push(`the next ${type} failed (${next.code}): ${next.stderr.slice(0, 300)}`);
    else {
      reported = wanted;
      const last = await restoreLatest('chain-repo', 'after-next');
      if (last.problem) problems.push(`after the next ${type}: ${last.problem}`);
      else if (last.hashes !== wanted) problems.push(`after the next ${type} restore latest differs from the source`);
    }
    return {
      variant: `${type} ${ended.killed ? (landed ? 'listed whole' : 'not listed') : 'finished first'}`,
      what: `SQLite ${type}, SIGKILL after ${at} ms (an untouched link takes ${linkMs} ms)`,
      problems,
    };
  };

  // Replicate: its own source and repository; a writer in this process commits one row per transaction.
  const rdb = join(dir, 'rep.db');
  const r = new Database(rdb);
  r.exec('PRAGMA journal_mode = WAL; CREATE TABLE ev (id INTEGER PRIMARY KEY, body BLOB);');
  r.close();
  const rrepo = join(dir, 'rep-repo');
  const replicateArgs = ['replicate', '--db', 'sqlite', '--database', rdb, '--out', 'rep-repo', '--interval', '200ms', '--json'];
  /** Rows 1..n of the source as the restored file would hold them. */
  const prefixHash = (n: number) => {
    const s = new Database(rdb, { readonly: true });
    try {
      const rows = s.prepare('SELECT id, hex(body) AS b FROM ev WHERE id <= ? ORDER BY id').all(n) as { id: number; b: string }[];
      return rows.map((x) => `${x.id}:${x.b}`).join(',');
    } finally {
      s.close();
    }
  };
  const restoredRows = (file: string) => {
    const s = new Database(file, { readonly: true });
    try {
      const rows = s.prepare('SELECT id, hex(body) AS b FROM ev ORDER BY id').all() as { id: number; b: string }[];
      return { n: rows.length, text: rows.map((x) => `${x.id}:${x.b}`).join(','), last: rows.at(-1)?.id ?? 0 };
    } finally {
      s.close();
    }
  };
  /** Commits shipped by the previous runs (every one, once the previous trial's catch-up stopped). */
  let shippedBefore = 0;

  const replicateTrial = async (seed: number): Promise<Trial> => {
    const random = rng(seed);
    const at = Math.round(600 + random() * 2400);
    const problems: string[] = [];
    setPhase(`replicate killed after ${at} ms`);
    const run = spawnWatched(process.execPath, [BIN, ...replicateArgs], { cwd: dir, env });
    const killAt = Date.now() + at;
    // The writer: bursts of one-row transactions every 50 ms until the kill.
    const w = new Database(rdb);
    const insert = w.prepare('INSERT INTO ev (body) VALUES (randomblob(?))');
    let written = 0;
    while (Date.now() < killAt && run.child.exitCode === null) {
      const n = 5 + Math.floor(random() * 20);
      for (let k = 0; k < n; k++) insert.run(100 + Math.floor(random() * 3000));
      written += n;
      await sleep(50);
    }
    w.close();
    run.child.kill('SIGKILL');
    const ended = await run.done;
    const shipped = ended.stdout
      .split('\n')
      .filter((l) => l.startsWith('{"event":"segment"'))
      .reduce((n, l) => n + Number((JSON.parse(l) as { commits?: number }).commits ?? 0), 0);
    const after = await checkRepository(rrepo);
    problems.push(...after.problems, ...(await checkCatalog(dataDir, rrepo, after.ids)));
    const total = (() => {
      const s = new Database(rdb, { readonly: true });
      try {
        return (s.prepare('SELECT count(*) AS n FROM ev').get() as { n: number }).n;
      } finally {
        s.close();
      }
    })();
    setPhase('restore latest after the kill');
    const target = join(dir, 'rep-after-kill.db');
    const restored = await cli('restore', '--from', 'rep-repo', '--backup', 'latest', '--database', target, '--clean');
    let got = 0;
    if (restored.code !== 0) {
      // Nothing shipped yet at all is the one case with no backup to restore.
      if (after.ids.length > 0) problems.push(`after the kill restore latest failed (${restored.code}): ${restored.stderr.slice(0, 300)}`);
    } else {
      const rows = restoredRows(target);
      got = rows.n;
      if (rows.last !== rows.n || rows.text !== prefixHash(rows.n)) problems.push(`after the kill restore latest is not a whole prefix of the transactions (${rows.n} rows, last id ${rows.last})`);
      if (rows.n < shippedBefore + shipped) problems.push(`after the kill restore latest holds ${rows.n} transactions, fewer than the ${shippedBefore + shipped} replicate reported shipped`);
    }
    // A restart catches up; stopped as Ctrl-C would (it ships what waits and exits 0).
    setPhase('replicate restarted');
    const again = spawnWatched(process.execPath, [BIN, ...replicateArgs], { cwd: dir, env });
    let out = '';
    again.child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    while (again.child.exitCode === null && !/"event":"segment"[^\n]*|"event":"(resumed|generation)"/.test(out)) await sleep(50);
    again.child.kill('SIGTERM');
    const stopped = await again.done;
    if (stopped.code !== 0) problems.push(`the restarted replicate did not stop cleanly (${stopped.code}): ${stopped.stderr.slice(0, 300)}`);
    else {
      shippedBefore = total;
      const caught = await cli('restore', '--from', 'rep-repo', '--backup', 'latest', '--database', join(dir, 'rep-caught.db'), '--clean');
      if (caught.code !== 0) problems.push(`after the restart restore latest failed (${caught.code}): ${caught.stderr.slice(0, 300)}`);
      else if (restoredRows(join(dir, 'rep-caught.db')).text !== prefixHash(total)) problems.push(`after the restart restore latest differs from the source (${total} transactions)`);
    }
    return {
      variant: `replicate${ended.signal === 'SIGKILL' && !ended.overrun ? '' : ' (ended first)'}`,
      what: `SQLite replicate under a writer, SIGKILL after ${at} ms: ${written} transactions written, ${shipped} reported shipped, ${got} restored`,
      problems,
    };
  };

  return {
    trial: (_i: number, seed: number, operation: ChainKillOperation) => (operation === 'replicate' ? replicateTrial(seed) : linkTrial(seed, operation)),
  };
}
