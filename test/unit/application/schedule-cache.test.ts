import { describe, expect, it } from 'vitest';
import { loadSchedules, ScheduleCache } from '../../../src/application/use-cases/schedule-definitions.js';
import type { ScheduleDefinition } from '../../../src/domain/schedule.js';

const def = (name: string, cron = '0 * * * * *'): ScheduleDefinition => ({ name, cron, task: 'backup', source: name, timezone: 'UTC', origin: 'config' });

describe('ScheduleCache (a fleet worker loads the schedules for every delivery)', () => {
  it('gives the same compiled schedule for the same definition, and compiles a changed one anew', async () => {
    const cache = new ScheduleCache();
    let configured = [def('a'), def('b')];
    const src = { store: { definitions: async () => [], addDefinition: async () => undefined, removeDefinition: async () => false }, configured: () => configured, defaultZone: 'UTC' };
    const first = await loadSchedules(src, cache);
    const again = await loadSchedules(src, cache);
    expect(again.schedules[0]).toBe(first.schedules[0]);
    configured = [def('a', '30 * * * * *'), def('b')];
    const changed = await loadSchedules(src, cache);
    expect(changed.schedules[0]).not.toBe(first.schedules[0]);
    expect(changed.schedules[0]!.expression.source).not.toBe(first.schedules[0]!.expression.source);
    expect(changed.schedules[1]).toBe(first.schedules[1]);
  });

  it('never keeps an invalid definition: it fails every time, naming where it is', async () => {
    const cache = new ScheduleCache();
    const src = { store: { definitions: async () => [], addDefinition: async () => undefined, removeDefinition: async () => false }, configured: () => [def('a', 'not a cron')], defaultZone: 'UTC' };
    await expect(loadSchedules(src, cache)).rejects.toMatchObject({ code: 'E_CONFIG', message: expect.stringContaining('schedules.0') });
    await expect(loadSchedules(src, cache)).rejects.toMatchObject({ code: 'E_CONFIG' });
  });
});
