import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScheduleRun } from '../../src/application/ports/schedule-history.js';
import { runCli } from '../helpers/cli.js';
import { startRecorder } from '../helpers/http-recorder.js';
import { startMariaDb, type MariaDbServer } from '../helpers/mariadb-server.js';
import { startPostgres, type PostgresServer } from '../helpers/postgres-server.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { tempDir } from '../helpers/temp.js';
import { fleetRuns, fleetRunsText, fleetSetup, fleetViolations, peakAtOnce, pidOf, startCli, until, type FleetSetup, type Proc } from '../integration/fleet/fleet-harness.js';

// Issue #28's scale check (`npm run test:fleet-scale`; needs `npm run build`): 300 sources due every
// minute (290 SQLite files, 5 PostgreSQL and 5 MariaDB databases on the harness's servers, plus the
// slow `big` every 2 min and the failing `broken`), one publisher, three workers as separate
// processes, a worker killed with -9 mid-backup, Redis stopped for 30 s. The guarantees are the
// default fleet test's (fleetViolations). A loaded machine runs fewer than 300 backups a minute: the
// slots it cannot run in time are recorded as missed or folded, and those records are checked too.
// Prints its verdict (also written to test-artifacts/fleet-scale/verdict.json); fails on any violation.
const SQLITE = 290;
const SERVERS = 5;
const TARGET_LIMIT = 4;
const OUTAGE_MS = 30_000;

let redis: RedisServer;
let pg: PostgresServer;
let maria: MariaDbServer;
let dir: Awaited<ReturnType<typeof tempDir>>;
let hook: Awaited<ReturnType<typeof startRecorder>>;
let fleet: FleetSetup;
const procs: Proc[] = [];
const began = Date.now();
const log = (msg: string) => process.stderr.write(`[fleet scale ${new Date().toISOString()}] ${msg}\n`);

