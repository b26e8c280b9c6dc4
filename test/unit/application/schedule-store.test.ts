import { describe } from 'vitest';
import { MemoryScheduleStore } from './schedule-memory-store.js';
import { scheduleStoreContract } from './schedule-store-contract.js';

describe('MemoryScheduleStore (the fake the use-case tests use) keeps the ScheduleStore contract', () => {
  scheduleStoreContract(async () => new MemoryScheduleStore());
});
