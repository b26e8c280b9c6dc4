import { describe, expect, it } from 'vitest';
import type { BackupKind } from '../../../src/domain/backup-kind.js';
import {
  describePolicy,
  isEmptyPolicy,
  isoWeek,
  planRetention,
  policyFromConfig,
  type RetentionCandidate,
  type RetentionPlan,
} from '../../../src/domain/retention.js';

/** `2026-11-25T11:30:00Z` → `20261125T113000Z-<kind>-<tag>` (ids sort by time, like real ones). */
function idAt(iso: string, kind: BackupKind = 'full', tag = 'aaaa'): string {
  return `${iso.replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')}-${kind}-${tag}`;
}

function backup(iso: string, kind: BackupKind = 'full', parent: string | null = null, pinned = false): RetentionCandidate {
  return { id: idAt(iso, kind), kind, parent, startedAt: new Date(iso).toISOString(), pinned };
}

/** One full backup every `stepHours` from `from` to `to` inclusive. */
function history(from: string, to: string, stepHours: number): RetentionCandidate[] {
  const out: RetentionCandidate[] = [];
  for (let t = Date.parse(from); t <= Date.parse(to); t += stepHours * 3600e3) out.push(backup(new Date(t).toISOString()));
  return out;
}

const kept = (plan: RetentionPlan) => plan.decisions.filter((d) => d.action === 'keep').map((d) => d.startedAt.replace('.000Z', 'Z'));
const reasonsOf = (plan: RetentionPlan, iso: string) => plan.decisions.find((d) => d.startedAt === new Date(iso).toISOString())?.reasons;

describe('planRetention — GFS over two years of hourly backups (fixed clock, UTC)', () => {
  // 2024-12-01T00:30Z … 2026-11-25T11:30Z, one backup an hour: (31 + 365 + 328) days × 24 + 12 = 17,388 backups.
  const all = history('2024-12-01T00:30:00Z', '2026-11-25T11:30:00Z', 1);
  const now = new Date('2026-11-25T12:00:00Z');
  const policy = { keepLast: 5, keepHourly: 24, keepDaily: 7, keepWeekly: 4, keepMonthly: 12, keepYearly: 3 };

  it('keeps exactly the hand-checked set', () => {
    expect(all).toHaveLength(17_388);
    const plan = planRetention(all, policy, now);
    // hourly 24: every hour from 2026-11-24T12:30 to 2026-11-25T11:30 (this includes last 5).
    const hourly: string[] = [];
    for (let h = 12; h <= 23; h++) hourly.push(`2026-11-24T${String(h).padStart(2, '0')}:30:00Z`);
    for (let h = 0; h <= 11; h++) hourly.push(`2026-11-25T${String(h).padStart(2, '0')}:30:00Z`);
    // daily 7: the newest of 11-25 … 11-19 (11-25 and 11-24 are already in the hourly set).
    const daily = ['2026-11-19T23:30:00Z', '2026-11-20T23:30:00Z', '2026-11-21T23:30:00Z', '2026-11-22T23:30:00Z', '2026-11-23T23:30:00Z'];
    // weekly 4: 2026-11-25 is a Wednesday of ISO week 48; the newest of W47, W46, W45 are Sundays 23:30.
    const weekly = ['2026-11-08T23:30:00Z', '2026-11-15T23:30:00Z']; // 11-22 already daily
    // monthly 12: 2026-11 … 2025-12, the last backup of each month.
    const monthly = [
      '2025-12-31T23:30:00Z',
      '2026-01-31T23:30:00Z',
      '2026-02-28T23:30:00Z',
      '2026-03-31T23:30:00Z',
      '2026-04-30T23:30:00Z',
      '2026-05-31T23:30:00Z',
      '2026-06-30T23:30:00Z',
      '2026-07-31T23:30:00Z',
      '2026-08-31T23:30:00Z',
      '2026-09-30T23:30:00Z',
      '2026-10-31T23:30:00Z',
    ];
    // yearly 3: 2026, 2025 (= monthly 2025-12) and 2024; the budget is used up, so the oldest is not kept.
    const yearly = ['2024-12-31T23:30:00Z'];
    const expected = [...yearly, ...monthly, ...weekly, ...daily, ...hourly].sort();
    expect(expected).toHaveLength(43);
    expect(kept(plan)).toEqual(expected);
    expect(plan.decisions.filter((d) => d.action === 'delete')).toHaveLength(17_388 - 43);
    expect(plan.reference).toBe('2026-11-25T11:30:00.000Z');
  });

  it('explains each decision', () => {
    const plan = planRetention(all, policy, now);
    expect(reasonsOf(plan, '2026-11-25T11:30:00Z')).toEqual(['last', 'hourly 2026-11-25T11', 'daily 2026-11-25', 'weekly 2026-W48', 'monthly 2026-11', 'yearly 2026']);
    expect(reasonsOf(plan, '2026-11-25T06:30:00Z')).toEqual(['hourly 2026-11-25T06']);
    expect(reasonsOf(plan, '2026-11-22T23:30:00Z')).toEqual(['daily 2026-11-22', 'weekly 2026-W47']);
    expect(reasonsOf(plan, '2025-12-31T23:30:00Z')).toEqual(['monthly 2025-12', 'yearly 2025']);
    expect(reasonsOf(plan, '2024-12-31T23:30:00Z')).toEqual(['yearly 2024']);
    expect(reasonsOf(plan, '2024-12-31T22:30:00Z')).toEqual([]);
    expect(plan.decisions[0]!.startedAt).toBe('2024-12-01T00:30:00.000Z'); // oldest first
  });

  it('keeps the oldest backup too when a rule has budget left (restic ≥ 0.17)', () => {
    const plan = planRetention(all, { keepYearly: 5 }, now);
    expect(kept(plan)).toEqual(['2024-12-01T00:30:00Z', '2024-12-31T23:30:00Z', '2025-12-31T23:30:00Z', '2026-11-25T11:30:00Z']);
    expect(reasonsOf(plan, '2024-12-01T00:30:00Z')).toEqual(['yearly 2024 (oldest)']);
  });
});

