import { describe, expect, it } from 'vitest';
import type { ChainMember } from '../../../src/domain/chain-graph.js';
import { type DbBackupError, exitCodeFor } from '../../../src/domain/errors.js';
import { planChainRestore } from '../../../src/domain/restore-plan-chain.js';
import { describeWindows, restorableWindows } from '../../../src/domain/restorable-windows.js';
import { ids, member } from './chain-fixtures.js';

const T = (hhmm: string, day = '01') => `2026-01-${day}T${hhmm}:00.000Z`;
const at = (hhmm: string, day = '01') => new Date(T(hhmm, day));

function refusal(run: () => unknown): DbBackupError {
  try {
    run();
  } catch (err) {
    return err as DbBackupError;
  }
  throw new Error('no error');
}

describe('planChainRestore — full + incrementals (no replay)', () => {
  const f1 = member(T('00:00'), 'full', null, { bytes: 1000 });
  const i1 = member(T('06:00'), 'incremental', f1, { bytes: 10 });
  const i2 = member(T('12:00'), 'incremental', i1, { bytes: 20 });
  const i3 = member(T('18:00'), 'incremental', i2, { bytes: 30 });
  const all = [i3, i1, f1, i2];

  it('restores the newest point at or before TIME with its whole chain', () => {
    const plan = planChainRestore(all, { at: at('13:00') });
    expect(ids(plan.links)).toEqual([f1.id, i1.id, i2.id]);
    expect(plan).toMatchObject({ point: T('12:00'), stopAt: null, storedBytes: 1030, inWindow: false });
    expect(plan.baseFull.id).toBe(f1.id);
    expect(plan.target.id).toBe(i2.id);
    expect(planChainRestore(all, { at: at('12:00') })).toMatchObject({ point: T('12:00'), inWindow: true });
  });

  it('takes latest by default and restores a named incremental with its whole chain', () => {
    expect(ids(planChainRestore(all).links)).toEqual([f1.id, i1.id, i2.id, i3.id]);
    expect(planChainRestore(all, { at: 'latest' }).point).toBe(T('18:00'));
    const byId = planChainRestore(all, { backupId: i2.id });
    expect(ids(byId.links)).toEqual([f1.id, i1.id, i2.id]);
    expect(byId.point).toBe(T('12:00'));
    expect(planChainRestore(all, { backupId: i1.id.slice(0, 20) }).target.id).toBe(i1.id); // a unique prefix
  });

  it('refuses a TIME before every window with E_NO_RESTORE_POINT (exit 1) naming the windows', () => {
    expect(exitCodeFor('E_NO_RESTORE_POINT')).toBe(1);
    const err = refusal(() => planChainRestore(all, { at: new Date('2025-12-31T23:59:59Z') }));
    expect(err.code).toBe('E_NO_RESTORE_POINT');
    expect(err.message).toContain(`${T('00:00')}, ${T('06:00')}, ${T('12:00')}, ${T('18:00')}`);
    const early = refusal(() => planChainRestore(all, { backupId: i2.id, at: at('11:00') }));
    expect(early.code).toBe('E_NO_RESTORE_POINT');
    expect(early.message).toContain(i2.id);
  });

  it('refuses a time in the future and an empty repository', () => {
    expect(refusal(() => planChainRestore(all, { at: at('20:00'), now: at('19:00') })).code).toBe('E_USAGE');
    expect(planChainRestore(all, { at: at('19:00'), now: at('19:00') }).point).toBe(T('18:00'));
    expect(refusal(() => planChainRestore([], {})).code).toBe('E_BACKUP_NOT_FOUND');
  });
});

describe('planChainRestore — differentials, several fulls, cheapest', () => {
  const f1 = member(T('00:00'), 'full', null, { bytes: 1000 });
  const i1 = member(T('06:00'), 'incremental', f1, { bytes: 100 });
  const i2 = member(T('12:00'), 'incremental', i1, { bytes: 100 });
  const d1 = member(T('18:00'), 'differential', f1, { bytes: 150 });
  const i3 = member(T('20:00'), 'incremental', d1, { bytes: 5 });

  it('uses full, one differential, then incrementals — never the incrementals the differential replaces', () => {
    const all = [f1, i1, i2, d1, i3];
    expect(ids(planChainRestore(all, { at: at('19:00') }).links)).toEqual([f1.id, d1.id]);
    expect(ids(planChainRestore(all).links)).toEqual([f1.id, d1.id, i3.id]);
    expect(ids(planChainRestore(all, { at: at('12:30') }).links)).toEqual([f1.id, i1.id, i2.id]);
  });

  it('picks among chains reaching the same point the fewest stored bytes, then the fewest links', () => {
    // f2 is consistent at the same instant as i2: both reach 12:00.
    const f2 = (bytes: number) => member(T('12:00'), 'full', null, { bytes, tag: 'ffff' });
    expect(planChainRestore([f1, i1, i2, f2(1199)], { at: at('12:00') }).target.id).toBe(f2(0).id);
    expect(planChainRestore([f1, i1, i2, f2(1200)], { at: at('12:00') }).target.id).toBe(f2(0).id); // tie: 1 link < 3
    expect(planChainRestore([f1, i1, i2, f2(1201)], { at: at('12:00') }).target.id).toBe(i2.id);
  });

  it('restores from the newest full when several fulls precede TIME', () => {
    const f2 = member(T('00:00', '02'), 'full', null, { bytes: 5000 });
    const i4 = member(T('06:00', '02'), 'incremental', f2, { bytes: 1 });
    const plan = planChainRestore([f1, i1, i2, d1, i3, f2, i4], { at: at('07:00', '02') });
    expect(ids(plan.links)).toEqual([f2.id, i4.id]);
    expect(plan.storedBytes).toBe(5001);
  });
});

