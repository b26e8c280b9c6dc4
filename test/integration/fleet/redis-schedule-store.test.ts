import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe } from 'vitest';
import { redisClient } from '../../../src/adapters/queue/redis-commands.js';
import { RedisScheduleStore } from '../../../src/adapters/queue/redis-schedule-store.js';
import { silentLogger } from '../../helpers/fakes.js';
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
