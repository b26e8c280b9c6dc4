import { expect, it } from 'vitest';
import type { ScheduleStore } from '../../../src/application/ports/schedule-store.js';

const t = (hhmmss: string) => new Date(`2026-11-25T${hhmmss}Z`);
const def = (name: string) => ({ name, cron: '* * * * *', task: 'backup' as const, source: 'app', origin: 'cli' as const, timezone: 'UTC' });
const claimAt = (name: string, slot: string, owner: string, now: string, staleBefore = '00:00:00') => ({
  name,
  slot: t(slot),
  owner,
  now: t(now),
  staleBefore: t(staleBefore),
});

/** What every ScheduleStore must do (run against the in-memory fake and the drizzle store). */
export function scheduleStoreContract(make: () => Promise<ScheduleStore & { close?(): void }>): void {
  it('adds, lists and removes definitions; a duplicate name is refused', async () => {
    const s = await make();
    await s.addDefinition({ ...def('b'), kind: 'full', catchUp: 'all' }, t('10:00:00'));
    await s.addDefinition(def('a'), t('10:00:00'));
    expect((await s.definitions()).map((d) => d.name)).toEqual(['a', 'b']);
    expect((await s.definitions())[1]).toMatchObject({ name: 'b', kind: 'full', catchUp: 'all', timezone: 'UTC', origin: 'cli' });
    await expect(s.addDefinition(def('a'), t('10:00:00'))).rejects.toMatchObject({ code: 'E_USAGE' });
    expect((await s.states()).find((x) => x.name === 'a')?.lastSlot).toEqual(t('10:00:00'));
    expect(await s.removeDefinition('a')).toBe(true);
    expect(await s.removeDefinition('a')).toBe(false);
    expect((await s.definitions()).map((d) => d.name)).toEqual(['b']);
  });

  it('claims a slot once: claimed, then taken; a live lock makes a later slot busy', async () => {
    const s = await make();
    await s.ensureState('x', t('10:00:00'));
    expect(await s.claim(claimAt('x', '10:01:00', 'A', '10:01:00'))).toEqual({ kind: 'claimed' });
    expect(await s.claim(claimAt('x', '10:01:00', 'B', '10:01:00'))).toEqual({ kind: 'taken' });
    const busy = await s.claim(claimAt('x', '10:02:00', 'B', '10:02:00', '10:01:00'));
    expect(busy).toMatchObject({ kind: 'busy', holder: { owner: 'A', slot: t('10:01:00') } });
    // The busy slot is marked handled, so its skip is recorded once.
    expect(await s.claim(claimAt('x', '10:02:00', 'A', '10:02:00'))).toEqual({ kind: 'taken' });
    await s.release('x', 'B');
    expect((await s.locks()).map((l) => l.owner)).toEqual(['A']);
    await s.release('x', 'A');
    expect(await s.claim(claimAt('x', '10:03:00', 'B', '10:03:00'))).toEqual({ kind: 'claimed' });
  });

  it('takes over a stale lock, and heartbeats keep a lock live', async () => {
    const s = await make();
    await s.ensureState('x', t('10:00:00'));
    await s.claim(claimAt('x', '10:01:00', 'dead', '10:01:00'));
    expect((await s.claim(claimAt('x', '10:02:00', 'B', '10:02:00', '10:00:30'))).kind).toBe('busy');
    expect(await s.claim(claimAt('x', '10:03:00', 'B', '10:03:00', '10:01:30'))).toEqual({ kind: 'claimed', tookOverFrom: 'dead' });
    expect(await s.heartbeat('B', t('10:05:00'))).toEqual(['x']);
    expect((await s.claim(claimAt('x', '10:06:00', 'C', '10:06:00', '10:04:30'))).kind).toBe('busy');
  });

  it('reclaims a claimed slot only from a stale holder of that very slot', async () => {
    const s = await make();
    await s.ensureState('x', t('10:00:00'));
    await s.claim(claimAt('x', '10:01:00', 'A', '10:01:00'));
    expect(await s.reclaim(claimAt('x', '10:01:00', 'B', '10:01:10', '10:01:00'))).toMatchObject({ kind: 'busy', holder: { owner: 'A' } });
    expect(await s.reclaim(claimAt('x', '10:00:00', 'B', '10:01:10', '10:01:05'))).toEqual({ kind: 'taken' });
    expect(await s.reclaim(claimAt('x', '10:01:00', 'B', '10:02:00', '10:01:30'))).toEqual({ kind: 'claimed', tookOverFrom: 'A' });
    expect((await s.locks()).map((l) => l.owner)).toEqual(['B']);
    expect(await s.reclaim(claimAt('x', '10:01:00', 'B', '10:02:00', '10:01:30'))).toEqual({ kind: 'taken' });
    await s.release('x', 'B');
    expect(await s.reclaim(claimAt('x', '10:01:00', 'C', '10:03:00', '10:02:30'))).toEqual({ kind: 'taken' });
    expect(await s.claim(claimAt('x', '10:01:00', 'C', '10:03:00'))).toEqual({ kind: 'taken' });
  });

  it('never moves lastSlot backwards', async () => {
    const s = await make();
    await s.ensureState('x', t('10:00:00'));
    expect(await s.markHandled('x', t('10:05:00'))).toBe(true);
    expect(await s.markHandled('x', t('10:03:00'))).toBe(false);
    expect(await s.markHandled('x', t('10:05:00'))).toBe(false);
    expect((await s.ensureState('x', t('11:00:00'))).lastSlot).toEqual(t('10:05:00'));
  });

  it('records runs and keeps the last outcome and consecutive failures', async () => {
    const s = await make();
    await s.ensureState('x', t('10:00:00'));
    const base = { schedule: 'x', task: 'backup', source: 'app', trigger: 'schedule', owner: 'A', attempts: 0 };
    const fail = async (at: string) => {
      const id = await s.startRun({ ...base, slot: t(at), startedAt: t(at), outcome: 'running' });
      await s.finishRun(id, { finishedAt: t(at), outcome: 'failure', attempts: 3, errorCode: 'E_CONN_REFUSED', errorMessage: 'refused', durationMs: 5 });
    };
    await fail('10:01:00');
    await fail('10:02:00');
    let st = (await s.states()).find((x) => x.name === 'x')!;
    expect(st).toMatchObject({ lastOutcome: 'failure', consecutiveFailures: 2 });
    const id = await s.startRun({ ...base, slot: t('10:03:00'), startedAt: t('10:03:00'), outcome: 'running' });
    await s.recordRun({ ...base, slot: t('10:04:00'), startedAt: t('10:04:00'), finishedAt: t('10:04:00'), outcome: 'skipped', note: 'overlap' });
    await s.finishRun(id, { finishedAt: t('10:04:30'), outcome: 'success', attempts: 1, backupId: 'B1', durationMs: 90_000, storedSize: 123 });
    st = (await s.states()).find((x) => x.name === 'x')!;
    expect(st).toMatchObject({ lastOutcome: 'success', consecutiveFailures: 0, lastSuccessAt: t('10:04:30'), lastRunAt: t('10:03:00') });
    const h = await s.history({ schedule: 'x', limit: 10 });
    expect(h.map((r) => r.outcome)).toEqual(['skipped', 'success', 'failure', 'failure']);
    expect(h[1]).toMatchObject({ backupId: 'B1', storedSize: 123, attempts: 1, durationMs: 90_000, slot: t('10:03:00') });
    expect(h[0]!.note).toBe('overlap');
    expect(await s.history({ limit: 1 })).toHaveLength(1);
    const counts = await s.outcomeCounts();
    expect(counts.find((c) => c.outcome === 'failure')?.count).toBe(2);
  });

  it('marks a dead owner\'s unfinished runs interrupted', async () => {
    const s = await make();
    const base = { schedule: 'x', task: 'backup', source: 'app', trigger: 'schedule', attempts: 0, outcome: 'running' as const, startedAt: t('10:00:00') };
    await s.startRun({ ...base, owner: 'dead' });
    await s.startRun({ ...base, owner: 'alive' });
    const abandoned = await s.abandonRuns('dead', t('10:05:00'), 'x');
    expect(abandoned).toEqual([expect.objectContaining({ owner: 'dead', outcome: 'interrupted', schedule: 'x', source: 'app', task: 'backup', startedAt: t('10:00:00') })]);
    expect(await s.abandonRuns('dead', t('10:06:00'))).toEqual([]);
    expect((await s.history({ limit: 10 })).map((r) => `${r.owner}:${r.outcome}`)).toEqual(['alive:running', 'dead:interrupted']);
    // Its backup turned out complete (services/abandoned-runs.ts): the real outcome replaces 'interrupted', with no error left.
    await s.finishRun(abandoned[0]!.id, { finishedAt: t('10:01:00'), outcome: 'success', attempts: 1, backupId: 'B9', durationMs: 60_000 });
    const [, dead] = await s.history({ limit: 10 });
    expect(dead).toMatchObject({ owner: 'dead', outcome: 'success', backupId: 'B9' });
    expect(dead!.errorCode).toBeUndefined();
    expect(dead!.errorMessage).toBeUndefined();
  });

  it('keeps an enable override; enabling skips what passed while disabled', async () => {
    const s = await make();
    await s.ensureState('x', t('10:00:00'));
    await s.setEnabled('x', false, t('10:05:00'));
    expect((await s.states())[0]).toMatchObject({ enabled: false, lastSlot: t('10:00:00') });
    await s.setEnabled('x', true, t('10:09:00'));
    expect((await s.states())[0]).toMatchObject({ enabled: true, lastSlot: t('10:09:00') });
  });

  it('registers, renews and forgets daemons', async () => {
    const s = await make();
    await s.registerDaemon({ owner: 'A', host: 'h', pid: 1, startedAt: t('10:00:00'), heartbeatAt: t('10:00:00') });
    await s.heartbeat('A', t('10:00:10'));
    expect(await s.daemons()).toEqual([{ owner: 'A', host: 'h', pid: 1, startedAt: t('10:00:00'), heartbeatAt: t('10:00:10') }]);
    await s.unregisterDaemon('A');
    expect(await s.daemons()).toEqual([]);
  });
}