describe('planChainRestore — replayable ranges and continuous segments', () => {
  const f1 = member(T('00:00'), 'full', null, { bytes: 1000, position: { from: null, to: 100 }, generation: 'g1' });
  const i1 = member(T('06:00'), 'incremental', f1, { from: T('00:00'), bytes: 50 });
  const i2 = member(T('12:00'), 'incremental', i1, { from: T('06:00'), bytes: 50 });

  it('replays the last link up to TIME inside its range, and applies it whole at its end', () => {
    const plan = planChainRestore([f1, i1, i2], { at: at('09:30') });
    expect(ids(plan.links)).toEqual([f1.id, i1.id, i2.id]);
    expect(plan).toMatchObject({ point: T('09:30'), stopAt: T('09:30'), inWindow: true });
    // 06:00 is i1's end and i2's start: i2 replays up to it (its first commits may carry that very
    // instant), though i1's chain is cheaper; i1 alone only when i2 is not there.
    expect(planChainRestore([f1, i1, i2], { at: at('06:00') })).toMatchObject({ target: i2, point: T('06:00'), stopAt: T('06:00') });
    expect(planChainRestore([f1, i1], { at: at('06:00') })).toMatchObject({ target: i1, stopAt: null });
    expect(restorableWindows([f1, i1, i2])).toEqual([{ from: T('00:00'), to: T('12:00') }]);
  });

  it('a differential that folded incrementals replays only since the newest of them: earlier instants go through the incrementals', () => {
    // PostgreSQL: the differential at 15:00 folded i1 and i2 (ends 12:00), then the log from 12:00 on.
    const d = member(T('15:00'), 'differential', f1, { from: T('12:00'), bytes: 25 });
    const i4 = member(T('18:00'), 'incremental', d, { from: T('15:00'), bytes: 5, tag: 'iiii' });
    const repo = [f1, i1, i2, d, i4];
    expect(ids(planChainRestore(repo, { at: at('09:30') }).links)).toEqual([f1.id, i1.id, i2.id]);
    expect(planChainRestore(repo, { at: at('13:00') })).toMatchObject({ links: [f1, d], stopAt: T('13:00') });
    expect(planChainRestore(repo, { at: at('15:00') })).toMatchObject({ links: [f1, d, i4], stopAt: T('15:00') });
    expect(planChainRestore(repo.slice(0, 4), { at: at('15:00') })).toMatchObject({ links: [f1, d], stopAt: null });
    expect(ids(planChainRestore(repo).links)).toEqual([f1.id, d.id, i4.id]);
    expect(restorableWindows(repo)).toEqual([{ from: T('00:00'), to: T('18:00') }]);
  });

  const seg = (from: string, to: string, parent: ChainMember | string, pos: [number, number], bytes: number, tag: string, generation = 'g1') =>
    member(T(to), 'incremental', parent, { from: T(from), continuous: true, position: { from: pos[0], to: pos[1] }, bytes, tag, generation });
  const s1 = seg('00:00', '01:00', f1, [100, 200], 40, 'sss1');
  const s2 = seg('01:00', '02:00', s1, [200, 300], 40, 'sss2');
  const c12 = seg('00:00', '02:00', f1, [100, 300], 60, 'ccc1'); // s1+s2 compacted
  const s3 = seg('02:00', '03:00', s2, [300, 400], 40, 'sss3');

  it('follows segments after the full, preferring a compacted segment, linked by position when its inputs are gone', () => {
    expect(ids(planChainRestore([f1, s1, s2, s3], { at: at('02:30') }).links)).toEqual([f1.id, s1.id, s2.id, s3.id]);
    expect(ids(planChainRestore([f1, s1, s2, c12, s3], { at: at('02:30') }).links)).toEqual([f1.id, c12.id, s3.id]);
    const compacted = planChainRestore([f1, c12, s3], { at: at('02:30') });
    expect(ids(compacted.links)).toEqual([f1.id, c12.id, s3.id]);
    expect(compacted).toMatchObject({ point: T('02:30'), stopAt: T('02:30') });
    expect(restorableWindows([f1, c12, s3])).toEqual([{ from: T('00:00'), to: T('03:00') }]);
  });

  it('a segment whose commits carry the instant the one before it ended at is applied: same-instant ends never drop the later one', () => {
    // replicate: commits 19 and 20 fell in the same millisecond, and a segment was cut between them.
    const tie = seg('03:00', '03:00', s3, [400, 500], 40, 'sss6');
    for (const when of [at('03:30'), at('03:00'), 'latest' as const]) {
      const plan = planChainRestore([f1, s1, s2, s3, tie], { at: when });
      expect(ids(plan.links), String(when)).toEqual([f1.id, s1.id, s2.id, s3.id, tie.id]);
      expect(plan).toMatchObject({ point: T('03:00'), stopAt: null });
    }
    // A generation's first segment holding only commits of its snapshot's instant (committed after the slot, before the snapshot's clock was read).
    const first = seg('00:00', '00:00', f1, [100, 150], 40, 'sss7');
    expect(planChainRestore([f1, first], { at: at('00:30') })).toMatchObject({ links: [f1, first], point: T('00:00') });
    // A compacted segment and the segments it replaced reach the same point by different chains: still the cheaper one.
    expect(ids(planChainRestore([f1, s1, s2, c12], { at: at('02:30') }).links)).toEqual([f1.id, c12.id]);
  });

  it('does not link by position across generations, and names the missing link', () => {
    const other = seg('02:00', '03:00', s2, [300, 400], 40, 'sss4', 'g2');
    const err = refusal(() => planChainRestore([f1, c12, other], { at: at('02:30') }));
    expect(err.code).toBe('E_BACKUP_NOT_FOUND');
    expect(err.message).toContain(s2.id);
    expect(err.message).toContain(`--at ${T('02:00')}`); // the newest intact point
  });

  it('keeps segments after incrementals, never an incremental after a segment', () => {
    const sAfterI = seg('12:00', '13:00', i2, [0, 1], 1, 'sss5');
    expect(ids(planChainRestore([f1, i1, i2, sAfterI]).links)).toEqual([f1.id, i1.id, i2.id, sAfterI.id]);
    const iAfterS = member(T('04:00'), 'incremental', s3);
    const err = refusal(() => planChainRestore([f1, s1, s2, s3, iAfterS], { backupId: iAfterS.id }));
    expect(err.code).toBe('E_FOREIGN_ARCHIVE');
    expect(err.message).toMatch(/cannot follow its parent/);
  });
});

