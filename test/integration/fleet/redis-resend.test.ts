import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisClient, type RedisCommands } from '../../../src/adapters/queue/redis-commands.js';
import { RedisNotificationThrottle } from '../../../src/adapters/queue/redis-notification-throttle.js';
import { RedisScheduleStore } from '../../../src/adapters/queue/redis-schedule-store.js';
import { RedisTargetPermits } from '../../../src/adapters/queue/redis-target-permits.js';
import { silentLogger } from '../../helpers/fakes.js';
import { startRedis, type RedisServer } from '../../helpers/redis-server.js';

/**
 * ioredis sends a command again when Redis went away before its reply came, and the stores retry
 * through an outage: a write may reach the server twice. Here every command is sent twice (the first
 * reply dropped), which is exactly what the server sees then; each write must count once.
 */
function resending(inner: RedisCommands, sent: string[]): RedisCommands {
  return {
    async sendCommand(command, args) {
      sent.push(command);
      await inner.sendCommand(command, args);
      return inner.sendCommand(command, args);
    },
    quit: () => inner.quit(),
    on: (event, listener) => inner.on(event, listener),
  };
}

let redis: RedisServer;
const clients: RedisCommands[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const c of clients) await c.quit().catch(() => undefined);
  await redis?.remove();
});

function stores() {
  const prefix = `r${randomBytes(4).toString('hex')}`;
  const where = `127.0.0.1:${redis.port}`;
  const plain = redisClient({ host: '127.0.0.1', port: redis.port }, silentLogger);
  const inner = redisClient({ host: '127.0.0.1', port: redis.port }, silentLogger);
  clients.push(plain, inner);
  const sent: string[] = [];
  const twice = resending(inner, sent);
  return {
    prefix,
    plain,
    sent,
    twice,
    store: new RedisScheduleStore(plain, { prefix, where, restartGrace: false }),
    resent: new RedisScheduleStore(twice, { prefix, where, restartGrace: false }),
  };
}

const t = (s: number) => new Date(1_800_000_000_000 + s * 1000);
const run = (schedule: string, slot: Date, outcome: 'running' | 'skipped' | 'missed', owner = 'w1') => ({
  schedule,
  task: 'backup',
  source: 'app',
  slot,
  trigger: 'schedule',
  owner,
  startedAt: slot,
  outcome,
  attempts: 0,
  ...(outcome === 'running' ? {} : { finishedAt: slot, note: outcome }),
});

