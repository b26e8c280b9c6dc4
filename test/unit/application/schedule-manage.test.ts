import { describe, expect, it } from 'vitest';
import { ManageSchedules } from '../../../src/application/use-cases/manage-schedules.js';
import type { ScheduleDefinition } from '../../../src/domain/schedule.js';
import { MemoryScheduleStore } from './schedule-memory-store.js';

const now = new Date('2026-11-25T10:00:30Z');
const config: ScheduleDefinition[] = [{ name: 'main-nightly', cron: '0 2 * * *', task: 'backup', source: 'main', kind: 'full', timezone: 'Europe/Berlin', origin: 'config' }];

function setup(configured = config) {
  const store = new MemoryScheduleStore();
  const manage = new ManageSchedules({ store, clock: { now: () => now }, configured: () => configured, defaultZone: 'UTC', sourceNames: () => ['main', 'events'] });
  return { store, manage };
}

describe('ManageSchedules', () => {
  it('adds a schedule and lists it beside the config\'s, each with its origin and next run', async () => {
    const { manage } = setup();
    const { schedule } = await manage.add({ cron: '*/15 * * * *', task: 'verify', source: 'events' });
    expect(schedule).toMatchObject({ name: 'events-verify', origin: 'cli', timezone: 'UTC', nextRun: new Date('2026-11-25T10:15:00Z') });
    const list = await manage.list();
    expect(list.map((v) => `${v.name} ${v.origin} ${v.enabled} ${v.nextRun?.toISOString()}`)).toEqual([
      'main-nightly config true 2026-11-26T01:00:00.000Z',
      'events-verify cli true 2026-11-25T10:15:00.000Z',
    ]);
  });

  it('refuses a bad cron with the reason, an unknown source, and a name the config uses', async () => {
    const { manage } = setup();
    await expect(manage.add({ cron: '0 2 * *', task: 'backup', source: 'main' })).rejects.toThrow(/Invalid cron expression "0 2 \* \*": it has 4 fields/);
    await expect(manage.add({ cron: '@daily', task: 'backup', source: 'nope' })).rejects.toMatchObject({ code: 'E_CONFIG', message: expect.stringMatching(/No source "nope".*sources: main, events/) });
    await expect(manage.add({ name: 'main-nightly', cron: '@daily', task: 'backup', source: 'main' })).rejects.toMatchObject({ code: 'E_USAGE' });
    await manage.add({ cron: '@daily', task: 'backup', source: 'main' });
    await expect(manage.add({ cron: '@hourly', task: 'backup', source: 'main' })).rejects.toThrow(/exists already/);
  });

  it('removes CLI schedules only; enables and disables either kind', async () => {
    const { manage } = setup();
    await manage.add({ cron: '@daily', task: 'backup', source: 'main', name: 'extra' });
    await expect(manage.remove('main-nightly')).rejects.toThrow(/declared in the config file; remove it there/);
    await expect(manage.remove('ghost')).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    const off = await manage.setEnabled('main-nightly', false);
    expect(off).toMatchObject({ enabled: false, nextRun: undefined });
    expect((await manage.setEnabled('main-nightly', true)).enabled).toBe(true);
    await manage.remove('extra');
    expect((await manage.list()).map((v) => v.name)).toEqual(['main-nightly']);
  });

  it('reports an invalid config schedule as a config error naming its path', async () => {
    const { manage } = setup([{ ...config[0]!, cron: '0 2 * * * * *' }]);
    await expect(manage.list()).rejects.toMatchObject({ code: 'E_CONFIG', message: expect.stringMatching(/^schedules\.0 \("main-nightly"\): Invalid cron expression/) });
  });

  it('status: last run, last success, consecutive failures and outcome counts', async () => {
    const { manage, store } = setup();
    await store.ensureState('main-nightly', now);
    const base = { schedule: 'main-nightly', task: 'backup', source: 'main', trigger: 'schedule', owner: 'A', attempts: 1 };
    const ok = await store.startRun({ ...base, startedAt: now, outcome: 'running' });
    await store.finishRun(ok, { finishedAt: now, outcome: 'success', attempts: 1, durationMs: 1200, storedSize: 4096, backupId: 'B1' });
    const bad = await store.startRun({ ...base, startedAt: now, outcome: 'running' });
    await store.finishRun(bad, { finishedAt: now, outcome: 'failure', attempts: 3, durationMs: 50, errorCode: 'E_CONN_REFUSED' });
    await store.recordRun({ ...base, startedAt: now, finishedAt: now, outcome: 'skipped', note: 'overlap' });
    const status = await manage.status();
    const s = status.schedules[0]!;
    expect(s).toMatchObject({ consecutiveFailures: 1, lastOutcome: 'failure', lastSuccessAt: now });
    expect(s.lastRun).toMatchObject({ outcome: 'failure', durationMs: 50 });
    expect(s.lastSuccess).toMatchObject({ storedSize: 4096, backupId: 'B1' });
    expect(status.counts).toContainEqual({ schedule: 'main-nightly', outcome: 'skipped', count: 1 });
    expect((await manage.history('main-nightly', 2)).map((r) => r.outcome)).toEqual(['skipped', 'failure']);
  });
});
