import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChainMember } from '../../../src/domain/chain-graph.js';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { planChainRestore } from '../../../src/domain/restore-plan-chain.js';
import { planPitrKeep } from '../../../src/domain/retention-pitr.js';
import {
  describePolicy,
  isEmptyPolicy,
  planRetention,
  policyFromConfig,
  type RetentionCandidate,
  type RetentionPlan,
  validatePolicy,
} from '../../../src/domain/retention.js';
import { HOUR, member, repository, START, steps } from './chain-fixtures.js';

const candidate = (m: ChainMember, pinned = false): RetentionCandidate => ({ ...m, startedAt: m.consistentAt, pinned });
const T = (day: number, hour = 0) => new Date(Date.UTC(2026, 0, day, hour)).toISOString();
const keptIds = (plan: RetentionPlan) => plan.decisions.filter((d) => d.action === 'keep').map((d) => d.id);

describe('keep-pitr policy', () => {
  it('parses, describes and validates keep-pitr like keep-within', () => {
    expect(policyFromConfig({ 'keep-pitr': '7d' })).toEqual({ keepPitr: '7d' });
    expect(isEmptyPolicy({ keepPitr: '36h' })).toBe(false);
    expect(describePolicy({ keepLast: 2, keepPitr: '36h' })).toBe('keep-last 2, keep-pitr 36h (periods in UTC)');
    expect(() => validatePolicy({ keepPitr: 'a week' })).toThrowError(/keep-pitr must be a duration like 30d/);
    expect(() => validatePolicy({ keepWithin: '3x' })).toThrowError(/keep-within must be a duration/);
  });

  // Day N: a full at 00:00 and an incremental every 6 hours; on day 7 a differential at 12:00.
  const all: ChainMember[] = [];
  for (let day = 1; day <= 10; day++) {
    const full = member(T(day), 'full', null, { tag: 'ffff' });
    all.push(full);
    let prev = full;
    for (const h of [6, 12, 18]) {
      const kind = day === 7 && h === 12 ? 'differential' : 'incremental';
      prev = member(T(day, h), kind, kind === 'differential' ? full : prev, { tag: 'iiii' });
      all.push(prev);
    }
  }
  const byTime = (day: number, h = 0) => all.find((m) => m.consistentAt === T(day, h))!;

  it('keeps the chain of the newest point at or before now − D and everything after it, and nothing older', () => {
    const plan = planRetention(all.map((m) => candidate(m)), { keepPitr: '3d' }, new Date(T(10, 15)));
    // now − 3d = day 7 15:00: the point is day 7's differential at 12:00, whose chain is full + differential.
    const expected = [byTime(7), byTime(7, 12), ...all.filter((m) => m.consistentAt > T(7, 15))].map((m) => m.id);
    expect(keptIds(plan)).toEqual(expected);
    expect(plan.decisions.find((d) => d.id === byTime(7, 6).id)!.action).toBe('delete'); // the differential replaces it
    expect(plan.decisions.find((d) => d.id === byTime(7, 12).id)!.reasons).toEqual(['pitr 3d', `base of ${byTime(7, 18).id}`]);
    expect(plan.decisions.find((d) => d.id === byTime(7, 18).id)!.reasons).toEqual(['pitr 3d']);
  });

  it('counts back from the clock, unions with the other rules, and pins keep whole chains', () => {
    const pinned = all.map((m) => candidate(m, m.consistentAt === T(2, 18)));
    const plan = planRetention(pinned, { keepPitr: '12h', keepLast: 1 }, new Date(T(20)));
    // Ten days after the last backup: the last point (day 10 18:00) and its chain stay.
    expect(keptIds(plan)).toEqual([byTime(2), byTime(2, 6), byTime(2, 12), byTime(2, 18), byTime(10), byTime(10, 6), byTime(10, 12), byTime(10, 18)].map((m) => m.id));
    expect(plan.decisions.find((d) => d.id === byTime(10, 18).id)!.reasons).toEqual(['pitr 12h', 'last']);
    expect(plan.decisions.find((d) => d.id === byTime(2, 6).id)!.reasons).toEqual([`base of ${byTime(2, 18).id}`]);
  });

  it('keeps a segment whose parent was compacted away linked by position, without a broken-chain warning', () => {
    const f = member(T(1), 'full', null, { position: { from: null, to: 1 } });
    const c = member(T(1, 2), 'incremental', 'gone', { from: T(1), continuous: true, position: { from: 1, to: 3 }, tag: 'cccc' });
    const s = member(T(1, 3), 'incremental', '20260101T020000Z-incremental-ssss', { from: T(1, 2), continuous: true, position: { from: 3, to: 4 }, tag: 'ssss' });
    const plan = planRetention([f, c, s].map((m) => candidate(m)), { keepLast: 1 }, new Date(T(2)));
    expect(keptIds(plan)).toEqual([f.id, c.id, s.id]);
    expect(plan.warnings).toEqual([]);
  });

  it('planPitrKeep keeps the whole chain of every backup reaching into the period, even through links older than the anchor', () => {
    const f1 = member(T(1), 'full', null);
    const i1 = member(T(1, 1), 'incremental', f1);
    const f2 = member(T(1, 2), 'full', null);
    const i2 = member(T(1, 3), 'incremental', i1); // written by a second writer on the older chain
    const gone = member(T(1, 2), 'incremental', 'missing-parent', { tag: 'bbbb' });
    const cands = [f1, i1, f2, i2, gone].map((m) => candidate(m));
    const { keep, previous } = planPitrKeep(cands, '30m', new Date(Date.parse(T(1, 3))));
    expect([...keep].sort()).toEqual([f1.id, i1.id, f2.id, i2.id, gone.id].sort()); // gone: broken, as new as the anchor
    expect(previous.get(i2.id)).toBe(i1.id);
    expect([...planPitrKeep(cands, '2h', new Date(Date.parse(T(1, 3)))).keep].sort()).toEqual([f1.id, i1.id, f2.id, i2.id, gone.id].sort());
    expect([...planPitrKeep([f1, i1, f2].map((m) => candidate(m)), '30m', new Date(Date.parse(T(1, 3)))).keep]).toEqual([f2.id]);
  });

  it('never changes the point a restore reaches at any time of the last D (random repositories)', () => {
    fc.assert(
      fc.property(steps, fc.array(fc.nat(24), { maxLength: 2 }), fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 30 }), (s, dropped, nowH, hours) => {
        const all = repository(s, dropped);
        const now = START + nowH * HOUR;
        const plan = planRetention(all.map((m) => ({ ...m, startedAt: m.consistentAt })), { keepPitr: `${hours}h` }, new Date(now));
        const kept = new Set(keptIds(plan));
        const after = all.filter((m) => kept.has(m.id));
        // planPitrKeep alone (without the chain rules of planRetention) keeps enough too.
        const direct = planPitrKeep(all.map((m) => ({ ...m, startedAt: m.consistentAt })), `${hours}h`, new Date(now)).keep;
        const afterDirect = all.filter((m) => direct.has(m.id));
        const cutoff = now - hours * HOUR;
        const times = [cutoff, now, ...all.flatMap((m) => [Date.parse(m.restorable!.from), Date.parse(m.consistentAt)])].filter((t) => t >= cutoff && t <= now);
        for (const t of times) {
          expect(outcome(after, t), new Date(t).toISOString()).toEqual(outcome(all, t));
          expect(outcome(afterDirect, t), new Date(t).toISOString()).toEqual(outcome(all, t));
        }
      }),
      { numRuns: 150 },
    );
  });
});

function outcome(backups: ChainMember[], at: number): string {
  try {
    return planChainRestore(backups, { at: new Date(at) }).point;
  } catch (err) {
    if (isDbBackupError(err)) return err.code;
    throw err;
  }
}