describe('planRetention — two years of daily backups', () => {
  // 2024-11-26 … 2026-11-25 at 02:00 UTC: 730 backups.
  const all = history('2024-11-26T02:00:00Z', '2026-11-25T02:00:00Z', 24);
  const now = new Date('2026-11-25T03:00:00Z');

  it('keep-within counts back from the newest backup, strictly after the cut-off', () => {
    expect(all).toHaveLength(730);
    const plan = planRetention(all, { keepWithin: '30d' }, now);
    const k = kept(plan);
    expect(k).toHaveLength(30);
    expect(k[0]).toBe('2026-10-27T02:00:00Z'); // 2026-10-26T02:00 is exactly 30 d before: not "within"
    expect(k.at(-1)).toBe('2026-11-25T02:00:00Z');
    expect(reasonsOf(plan, '2026-11-01T02:00:00Z')).toEqual(['within 30d']);
  });

  it('keep-within is relative to the newest backup, not to the clock (a stopped source keeps its last backups)', () => {
    const later = planRetention(all, { keepWithin: '30d' }, new Date('2027-12-01T00:00:00Z'));
    expect(kept(later)).toEqual(kept(planRetention(all, { keepWithin: '30d' }, now)));
  });

  it('keep-within in weeks and calendar years', () => {
    expect(kept(planRetention(all, { keepWithin: '2w' }, now))).toHaveLength(14);
    // 1y before 2026-11-25T02:00 is 2025-11-25T02:00, excluded: 2025-11-26 … 2026-11-25 = 365 backups.
    expect(kept(planRetention(all, { keepWithin: '1y' }, now))).toHaveLength(365);
  });

  it('monthly: the newest backup of each month; the oldest only while budget is left', () => {
    const m24 = kept(planRetention(all, { keepMonthly: 24 }, now));
    expect(m24).toHaveLength(24);
    expect(m24[0]).toBe('2024-12-31T02:00:00Z');
    expect(m24.slice(-3)).toEqual(['2026-09-30T02:00:00Z', '2026-10-31T02:00:00Z', '2026-11-25T02:00:00Z']);
    expect(kept(planRetention(all, { keepMonthly: 25 }, now))[0]).toBe('2024-11-30T02:00:00Z');
    expect(kept(planRetention(all, { keepMonthly: 26 }, now)).slice(0, 2)).toEqual(['2024-11-26T02:00:00Z', '2024-11-30T02:00:00Z']);
  });

  it('weekly uses ISO weeks (Monday first; the week-year of its Thursday)', () => {
    const plan = planRetention(all, { keepWeekly: 3 }, now);
    // 2026-11-25 is a Wednesday (W48); the W47 and W46 weeks end on Sundays 11-22 and 11-15.
    expect(kept(plan)).toEqual(['2026-11-15T02:00:00Z', '2026-11-22T02:00:00Z', '2026-11-25T02:00:00Z']);
    expect(isoWeek(2026, 1, 1)).toEqual({ year: 2026, week: 1 }); // a Thursday
    expect(isoWeek(2027, 1, 1)).toEqual({ year: 2026, week: 53 }); // a Friday
    expect(isoWeek(2024, 12, 30)).toEqual({ year: 2025, week: 1 }); // a Monday
  });

  it('combines rules as a union: keep-last, then daily counted independently', () => {
    const plan = planRetention(all, { keepLast: 2, keepDaily: 3 }, now);
    expect(kept(plan)).toEqual(['2026-11-23T02:00:00Z', '2026-11-24T02:00:00Z', '2026-11-25T02:00:00Z']);
    expect(reasonsOf(plan, '2026-11-24T02:00:00Z')).toEqual(['last', 'daily 2026-11-24']);
  });
});

