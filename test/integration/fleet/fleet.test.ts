import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScheduleRun } from '../../../src/application/ports/schedule-history.js';
import { runCli } from '../../helpers/cli.js';
import { startRecorder } from '../../helpers/http-recorder.js';
import { startMariaDb, type MariaDbServer } from '../../helpers/mariadb-server.js';
import { startPostgres, type PostgresServer } from '../../helpers/postgres-server.js';
import { startRedis, type RedisServer } from '../../helpers/redis-server.js';
import { tempDir } from '../../helpers/temp.js';
import { fleetRuns, fleetRunsText, fleetSetup, fleetViolations, peakAtOnce, pidOf, startCli, until, type FleetSetup, type Proc } from './fleet-harness.js';

// Fleet mode end to end (issue #28): the built CLI as separate processes — one publisher
// (`schedule run` with a queue), three workers, a throwaway redis-server — on a cron every 3 s,
// over SQLite files and databases on the harness's PostgreSQL and MariaDB.
// Needs `npm run build`. Every wait is on a condition, never on a timing race.
const PERIOD_MS = 3000;
const CRON = '*/3 * * * * *';

let redis: RedisServer;
let pg: PostgresServer;
let maria: MariaDbServer;
let dir: Awaited<ReturnType<typeof tempDir>>;
let hook: Awaited<ReturnType<typeof startRecorder>>;
let fleet: FleetSetup;
const procs: Proc[] = [];

beforeAll(async () => {
  [redis, pg, maria] = await Promise.all([startRedis(), startPostgres(), startMariaDb()]);
  await pg.query('CREATE DATABASE shop');
  await pg.query("CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 500) g", [], 'shop');
  await maria.query('CREATE DATABASE crm');
  await maria.query("CREATE TABLE crm.contacts (id INT PRIMARY KEY, name TEXT)");
  await maria.query("INSERT INTO crm.contacts VALUES (1, 'Ada'), (2, 'Grace')");
  dir = await tempDir('fleet-');
  hook = await startRecorder();
  fleet = await fleetSetup(dir.path, { count: 4, servers: { pg: `{ engine: postgres, url: "${pg.url('shop')}" }`, maria: `{ engine: mysql, url: "${maria.url('crm')}" }` }, cron: CRON, bigCron: '*/30 * * * * *', redisUrl: redis.url, lockTimeout: '6s', targetLimit: 2, hook: hook.url, bigMiB: 16 });
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop('SIGKILL')));
  await hook?.close();
  await Promise.all([redis?.remove(), pg?.stop(), maria?.stop()]);
  await dir?.cleanup();
});

const worker = (name: string) => {
  const p = startCli(['worker', '--concurrency', '2', '--retries', '0'], fleet.env(name));
  procs.push(p);
  return p;
};
const terminal = (r: ScheduleRun) => r.outcome !== 'running' && r.outcome !== 'interrupted';
const log = (msg: string) => process.stderr.write(`[fleet test ${new Date().toISOString()}] ${msg}\n`);
const dump = () => fleetRunsText(redis.port);

