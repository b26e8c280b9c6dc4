import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrizzleScheduleStore } from '../../../src/adapters/catalog/drizzle-schedule-store.js';
import { DrizzleBackupCatalog } from '../../../src/adapters/catalog/drizzle-backup-catalog.js';
import { tempDir } from '../../helpers/temp.js';
import { scheduleStoreContract } from '../../unit/application/schedule-store-contract.js';

/**
 * Another connection, in a thread of its own (as another daemon or a backup worker is a process of
 * its own), takes the catalog's write lock and holds it. After `releaseSoon()` it commits 300 ms
 * later by its own clock: the caller's thread may then be blocked in SQLite's busy wait.
 */
async function holdWriteLock(file: string): Promise<{ releaseSoon(): void; committed: Promise<unknown> }> {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const flag = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const db = new (require(workerData.driver))(workerData.file);
     db.exec('BEGIN IMMEDIATE');
     parentPort.postMessage('locked');
     Atomics.wait(workerData.flag, 0, 0);
     Atomics.wait(workerData.flag, 1, 0, 300);
     db.exec('COMMIT');
     db.close();
     parentPort.postMessage('committed');`,
    { eval: true, workerData: { driver, file, flag } },
  );
  const message = () => new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
  await message();
  const committed = message().finally(() => worker.terminate());
  return {
    releaseSoon: () => {
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
    },
    committed,
  };
}

let dir: { path: string; cleanup(): Promise<void> };
const opened: { close(): void }[] = [];
let n = 0;

beforeAll(async () => {
  dir = await tempDir('dbb-sched-store-');
});
afterAll(async () => {
  for (const s of opened) s.close();
  await dir.cleanup();
});

const open = (file: string) => {
  const s = new DrizzleScheduleStore(file);
  opened.push(s);
  return s;
};

describe('DrizzleScheduleStore keeps the ScheduleStore contract on a real catalog file', () => {
  scheduleStoreContract(async () => open(join(dir.path, `catalog-${n++}.db`)));

  it('shares the catalog file with the backup catalog, and two connections see one lock', async () => {
    const file = join(dir.path, 'shared.db');
    const a = open(file);
    const catalog = new DrizzleBackupCatalog(file);
    opened.push(catalog);
    const b = open(file);
    const now = new Date('2026-11-25T10:01:00Z');
    await a.ensureState('x', new Date('2026-11-25T10:00:00Z'));
    const claims = await Promise.all([a, b, a, b].map((s, i) => s.claim({ name: 'x', slot: now, owner: `o${i}`, now, staleBefore: new Date(0) })));
    expect(claims.filter((c) => c.kind === 'claimed')).toHaveLength(1);
    expect(await catalog.list()).toEqual([]);
  });

  it('finishRun waits for another connection\'s write to end instead of failing at once with SQLITE_BUSY', async () => {
    const file = join(dir.path, 'busy.db');
    const store = open(file);
    await store.ensureState('x', new Date('2026-11-25T10:00:00Z'));
    const startedAt = new Date('2026-11-25T10:01:00Z');
    const id = await store.startRun({ schedule: 'x', task: 'backup', source: 'app', trigger: 'schedule', owner: 'A', startedAt, outcome: 'running', attempts: 0 });
    const other = await holdWriteLock(file);
    other.releaseSoon();
    const result = { finishedAt: new Date('2026-11-25T10:01:05Z'), outcome: 'success' as const, attempts: 1, durationMs: 5_000 };
    const finished = store.finishRun(id, result).then(() => 'recorded', (err: Error) => err.message);
    await other.committed;
    expect(await finished).toBe('recorded');
    expect((await store.history({ limit: 1 }))[0]).toMatchObject({ outcome: 'success', attempts: 1 });
  });
});