describe('planRetention — periods', () => {
  const now = new Date('2026-12-01T00:00:00Z');

  it('counts only periods that have a backup, and keeps the newest in each', () => {
    const all = ['2026-11-01T01:00:00Z', '2026-11-02T01:00:00Z', '2026-11-03T01:00:00Z', '2026-11-05T01:00:00Z', '2026-11-06T01:00:00Z', '2026-11-06T09:00:00Z'].map(
      (t) => backup(t),
    );
    expect(kept(planRetention(all, { keepDaily: 4 }, now))).toEqual(['2026-11-02T01:00:00Z', '2026-11-03T01:00:00Z', '2026-11-05T01:00:00Z', '2026-11-06T09:00:00Z']);
  });

  it('uses UTC days unless the policy names a time zone', () => {
    const all = ['2026-11-23T22:30:00Z', '2026-11-24T22:30:00Z', '2026-11-24T23:30:00Z'].map((t) => backup(t));
    expect(kept(planRetention(all, { keepDaily: 2 }, now))).toEqual(['2026-11-23T22:30:00Z', '2026-11-24T23:30:00Z']);
    // In Berlin (UTC+1 in November) 23:30Z is already 11-25 00:30 local time.
    const berlin = planRetention(all, { keepDaily: 2, timeZone: 'Europe/Berlin' }, now);
    expect(kept(berlin)).toEqual(['2026-11-24T22:30:00Z', '2026-11-24T23:30:00Z']);
    expect(reasonsOf(berlin, '2026-11-24T23:30:00Z')).toEqual(['daily 2026-11-25']);
    expect(() => planRetention(all, { keepDaily: 1, timeZone: 'Mars/Base' }, now)).toThrowError(expect.objectContaining({ code: 'E_USAGE' }));
  });

  it('keep-within counts from the newest backup that is not in the future', () => {
    const all = ['2026-11-08T02:00:00Z', '2026-11-09T02:00:00Z', '2026-11-10T02:00:00Z', '2026-11-20T02:00:00Z'].map((t) => backup(t));
    const plan = planRetention(all, { keepWithin: '2d' }, new Date('2026-11-11T00:00:00Z'));
    expect(plan.reference).toBe('2026-11-10T02:00:00.000Z');
    expect(kept(plan)).toEqual(['2026-11-09T02:00:00Z', '2026-11-10T02:00:00Z', '2026-11-20T02:00:00Z']);
  });

  it('rejects bad policies with E_USAGE', () => {
    const all = [backup('2026-11-01T00:00:00Z')];
    expect(() => planRetention(all, { keepWithin: '30 days' }, now)).toThrowError(expect.objectContaining({ code: 'E_USAGE' }));
    expect(() => planRetention(all, { keepDaily: -1 }, now)).toThrowError(expect.objectContaining({ code: 'E_USAGE' }));
    expect(() => planRetention(all, { keepDaily: 1.5 }, now)).toThrowError(expect.objectContaining({ code: 'E_USAGE' }));
  });
});