describe('planChainRestore — gaps and broken links', () => {
  const f1 = member(T('00:00'), 'full', null);
  const i1 = member(T('06:00'), 'incremental', f1, { from: T('00:00') });
  const f2 = member(T('12:00'), 'full', null);
  const i2 = member(T('18:00'), 'incremental', f2, { from: T('12:00') });

  it('lists windows with gaps and restores the end of the window before a gap', () => {
    const windows = restorableWindows([f1, i1, f2, i2]);
    expect(windows).toEqual([
      { from: T('00:00'), to: T('06:00') },
      { from: T('12:00'), to: T('18:00') },
    ]);
    expect(describeWindows(windows)).toBe(`${T('00:00')} … ${T('06:00')}, ${T('12:00')} … ${T('18:00')}`);
    expect(planChainRestore([f1, i1, f2, i2], { at: at('09:00') })).toMatchObject({ target: i1, point: T('06:00'), inWindow: false });
  });

  it('names the missing middle link rather than restoring an older state, and leaves broken chains out of the windows', () => {
    const gone = member(T('03:00'), 'incremental', f1);
    const after = member(T('05:00'), 'incremental', gone);
    const err = refusal(() => planChainRestore([f1, after], { at: at('05:30') }));
    expect(err.code).toBe('E_BACKUP_NOT_FOUND');
    expect(err.message).toContain(gone.id);
    expect(err.message).toContain(`--at ${T('00:00')}`);
    expect(refusal(() => planChainRestore([f1, after], { backupId: after.id })).details).toMatchObject({ missing: gone.id });
    expect(restorableWindows([f1, after])).toEqual([{ from: T('00:00'), to: T('00:00') }]);
    // An intact point that is as new wins over a broken one.
    expect(planChainRestore([f1, after, member(T('05:00'), 'full', null, { tag: 'ffff' })], { at: at('05:30') }).point).toBe(T('05:00'));
  });

  it('refuses a parentless incremental and a differential on an incremental as foreign', () => {
    const orphan = member(T('01:00'), 'incremental', null);
    expect(refusal(() => planChainRestore([f1, orphan], { backupId: orphan.id })).code).toBe('E_FOREIGN_ARCHIVE');
    const bad = member(T('07:00'), 'differential', i1);
    expect(refusal(() => planChainRestore([f1, i1, bad], { at: 'latest' })).code).toBe('E_FOREIGN_ARCHIVE');
  });
});