describe('fleet writes sent twice (a resend after a lost reply) are applied once', () => {
  it('definitions: a resent add is not refused as a duplicate, a resent remove still says removed', async () => {
    const { store, resent, sent } = stores();
    await resent.addDefinition({ name: 'a', cron: '* * * * *', task: 'backup', source: 'app', origin: 'cli', timezone: 'UTC' }, t(0));
    expect((await store.definitions()).map((d) => d.name)).toEqual(['a']);
    expect(await resent.removeDefinition('a')).toBe(true);
    expect(await store.definitions()).toEqual([]);
    expect(sent.filter((c) => c === 'EVAL').length).toBe(2);
  });

  it('claims: a resent claim, busy answer and reclaim give the first answer again', async () => {
    const { store, resent } = stores();
    await store.ensureState('s', t(0));
    expect(await resent.claim({ name: 's', slot: t(60), owner: 'w1', now: t(60), staleBefore: t(0) })).toEqual({ kind: 'claimed' });
    // Busy: the slot is now handled; a resend must still say busy (so its skip is recorded), not taken.
    expect(await resent.claim({ name: 's', slot: t(120), owner: 'w2', now: t(120), staleBefore: t(30) })).toMatchObject({ kind: 'busy', holder: { owner: 'w1' } });
    // The holder went silent: another worker takes the slot over; the resend still says it did.
    expect(await resent.reclaim({ name: 's', slot: t(60), owner: 'w3', now: t(200), staleBefore: t(100) })).toEqual({ kind: 'claimed', tookOverFrom: 'w1' });
    expect((await store.locks()).map((l) => l.owner)).toEqual(['w3']);
  });

  it('markHandled: a resend still answers that it moved the slot (so the missed slots get their records)', async () => {
    const { store, resent } = stores();
    await store.ensureState('s', t(0));
    expect(await resent.markHandled('s', t(60))).toBe(true);
    expect(await store.markHandled('s', t(60))).toBe(false);
  });

  it('startRun, finishRun, recordRun (skip and missed) and abandonRuns: one record each, counted once', async () => {
    const { store, resent } = stores();
    await store.ensureState('s', t(0));
    const first = await resent.startRun(run('s', t(60), 'running'));
    await resent.finishRun(first, { finishedAt: t(70), outcome: 'failure', attempts: 1, errorCode: 'E_BACKUP_FAILED', errorMessage: 'x', durationMs: 10_000 });
    await resent.recordRun(run('s', t(120), 'skipped'));
    await resent.recordRun(run('s', t(180), 'missed'));
    const second = await resent.startRun(run('s', t(240), 'running', 'dead'));
    expect((await resent.abandonRuns('dead', t(300))).map((r) => r.id)).toEqual([second]);

    const history = await store.history({ limit: 100 });
    expect(history.map((r) => [r.slot?.getTime(), r.outcome])).toEqual([
      [t(240).getTime(), 'interrupted'],
      [t(180).getTime(), 'missed'],
      [t(120).getTime(), 'skipped'],
      [t(60).getTime(), 'failure'],
    ]);
    expect(history.map((r) => r.id)).toEqual([second, history[1]!.id, history[2]!.id, first]);
    expect(await store.outcomeCounts()).toEqual([
      { schedule: 's', outcome: 'failure', count: 1 },
      { schedule: 's', outcome: 'interrupted', count: 1 },
      { schedule: 's', outcome: 'missed', count: 1 },
      { schedule: 's', outcome: 'skipped', count: 1 },
    ]);
    expect((await store.states())[0]).toMatchObject({ name: 's', consecutiveFailures: 1, lastOutcome: 'failure' });
  });

  it('a run finishes once; one marked interrupted meanwhile takes its real outcome, counted instead', async () => {
    const { store } = stores();
    await store.ensureState('s', t(0));
    const id = await store.startRun(run('s', t(60), 'running', 'slow'));
    expect(await store.abandonRuns('slow', t(100), 's')).toHaveLength(1);
    await store.finishRun(id, { finishedAt: t(110), outcome: 'success', attempts: 1, durationMs: 50_000 });
    await store.finishRun(id, { finishedAt: t(120), outcome: 'failure', attempts: 2, durationMs: 60_000 });
    const [only] = await store.history({ limit: 10 });
    expect(only).toMatchObject({ id, outcome: 'success', finishedAt: t(110), attempts: 1 });
    expect(only!.errorCode).toBeUndefined();
    expect((await store.outcomeCounts()).filter((c) => c.count !== 0)).toEqual([{ schedule: 's', outcome: 'success', count: 1 }]);
    expect((await store.states())[0]).toMatchObject({ consecutiveFailures: 0, lastSuccessAt: t(110) });
  });

  it('the request ids a resend is matched by expire', async () => {
    const { prefix, plain, resent } = stores();
    await resent.ensureState('s', t(0));
    await resent.markHandled('s', t(60));
    const keys = (await plain.sendCommand('KEYS', [`{${prefix}}:sched:req:*`])) as string[];
    expect(keys.length).toBe(1);
    const ttl = Number(await plain.sendCommand('TTL', [keys[0]!]));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(660);
  });

  it('the alert throttle: a resent claim still wins (the alert is sent once, not never); another claim loses', async () => {
    const { prefix, plain, twice } = stores();
    const where = `127.0.0.1:${redis.port}`;
    const resentThrottle = new RedisNotificationThrottle(twice, { prefix, where });
    const throttle = new RedisNotificationThrottle(plain, { prefix, where });
    expect(await resentThrottle.claim('s:failure', 60_000, t(0))).toBe(true);
    expect(await throttle.claim('s:failure', 60_000, t(0))).toBe(false);
  });

  it('target permits: a resent acquire holds one permit, not two', async () => {
    const { prefix, plain, twice } = stores();
    const where = `127.0.0.1:${redis.port}`;
    const resentPermits = new RedisTargetPermits(twice, { prefix, where });
    const permits = new RedisTargetPermits(plain, { prefix, where });
    expect(await resentPermits.tryAcquire([{ key: 'bucket', limit: 2 }], 'h1', 60_000)).toBe(true);
    expect(await permits.tryAcquire([{ key: 'bucket', limit: 2 }], 'h2', 60_000)).toBe(true);
    expect(await permits.tryAcquire([{ key: 'bucket', limit: 2 }], 'h3', 60_000)).toBe(false);
    await resentPermits.release(['bucket'], 'h1');
    expect(await permits.tryAcquire([{ key: 'bucket', limit: 2 }], 'h3', 60_000)).toBe(true);
  });
});

describe('target permits across a Redis restart', () => {
  it('no permit counts as expired until Redis has been up for the TTL (its holder could not renew while Redis was away)', async () => {
    const { prefix, plain } = stores();
    const permits = new RedisTargetPermits(plain, { prefix, where: `127.0.0.1:${redis.port}` });
    // h1's permit has expired by its score (as if its renewals were lost to an outage).
    expect(await permits.tryAcquire([{ key: 'bucket', limit: 1 }], 'h1', 1)).toBe(true);
    const uptime = async () => Number(/uptime_in_seconds:(\d+)/.exec(String(await plain.sendCommand('INFO', ['server'])))![1]);
    // This server has been up for less than a 10-minute TTL: h1 still holds the only permit.
    expect(await uptime()).toBeLessThan(600);
    expect(await permits.tryAcquire([{ key: 'bucket', limit: 1 }], 'h2', 600_000)).toBe(false);
    // Up for longer than a 1 s TTL: the expired permit is dropped.
    for (let i = 0; (await uptime()) < 3 && i < 100; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await permits.tryAcquire([{ key: 'bucket', limit: 1 }], 'h2', 1000)).toBe(true);
  });
});