beforeAll(async () => {
  [redis, pg, maria] = await Promise.all([startRedis(), startPostgres(), startMariaDb()]);
  const servers: Record<string, string> = {};
  for (let i = 0; i < SERVERS; i++) {
    await pg.query(`CREATE DATABASE shop${i}`);
    await pg.query(`CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 300) g`, [], `shop${i}`);
    await maria.query(`CREATE DATABASE crm${i}`);
    await maria.query(`CREATE TABLE crm${i}.contacts (id INT PRIMARY KEY, name TEXT)`);
    await maria.query(`INSERT INTO crm${i}.contacts VALUES (1, 'Ada'), (2, 'Grace')`);
    servers[`pg${i}`] = `{ engine: postgres, url: "${pg.url(`shop${i}`)}" }`;
    servers[`maria${i}`] = `{ engine: mysql, url: "${maria.url(`crm${i}`)}" }`;
  }
  dir = await tempDir('fleet-scale-');
  hook = await startRecorder();
  fleet = await fleetSetup(dir.path, { count: SQLITE, servers, cron: '0 * * * * *', bigCron: '0 */2 * * * *', redisUrl: redis.url, lockTimeout: '20s', targetLimit: TARGET_LIMIT, hook: hook.url, bigMiB: 16 });
  log(`${fleet.sources.length} sources ready`);
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
const dump = () => fleetRunsText(redis.port, 300);

describe('fleet mode at scale (issue #28): 300 sources every minute, 3 workers, a kill -9, a 30 s Redis outage', () => {
  it('runs or records every slot once, never overlaps a source, survives the kill and the outage', async () => {
    const violations: string[] = [];
    const publisher = startCli(['schedule', 'run'], fleet.env('scheduler'));
    procs.push(publisher);
    const workers = [worker('m1'), worker('m2'), worker('m3')];

    await until('a success of a SQLite, a PostgreSQL and a MariaDB source', 5 * 60_000, async () => {
      const ok = (await fleetRuns(redis.port)).filter((r) => r.outcome === 'success').map((r) => r.source);
      return ok.some((s) => s.startsWith('db')) && ok.some((s) => s.startsWith('pg')) && ok.some((s) => s.startsWith('maria'));
    }, dump);
    log('steady state: every engine has succeeded');

    // kill -9 of the worker backing up `big`, mid-backup: another worker runs that slot again.
    let killed: ScheduleRun | undefined;
    const killedOwners: string[] = [];
    for (let attempt = 0; attempt < 3 && !killed; attempt++) {
      const running = await until('a running backup of big', 5 * 60_000, async () => (await fleetRuns(redis.port)).find((r) => r.source === 'big' && r.outcome === 'running'), dump);
      const victim = workers.find((w) => w.child.pid === pidOf(running.owner));
      expect(victim, `the owner ${running.owner} is one of our workers`).toBeDefined();
      log(`killing ${running.owner} (run ${running.id}, slot ${running.slot?.toISOString()})`);
      killedOwners.push(running.owner);
      victim!.child.kill('SIGKILL');
      await victim!.exited;
      workers.splice(workers.indexOf(victim!), 1, worker(`m${4 + attempt}`));
      const after = (await fleetRuns(redis.port)).find((r) => r.id === running.id);
      if (after?.outcome === 'running' || after?.outcome === 'interrupted') killed = running;
    }
    expect(killed, 'a backup of big was caught running').toBeDefined();
    // Its slot runs again on another worker; or, when big's next slot reaches a worker first (a long
    // backlog), that run takes the dead lock over and the killed slot keeps its 'interrupted' record;
    // or the kill came after big's backup was complete, and the takeover records the killed run as that success.
    const redone = await until('big backed up by another worker after the kill', 6 * 60_000, async () => {
      const runs = await fleetRuns(redis.port);
      const again = runs.find((r) => r.source === 'big' && r.slot!.getTime() >= killed!.slot!.getTime() && r.outcome === 'success' && !killedOwners.includes(r.owner));
      const outcome = runs.find((r) => r.id === killed!.id)?.outcome;
      if (again && outcome === 'interrupted') return again;
      return outcome === 'success' ? runs.find((r) => r.id === killed!.id) : undefined;
    }, dump);
    const takeover =
      redone.id === killed!.id ? "the killed run's backup was complete: recorded as success" : redone.slot!.getTime() === killed!.slot!.getTime() ? 'the killed slot ran again' : 'the next slot took the dead lock over';
    log(`${takeover} (run ${redone.id} by ${redone.owner}); stopping Redis for 30 s`);

    await redis.stop();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    await redis.start();
    const back = Date.now();
    log('Redis is back');
    // The fleet works again: backups of slots after the outage, on every engine.
    await until('successes of slots after the outage on every engine', 6 * 60_000, async () => {
      const ok = (await fleetRuns(redis.port)).filter((r) => r.outcome === 'success' && r.slot!.getTime() > back).map((r) => r.source);
      return ok.length >= 30 && ok.some((s) => s.startsWith('db')) && ok.some((s) => s.startsWith('pg')) && ok.some((s) => s.startsWith('maria'));
    }, dump);
    log('backups run after the outage; stopping the fleet');

    const status = await runCli(['fleet', 'status', '--json'], { env: fleet.env('ops') });
    const alive = status.code === 0 || status.code === 1 ? (JSON.parse(status.stdout) as { workers: { alive: boolean }[] }).workers.filter((w) => w.alive).length : -1;
    if (alive !== 3) violations.push(`fleet status shows ${alive} workers alive, not 3 (exit ${status.code})`);

    const codes = await Promise.all([publisher, ...workers].map((p) => p.stop('SIGTERM')));
    if (codes.some((c) => c !== 0)) violations.push(`exit codes on SIGTERM: ${codes.join(', ')}`);
    const runs = await fleetRuns(redis.port);
    violations.push(...fleetViolations(runs, { sources: fleet.sources, periodMs: (s) => (s === 'big' ? 120_000 : 60_000), killedOwners }));

    const failures = runs.filter((r) => r.source === 'broken' && r.outcome === 'failure').length;
    if (hook.requests.length !== failures) violations.push(`${hook.requests.length} alerts for ${failures} failures of broken`);

    const listed = JSON.parse((await runCli(['list', '--from', fleet.repo, '--json', '--no-slots'], { env: fleet.env('ops') })).stdout) as { backups: { id: string }[] };
    const ids = listed.backups.map((b) => b.id);
    const succeeded = new Set(runs.filter((r) => r.outcome === 'success').map((r) => r.backupId));
    const extra = ids.filter((id) => !succeeded.has(id));
    if (extra.length > 0 || ids.length !== succeeded.size) violations.push(`the repository lists ${ids.length} backups for ${succeeded.size} successful runs (${extra.length} unknown: ${extra.slice(0, 5).join(', ')})`);
    const peak = await peakAtOnce(fleet.repo, ids);
    if (peak > TARGET_LIMIT) violations.push(`${peak} backups at once into a target limited to ${TARGET_LIMIT}`);

    const by = (o: string) => runs.filter((r) => r.outcome === o).length;
    const verdict = {
      verdict: violations.length === 0 ? 'PASS' : 'FAIL',
      minutes: Number(((Date.now() - began) / 60_000).toFixed(1)),
      sources: fleet.sources.length,
      slotsRecorded: new Set(runs.map((r) => `${r.source}@${r.slot?.getTime()}`)).size,
      records: runs.length,
      success: by('success'),
      failure: by('failure'),
      interrupted: by('interrupted'),
      skipped: by('skipped'),
      missed: by('missed'),
      alerts: hook.requests.length,
      peakPerTarget: peak,
      killed: `${killed!.owner} mid-backup of big; ${takeover}`,
      violations,
    };
    await mkdir('test-artifacts/fleet-scale', { recursive: true });
    await writeFile(join('test-artifacts/fleet-scale', 'verdict.json'), `${JSON.stringify(verdict, null, 2)}\n`);
    process.stdout.write(`\nFLEET SCALE VERDICT: ${verdict.verdict}\n${JSON.stringify({ ...verdict, violations: violations.slice(0, 50) }, null, 2)}\n`);
    expect(violations).toEqual([]);
  });
});
