// Kill -9 at a random moment of a MongoDB backup into a repository folder and of a restore into a
// database. The server is a DOUBLE, not a mongod: CongoDB, a MongoDB wire-protocol server in
// TypeScript (test/helpers/congodb.ts; no real mongod can be installed here), running in this
// process, the same one the MongoDB tests use. After a killed backup: every listed backup verifies,
// nothing half-written is listed, the catalog opens, the next backup succeeds. After a killed
// restore: the target database is untouched, complete, or holds the incomplete-restore mark (the
// collection dbbackup_restore_incomplete), never silently half-restored; a marked target is
// refused without --drop, naming the unfinished restore; the next restore --drop makes it whole.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type CongoHandle, startCongo } from '../helpers/congodb.js';
import { snapshot } from '../integration/mongodb/fixtures.js';
import { checkCatalog, checkRepository, runAndKill } from './checks.js';
import { runCli, setPhase } from './cli-watch.js';
import { rng } from './harness.js';

export const MONGO_KILL_OPERATIONS = ['backup', 'restore'] as const;
export type MongoKillOperation = (typeof MONGO_KILL_OPERATIONS)[number];
const MARK = 'dbbackup_restore_incomplete';

type Trial = { variant: string; what: string; problems: string[] };

export async function mongoKillBench(dir: string, docs = process.env.RELIABILITY_TRIALS ? 12_000 : 4_000) {
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const congo: CongoHandle = await startCongo();
  try {
    const shop = congo.client.db('shop');
    const pad = 'x'.repeat(200);
    for (let from = 0; from < docs; from += 2000) {
      await shop.collection('orders').insertMany(Array.from({ length: Math.min(2000, docs - from) }, (_, k) => ({ n: from + k, note: `${pad}${from + k}`, at: new Date(Date.UTC(2026, 0, 1) + (from + k) * 1000) })));
    }
    await shop.collection('orders').createIndex({ n: 1 }, { name: 'by_n' });
    await shop.collection('users').insertMany(Array.from({ length: Math.round(docs / 4) }, (_, k) => ({ name: `user ${k}`, tags: [k % 7, k % 11] })));

    const dataDir = join(dir, 'data');
    const env = { DBBACKUP_DATA_DIR: dataDir, XDG_STATE_HOME: join(dir, 'state'), TMPDIR: join(dir, 'tmp') };
    const cli = (...args: string[]) => runCli(args, { env, cwd: dir });
    const repo = join(dir, 'repo');
    const backupArgs = ['backup', '--db', 'mongodb', '--url', congo.url(), '--database', 'shop', '--out', 'repo'];
    const restoreArgs = (drop: boolean) => ['restore', '--from', 'repo', '--backup', 'latest', '--db', 'mongodb', '--url', congo.url(), '--database', 'shop', '--target-database', 'copy', ...(drop ? ['--drop'] : [])];
    /** The target's collections (compared by count, content hash and indexes) and whether it holds the mark. */
    const read = async (db: string) => {
      const all = await snapshot(congo.client, db);
      const marked = MARK in all;
      delete all[MARK];
      return { tables: JSON.stringify(all), names: Object.keys(all), marked };
    };
    const timed = async (args: string[]) => {
      const started = Date.now();
      const r = await cli(...args);
      if (r.code !== 0) throw new Error(`${args.join(' ')} failed (${r.code}): ${r.stderr}`);
      return Date.now() - started;
    };
    const backupMs = await timed(backupArgs);
    const source = (await read('shop')).tables;
    await congo.client.db('copy').dropDatabase();
    const restoreMs = await timed(restoreArgs(false));
    if ((await read('copy')).tables !== source) throw new Error('the first MongoDB restore is not the source');

    const backupTrial = async (seed: number): Promise<Trial> => {
      const at = Math.round(backupMs * (0.1 + rng(seed)() * 1.0));
      const problems: string[] = [];
      setPhase(`backup killed after ${at} ms`);
      const ended = await runAndKill(backupArgs, env, dir, at);
      const after = await checkRepository(repo);
      problems.push(...after.problems, ...(await checkCatalog(dataDir, repo, after.ids)));
      setPhase('the next backup');
      const next = await cli(...backupArgs, '--json');
      if (next.code !== 0) problems.push(`the next backup failed (${next.code}): ${next.stderr.slice(0, 300)}`);
      else problems.push(...(await checkRepository(repo, { expectIds: [(JSON.parse(next.stdout) as { id: string }).id] })).problems);
      return { variant: `backup${ended.killed ? '' : ' (finished first)'}`, what: `MongoDB backup, SIGKILL after ${at} ms (an untouched run takes ${backupMs} ms)`, problems };
    };

    const restoreTrial = async (seed: number): Promise<Trial> => {
      const random = rng(seed);
      // Into an emptied database, or with --drop over one that holds the backup's collections and one of its own.
      const drop = random() < 0.5;
      // Past start-up and the check of every part (a restore reads the backup whole before it writes).
      const at = Math.round(restoreMs * (0.25 + random() * 0.9));
      const problems: string[] = [];
      await congo.client.db('copy').dropDatabase();
      if (drop) {
        await congo.client.db('copy').collection('orders').insertOne({ stale: true });
        await congo.client.db('copy').collection('own').insertOne({ mine: true });
      }
      const before = await read('copy');
      setPhase(`restore killed after ${at} ms`);
      const ended = await runAndKill(restoreArgs(drop), env, dir, at);
      const after = await read('copy');
      let outcome: string;
      if (after.marked) {
        outcome = 'marked';
        setPhase('a restore without --drop over the marked target');
        const refused = await cli(...restoreArgs(false));
        if (refused.code !== 1 || !/E_TARGET_EXISTS: .*holds an incomplete restore: a restore of backup /.test(refused.stderr)) {
          problems.push(`a restore without --drop over the marked target did not refuse it as an incomplete restore (exit ${refused.code}): ${refused.stderr.slice(0, 300)}`);
        }
      } else if (after.tables === before.tables || after.names.length === 0) {
        outcome = 'untouched';
      } else {
        // Complete: the source's collections as in the source (and, with --drop, the target's own one left as it was).
        const mine = await snapshot(congo.client, 'copy');
        delete mine.own;
        const complete = JSON.stringify(mine) === source;
        outcome = complete ? 'complete' : 'half-restored';
        if (!complete) problems.push(`the killed restore left the target half-restored with no mark: ${after.names.join(', ')}`);
      }
      setPhase('the next restore --drop');
      const next = await cli(...restoreArgs(true));
      if (next.code !== 0) problems.push(`the next restore --drop failed (${next.code}): ${next.stderr.slice(0, 300)}`);
      else {
        const last = await snapshot(congo.client, 'copy');
        if (MARK in last) problems.push('the next restore --drop finished but left the incomplete-restore mark');
        delete last.own;
        if (JSON.stringify(last) !== source) problems.push('after the next restore --drop the target differs from the source');
      }
      return {
        variant: `restore ${ended.killed ? outcome : 'finished first'}`,
        what: `MongoDB restore${drop ? ' --drop over a database' : ' into an empty database'}, SIGKILL after ${at} ms (an untouched run takes ${restoreMs} ms)`,
        problems,
      };
    };

    return {
      stop: () => congo.stop(),
      trial: (_i: number, seed: number, operation: MongoKillOperation) => (operation === 'backup' ? backupTrial(seed) : restoreTrial(seed)),
    };
  } catch (err) {
    await congo.stop();
    throw err;
  }
}
