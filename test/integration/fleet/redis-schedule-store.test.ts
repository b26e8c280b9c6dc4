import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisClient } from '../../../src/adapters/queue/redis-commands.js';
import { RedisScheduleStore } from '../../../src/adapters/queue/redis-schedule-store.js';
import type { ScheduleJobRunner } from '../../../src/application/ports/schedule-job-runner.js';
import { RepositoryCompletedBackups } from '../../../src/application/services/repository-completed-backups.js';
import { RunQueuedSlot } from '../../../src/application/use-cases/run-queued-slot.js';
import { appServices, buildContainer } from '../../../src/bootstrap/container.js';
import { Tokens } from '../../../src/bootstrap/tokens.js';
import { newBackupId } from '../../../src/domain/backup-id.js';
import { silentLogger } from '../../helpers/fakes.js';
import { Database } from '../../helpers/sqlite-fixtures.js';
import { tempDir } from '../../helpers/temp.js';
import { fleetViolations, startCli, until, type Proc } from './fleet-harness.js';
import { freePort } from '../../helpers/free-port.js';
import { startRedis, type RedisServer } from '../../helpers/redis-server.js';
import { scheduleStoreContract } from '../../unit/application/schedule-store-contract.js';

let redis: RedisServer;
const stores: RedisScheduleStore[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const s of stores) await s.close();
  await redis?.remove();
});

describe('RedisScheduleStore (the fleet\'s shared store) keeps the ScheduleStore contract', () => {
  scheduleStoreContract(async () => {
    const store = new RedisScheduleStore(redisClient({ host: '127.0.0.1', port: redis.port }, silentLogger), {
      prefix: `t${randomBytes(4).toString('hex')}`,
      where: `127.0.0.1:${redis.port}`,
      restartGrace: false, // the contract's clock is fake; the fleet test covers the grace
    });
    stores.push(store);
    return store;
  });
});

describe('RedisScheduleStore claims', () => {
  it('answers a resent claim (its first reply lost) as claimed for the same owner and slot, and as taken for anyone else', async () => {
    const store = new RedisScheduleStore(redisClient({ host: '127.0.0.1', port: redis.port }, silentLogger), { prefix: `c${randomBytes(4).toString('hex')}`, where: `127.0.0.1:${redis.port}`, restartGrace: false });
    stores.push(store);
    const now = new Date(10_000);
    await store.ensureState('s', new Date(0));
    const request = { name: 's', slot: new Date(5_000), owner: 'w1', now, staleBefore: new Date(0) };
    expect(await store.claim(request)).toEqual({ kind: 'claimed' });
    expect(await store.claim(request)).toEqual({ kind: 'claimed' });
    expect(await store.claim({ ...request, owner: 'w2' })).toEqual({ kind: 'taken' });
    await store.release('s', 'w1');
    expect(await store.claim(request)).toEqual({ kind: 'taken' });
  });
});