describe('fleet mode: a publisher, three workers and Redis', () => {
  it('runs every slot once, never overlaps a source, survives a killed worker and a Redis restart', async () => {
    const publisher = startCli(['schedule', 'run'], fleet.env('scheduler'));
    procs.push(publisher);
    const workers = [worker('m1'), worker('m2'), worker('m3')];

    // Steady state: every small source (SQLite, PostgreSQL, MariaDB) has succeeded.
    await until('a success of every small source', 90_000, async () => {
      const runs = await fleetRuns(redis.port);
      return fleet.sources.filter((s) => s !== 'big' && s !== 'broken').every((s) => runs.some((r) => r.source === s && r.outcome === 'success'));
    }, dump);
    log('steady state reached');

    // kill -9 of the worker backing up `big`, mid-backup: another worker runs that slot again.
    let killed: ScheduleRun | undefined;
    const killedOwners: string[] = [];
    for (let attempt = 0; attempt < 4 && !killed; attempt++) {
      const running = await until('a running backup of big', 60_000, async () => (await fleetRuns(redis.port)).find((r) => r.source === 'big' && r.outcome === 'running'), dump);
      log(`killing ${running.owner} (run ${running.id}, slot ${running.slot?.toISOString()})`);
      const victim = workers.find((w) => w.child.pid === pidOf(running.owner));
      expect(victim, `the owner ${running.owner} is one of our workers`).toBeDefined();
      killedOwners.push(running.owner);
      victim!.child.kill('SIGKILL');
      await victim!.exited;
      workers.splice(workers.indexOf(victim!), 1, worker(`m${4 + attempt}`));
      // It had finished just before the kill? Then try the next slot.
      const after = (await fleetRuns(redis.port)).find((r) => r.id === running.id);
      if (after?.outcome === 'running' || after?.outcome === 'interrupted') killed = running;
    }
    expect(killed, 'a backup of big was caught running').toBeDefined();
    // (Or, when the kill came after big's backup was complete, the killed run is recorded as that success and its slot is done.)
    await until('the killed slot run again by another worker', 90_000, async () => {
      const runs = await fleetRuns(redis.port);
      const again = runs.find((r) => r.source === 'big' && r.slot?.getTime() === killed!.slot!.getTime() && r.outcome === 'success' && r.owner !== killed!.owner);
      const outcome = runs.find((r) => r.id === killed!.id)?.outcome;
      return (again && outcome === 'interrupted') || outcome === 'success';
    }, dump);
    log('the killed slot ran again (or its backup was complete); stopping Redis');

    // Redis stops for a while (less than the lock timeout) and comes back with its data.
    await redis.stop();
    await new Promise((r) => setTimeout(r, 4000));
    await redis.start();
    const back = Date.now();
    // (Not `big`: its next slot may be 30 s away; its slots are checked below like every other's.)
    await until('every 3 s schedule handled a slot after Redis came back', 90_000, async () => {
      const runs = await fleetRuns(redis.port);
      return fleet.sources.filter((s) => s !== 'big').every((s) => runs.some((r) => r.source === s && terminal(r) && r.slot!.getTime() > back + PERIOD_MS));
    }, dump);
    log('every schedule ran after Redis came back; stopping the fleet');

    const status = await runCli(['fleet', 'status', '--json'], { env: fleet.env('ops') });
    expect(status.code, status.stdout + status.stderr).toBe(0);
    const view = JSON.parse(status.stdout) as { workers: { alive: boolean }[]; sources: { source: string; lastSuccessAt?: string }[]; queue: { failed: number } };
    expect(view.workers.filter((w) => w.alive).length).toBe(3);
    expect(view.sources.find((s) => s.source === 'db0')?.lastSuccessAt).toBeDefined();

    // A clean stop: exit 0, nothing left running.
    expect(await Promise.all([publisher, ...workers].map((p) => p.stop('SIGTERM')))).toEqual([0, 0, 0, 0]);
    const runs = await fleetRuns(redis.port);
    expect(runs.filter((r) => r.outcome === 'running')).toEqual([]);

    // Every slot exactly once, none lost, no overlap, nothing interrupted but the killed worker's runs.
    expect(fleetViolations(runs, { sources: fleet.sources, periodMs: (s) => (s === 'big' ? 30_000 : PERIOD_MS), killedOwners }), await dump()).toEqual([]);

    // Alerts once per failure, not once per worker: `broken` fails every run it starts.
    const failures = runs.filter((r) => r.source === 'broken' && r.outcome === 'failure').length;
    expect(failures).toBeGreaterThan(0);
    expect(hook.requests.length).toBe(failures);

    // No half backup is listed: the repository lists exactly the successful runs' backups.
    const listed = JSON.parse((await runCli(['list', '--from', fleet.repo, '--json', '--no-slots'], { env: fleet.env('ops') })).stdout) as { backups: { id: string }[] };
    const succeeded = runs.filter((r) => r.outcome === 'success').map((r) => r.backupId);
    expect(listed.backups.map((b) => b.id).sort()).toEqual([...succeeded].sort());
    // `list` without --from on a machine that ran nothing: the fleet's backups (read from the config's targets).
    const fleetView = JSON.parse((await runCli(['list', '--json', '--no-slots'], { env: fleet.env('ops') })).stdout) as { backups: { id: string }[] };
    expect(fleetView.backups.map((b) => b.id).sort()).toEqual([...succeeded].sort());

    // Per-target limit (2 at once into `local`): no instant had more than 2 backups in progress.
    const peak = await peakAtOnce(fleet.repo, listed.backups.map((b) => b.id));
    expect(peak).toBeLessThanOrEqual(2);

    // The fleet's history reads the same from any machine.
    const history = await runCli(['list', '--runs', '--json', '--limit', '5'], { env: fleet.env('ops') });
    expect((JSON.parse(history.stdout) as { runs: unknown[] }).runs).toHaveLength(5);
  }, 420_000);
});
