import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ThreadPoolJobRunner } from '../../../src/adapters/scheduler/thread-pool-job-runner.js';
import { silentLogger } from '../../helpers/fakes.js';

const workerPath = fileURLToPath(new URL('../../fixtures/job-threads/pool-worker.mjs', import.meta.url));
const runners: ThreadPoolJobRunner[] = [];
afterEach(async () => {
  for (const r of runners.splice(0)) await r.close();
});

function pool(size: number, o: { jobsPerThread?: number; cancelGraceMs?: number } = {}) {
  const r = new ThreadPoolJobRunner({ workerPath, context: { globals: {}, logLevel: 'error' }, logger: silentLogger, size, ...o });
  runners.push(r);
  return r;
}
let n = 0;
const job = (source: string) => ({ id: `j${++n}`, schedule: source, task: 'backup' as const, source, slot: new Date(0) });
/** [thread id, attempts that thread had run] from the fake worker's answer. */
const where = (backupId?: string) => backupId!.split(':').map(Number) as [number, number];

describe('ThreadPoolJobRunner (warm job threads)', () => {
  it('runs attempts one after another in the same warm thread, and replaces it after jobsPerThread', async () => {
    const r = pool(1, { jobsPerThread: 3 });
    const seen: [number, number][] = [];
    for (let i = 0; i < 4; i++) seen.push(where((await r.start(job('ok')).done).backupId));
    expect(seen.slice(0, 3).map(([, k]) => k)).toEqual([1, 2, 3]);
    expect(new Set(seen.slice(0, 3).map(([t]) => t)).size).toBe(1);
    expect(seen[3]![0]).not.toBe(seen[0]![0]);
    expect(seen[3]![1]).toBe(1);
  });

  it('a crash fails only its own attempt (E_INTERNAL); the other thread\'s attempt and the next ones are untouched', async () => {
    const r = pool(2);
    const crash = r.start(job('crash'));
    const other = r.start(job('slow'));
    expect(await crash.done).toMatchObject({ outcome: 'failure', error: { code: 'E_INTERNAL' } });
    const survivor = await other.done;
    expect(survivor.outcome).toBe('success');
    // The next attempt runs either in the survivor's thread (its count goes on) or in a fresh one (count 1).
    const [thread, count] = where((await r.start(job('ok')).done).backupId);
    expect(count).toBe(thread === where(survivor.backupId)[0] ? 2 : 1);
  });

  it('a thread whose attempt did not succeed is replaced: the next attempt starts in a fresh thread', async () => {
    const r = pool(1);
    const failed = await r.start(job('fail')).done;
    expect(failed).toMatchObject({ outcome: 'failure', error: { code: 'E_BACKUP_FAILED' } });
    const next = where((await r.start(job('ok')).done).backupId);
    expect(next[0]).not.toBe(where(failed.backupId)[0]);
    expect(next[1]).toBe(1);
  });

  it('more attempts at once than warm threads each get a thread; cancel interrupts; one ignoring cancel is terminated', async () => {
    const r = pool(1, { cancelGraceMs: 200 });
    const a = r.start(job('slow'));
    const b = r.start(job('slow'));
    const c = r.start(job('hang'));
    a.cancel();
    c.cancel();
    expect((await a.done).outcome).toBe('interrupted');
    expect((await b.done).outcome).toBe('success');
    expect(await c.done).toMatchObject({ outcome: 'interrupted', error: { code: 'E_INTERRUPTED' } });
  });

  it('close() cancels what runs and ends every thread; later attempts are refused as interrupted', async () => {
    const r = pool(2, { cancelGraceMs: 100 });
    const running = r.start(job('hang'));
    await r.close();
    expect((await running.done).outcome).toBe('interrupted');
    expect((await r.start(job('ok')).done).outcome).toBe('interrupted');
  });
});
