import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisClient } from '../../../src/adapters/queue/redis-commands.js';
import { RedisScheduleStore } from '../../../src/adapters/queue/redis-schedule-store.js';
import { silentLogger } from '../../helpers/fakes.js';
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