describe('planRetention — chains and pins', () => {
  const now = new Date('2026-12-01T00:00:00Z');
  const f1 = backup('2026-11-01T02:00:00Z');
  const i1 = backup('2026-11-02T02:00:00Z', 'incremental', f1.id);
  const i2 = backup('2026-11-03T02:00:00Z', 'incremental', i1.id);
  const d1 = backup('2026-11-04T02:00:00Z', 'differential', f1.id);
  const f2 = backup('2026-11-05T02:00:00Z');
  const i3 = backup('2026-11-06T02:00:00Z', 'incremental', f2.id);
  const all = [f1, i1, i2, d1, f2, i3];
  const decision = (plan: RetentionPlan, id: string) => plan.decisions.find((d) => d.id === id)!;

  it('never deletes a full (or an incremental) that a kept backup needs', () => {
    const plan = planRetention(all, { keepLast: 1 }, now);
    expect(decision(plan, i3.id)).toMatchObject({ action: 'keep', reasons: ['last'] });
    expect(decision(plan, f2.id)).toMatchObject({ action: 'keep', reasons: [`base of ${i3.id}`] });
    for (const b of [f1, i1, i2, d1]) expect(decision(plan, b.id)).toMatchObject({ action: 'delete', reasons: [] });
  });

  it('keeps the whole chain of a kept incremental, and a differential only needs its full', () => {
    const plan = planRetention(all, { keepDaily: 3 }, now); // i3, f2, d1
    expect(decision(plan, d1.id).reasons).toEqual(['daily 2026-11-04']);
    expect(decision(plan, f1.id)).toMatchObject({ action: 'keep', reasons: [`base of ${d1.id}`] });
    expect(decision(plan, i1.id).action).toBe('delete');
    expect(decision(plan, i2.id).action).toBe('delete');

    const chain = planRetention(all, { keepLast: 1, keepDaily: 4 }, now); // i3, f2, d1, i2
    expect(decision(chain, i1.id)).toMatchObject({ action: 'keep', reasons: [`base of ${i2.id}`] });
    expect(decision(chain, f1.id).reasons).toEqual([`base of ${d1.id}`, `base of ${i2.id}`]);
  });

  it('stops a chain walk at a backup that is kept on its own (it protects the rest)', () => {
    const plan = planRetention(all, { keepDaily: 6 }, now);
    expect(plan.decisions.every((d) => d.action === 'keep')).toBe(true);
    expect(decision(plan, i1.id).reasons).toEqual(['daily 2026-11-02', `base of ${i2.id}`]);
    expect(decision(plan, f1.id).reasons).toEqual(['daily 2026-11-01', `base of ${d1.id}`, `base of ${i1.id}`]);
  });

  it('never deletes a pinned backup, nor what it needs; pins use no rule budget', () => {
    const pinned = all.map((b) => (b.id === i2.id ? { ...b, pinned: true } : b));
    const plan = planRetention(pinned, { keepLast: 1 }, now);
    expect(decision(plan, i2.id)).toMatchObject({ action: 'keep', reasons: ['pinned'] });
    expect(decision(plan, i1.id).reasons).toEqual([`base of ${i2.id}`]);
    expect(decision(plan, f1.id).reasons).toEqual([`base of ${i2.id}`]); // the reason names the backup that needs it
    expect(decision(plan, d1.id).action).toBe('delete');
    expect(decision(plan, i3.id).reasons).toEqual(['last']);
  });

  it('reports a broken chain and still keeps the backup the policy keeps', () => {
    const orphan = backup('2026-11-07T02:00:00Z', 'incremental', idAt('2026-10-01T00:00:00Z'));
    const plan = planRetention([...all, orphan], { keepLast: 1 }, now);
    expect(decision(plan, orphan.id).action).toBe('keep');
    expect(plan.warnings).toEqual([expect.stringContaining('cannot be restored')]);
  });
});

describe('policy helpers', () => {
  it('maps the config section and describes the policy', () => {
    const p = policyFromConfig({ 'keep-daily': 7, 'keep-weekly': 4, 'keep-within': '30d' });
    expect(p).toEqual({ keepDaily: 7, keepWeekly: 4, keepWithin: '30d' });
    expect(describePolicy(p)).toBe('keep-daily 7, keep-weekly 4, keep-within 30d (periods in UTC)');
    expect(isEmptyPolicy(p)).toBe(false);
    expect(isEmptyPolicy(policyFromConfig(undefined))).toBe(true);
    expect(isEmptyPolicy({ keepDaily: 0 })).toBe(true);
  });
});