describe('RedisScheduleStore before Redis is up', () => {
  it('waits for a Redis that starts after it (a worker started first), then works', async () => {
    const port = await freePort();
    const store = new RedisScheduleStore(redisClient({ host: '127.0.0.1', port, connectTimeoutMs: 500 }, silentLogger), { prefix: 'late', where: `127.0.0.1:${port}`, outageMs: 60_000 });
    stores.push(store);
    const pending = store.ensureState('x', new Date(5000));
    const settled = await Promise.race([pending.then(() => 'settled'), new Promise((r) => setTimeout(() => r('waiting'), 1500))]);
    expect(settled).toBe('waiting');
    const dir = await mkdtemp(join(tmpdir(), 'redis-late-'));
    const child = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''], { stdio: 'ignore' });
    try {
      expect((await pending).lastSlot).toEqual(new Date(5000));
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

// A worker killed with -9 after its backup's manifest was written but before it recorded the run:
// the backup is complete (listed), and no run may be left without it. When the dead worker's runs
// are settled (a takeover of its lock, or forgetting it), a run whose backup is complete in its
// repository is recorded as success with that backup; one with none stays interrupted. No timing:
// the dead worker is a record with an old heartbeat, its backup is taken here beforehand.
describe("a dead worker's runs whose backup is complete", () => {
  const dead = 'worker:gone:999999:dead00';
  const sqliteSource = (dir: string, name: string) => {
    const db = new Database(join(dir, `${name}.db`));
    db.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b'), ('c');`);
    db.close();
    return { engine: 'sqlite', database: join(dir, `${name}.db`) };
  };
  const backupInput = (dir: string, repo: string, name: string) => ({ target: { engine: 'sqlite', database: join(dir, `${name}.db`) }, repository: repo, source: name, kind: 'full' as const, compression: { codec: 'zstd' }, parallel: 1 });
  // An hour ago, on a minute: the runs began then, their backups (taken now) after.
  const S = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000);
  const running = (schedule: string, source: string) => ({ schedule, task: 'backup', source, slot: S, trigger: 'schedule', owner: dead, startedAt: new Date(S.getTime() + 100), outcome: 'running' as const, attempts: 0 });

  it('a takeover of the slot records the run as success with its backup and does not run the slot again; a run with no backup is interrupted and runs again', async () => {
    const dir = await tempDir('adopt-');
    const container = buildContainer({ dataDir: join(dir.path, 'data'), logLevel: 'error', json: false, progress: false, toolVersion: 'test' });
    const app = appServices(container);
    const store = new RedisScheduleStore(redisClient({ host: '127.0.0.1', port: redis.port }, silentLogger), { prefix: `a${randomBytes(4).toString('hex')}`, where: `127.0.0.1:${redis.port}`, restartGrace: false });
    stores.push(store);
    try {
      const repo = join(dir.path, 'repo');
      sqliteSource(dir.path, 'db0');
      sqliteSource(dir.path, 'db1');
      const defs = ['db0', 'db1'].map((s) => ({ name: `${s}-job`, cron: '0 * * * * *', task: 'backup' as const, source: s, timezone: 'UTC', origin: 'config' as const }));
      for (const d of defs) {
        await store.ensureState(d.name, new Date(S.getTime() - 1));
        expect(await store.claim({ name: d.name, slot: S, owner: dead, now: S, staleBefore: new Date(0) })).toEqual({ kind: 'claimed' });
      }
      const r0 = await store.startRun(running('db0-job', 'db0'));
      const r1 = await store.startRun(running('db1-job', 'db1'));
      // db0: the dead worker's backup, complete (it names its run, as a scheduled backup's manifest does).
      const taken = await app.runBackup.execute({ ...backupInput(dir.path, repo, 'db0'), scheduledRun: { id: r0, schedule: 'db0-job', slot: S.toISOString() } }, new AbortController().signal);
      // db1: a backup taken by hand after its run began (not the run's), and a half-written one (parts, no manifest).
      const byHand = await app.runBackup.execute(backupInput(dir.path, repo, 'db1'), new AbortController().signal);
      const half = join(repo, 'db1', newBackupId(new Date(), 'full'), 'data');
      await mkdir(half, { recursive: true });
      await writeFile(join(half, 'main.0.sqlite.zst'), 'half');

      const started: string[] = [];
      const runner: ScheduleJobRunner = {
        start: (job) => {
          started.push(`${job.schedule}@${job.slot.toISOString()}`);
          return { done: Promise.resolve({ outcome: 'success', backupId: `again-${job.schedule}` }), cancel: () => undefined };
        },
        close: async () => undefined,
      };
      const logged: string[] = [];
      const logger = { ...silentLogger, warn: (msg: string) => void logged.push(msg), child: () => logger };
      const config = { lateToleranceMs: 60_000, graceMs: 3_600_000, lockStaleMs: 1000, retries: 0, retryDelayMs: 0 };
      const worker = new RunQueuedSlot(
        {
          store,
          clock: { now: () => new Date(S.getTime() + 5000) },
          runner,
          logger,
          notifiers: [],
          configured: () => defs,
          defaultZone: 'UTC',
          backups: new RepositoryCompletedBackups({ opener: container.get(Tokens.RepositoryOpener), repositoriesOf: (s) => [repo].filter(() => s === 'db0' || s === 'db1'), logger }),
        },
        { owner: 'worker:here:1:live00', host: 'here', ...config },
        new AbortController().signal,
      );
      // The queue delivers both slots again (their worker stopped answering): each lock is taken over.
      expect(await worker.execute({ schedule: 'db0-job', slot: S, id: '1' })).toEqual({ kind: 'done' });
      expect(await worker.execute({ schedule: 'db1-job', slot: S, id: '2' })).toEqual({ kind: 'done' });

      const runs = (await store.history({ limit: 100 })).reverse();
      expect(runs.find((r) => r.id === r0)).toMatchObject({ outcome: 'success', backupId: taken.manifest.id, owner: dead });
      expect(runs.find((r) => r.id === r0)!.errorCode).toBeUndefined();
      expect(runs.find((r) => r.id === r1)).toMatchObject({ outcome: 'interrupted', errorCode: 'E_INTERRUPTED' });
      expect(started).toEqual([`db1-job@${S.toISOString()}`]);
      expect(logged).toContain("a killed worker's backup was complete: recorded as success");
      expect(await store.locks()).toEqual([]);
      expect(fleetViolations(runs, { sources: ['db0', 'db1'], periodMs: () => 60_000, killedOwners: [dead] })).toEqual([]);
      // The repository lists the adopted backup, the one taken by hand, and not the half-written one.
      const listed = (await app.listBackups.execute({ repository: repo }, new AbortController().signal)).backups.map((b) => b.id).sort();
      expect(listed).toEqual([taken.manifest.id, byHand.manifest.id].sort());
    } finally {
      app.close();
      await dir.cleanup();
    }
  });

  it('a worker that forgets the dead one (the built CLI) records its complete backup as success, the other run interrupted', async () => {
    const dir = await tempDir('adopt-cli-');
    const prefix = `f${randomBytes(4).toString('hex')}`;
    const app = appServices(buildContainer({ dataDir: join(dir.path, 'data'), logLevel: 'error', json: false, progress: false, toolVersion: 'test' }));
    const store = new RedisScheduleStore(redisClient({ host: '127.0.0.1', port: redis.port }, silentLogger), { prefix, where: `127.0.0.1:${redis.port}`, restartGrace: false });
    stores.push(store);
    let worker: Proc | undefined;
    try {
      const repo = join(dir.path, 'repo');
      const sources = ['db2', 'db3'];
      const src = Object.fromEntries(sources.map((s) => [s, sqliteSource(dir.path, s)]));
      await writeFile(
        join(dir.path, 'dbbackup.yaml'),
        `sources:\n${sources.map((s) => `  ${s}: { engine: sqlite, database: ${src[s]!.database} }`).join('\n')}\ntargets:\n  local: { url: ${repo} }\nbackups:\n${sources.map((s) => `  ${s}: { targets: [local] }`).join('\n')}\nqueue:\n  url: ${redis.url}\n  prefix: ${prefix}\n  lock-timeout: 2s\n`,
      );
      // Silent for an hour: the worker's first heartbeat forgets it (past ten lock timeouts).
      await store.registerDaemon({ owner: dead, host: 'gone', pid: 999999, startedAt: S, heartbeatAt: S, role: 'worker' });
      for (const s of sources) {
        await store.ensureState(`${s}-job`, new Date(S.getTime() - 1));
        await store.claim({ name: `${s}-job`, slot: S, owner: dead, now: S, staleBefore: new Date(0) });
      }
      const r2 = await store.startRun(running('db2-job', 'db2'));
      const r3 = await store.startRun(running('db3-job', 'db3'));
      const taken = await app.runBackup.execute({ ...backupInput(dir.path, repo, 'db2'), scheduledRun: { id: r2, schedule: 'db2-job', slot: S.toISOString() } }, new AbortController().signal);

      worker = startCli(['worker', '--concurrency', '1'], {
        DBBACKUP_CONFIG: join(dir.path, 'dbbackup.yaml'),
        DBBACKUP_DATA_DIR: join(dir.path, 'worker'),
        XDG_STATE_HOME: join(dir.path, 'state'),
        XDG_CONFIG_HOME: join(dir.path, 'config'),
        DBBACKUP_LOG_FILE: 'off',
      });
      const w = worker;
      await until('the dead worker forgotten', 60_000, async () => !(await store.daemons()).some((d) => d.owner === dead), async () => w.out());
      expect(await w.stop('SIGTERM'), w.out()).toBe(0);

      const runs = (await store.history({ limit: 100 })).reverse();
      expect(runs.find((r) => r.id === r2)).toMatchObject({ outcome: 'success', backupId: taken.manifest.id });
      expect(runs.find((r) => r.id === r3)).toMatchObject({ outcome: 'interrupted' });
      expect(w.out()).toContain("a killed worker's backup was complete: recorded as success");
      // The adopted run's lock is released (a late redelivery of its slot finds it done); the interrupted one's stays for one.
      expect((await store.locks()).map((l) => `${l.name}:${l.owner}`)).toEqual([`db3-job:${dead}`]);
      expect(fleetViolations(runs, { sources, periodMs: () => 60_000, killedOwners: [dead] })).toEqual([]);
    } finally {
      await worker?.stop('SIGKILL');
      app.close();
      await dir.cleanup();
    }
  }, 90_000);
});
