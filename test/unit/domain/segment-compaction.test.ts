import { describe, expect, it } from 'vitest';
import { type CompactableSegment, planCompaction } from '../../../src/domain/segment-compaction.js';

const LEVELS = [1_000, 30_000, 300_000, 3_600_000];
/** Segments cut every second from t = 0 (ms), level 0. */
const seconds = (from: number, to: number): CompactableSegment[] =>
  Array.from({ length: to - from }, (_, i) => ({ id: `s${from + i}`, level: 0, to: (from + i) * 1000 + 500 }));

describe('planCompaction', () => {
  it('groups the 1 s segments of each closed 30 s bucket; the open bucket waits', () => {
    const groups = planCompaction(seconds(0, 75), 75_000, LEVELS);
    expect(groups).toEqual([
      { ids: seconds(0, 30).map((s) => s.id), level: 1 },
      { ids: seconds(30, 60).map((s) => s.id), level: 1 },
    ]);
  });

  it('plans nothing for a lone segment in a bucket, nor while nothing is old enough', () => {
    expect(planCompaction(seconds(0, 1), 100_000, LEVELS)).toEqual([]);
    expect(planCompaction(seconds(0, 20), 25_000, LEVELS)).toEqual([]);
  });

  it('takes the highest level whose bucket closed: 30 s segments into 5 min, 5 min into 1 h', () => {
    const thirty = Array.from({ length: 10 }, (_, i) => ({ id: `t${i}`, level: 1, to: i * 30_000 + 29_500 }));
    expect(planCompaction(thirty, 300_000, LEVELS)).toEqual([{ ids: thirty.map((s) => s.id), level: 2 }]);
    const mixed = [...thirty, ...seconds(300, 302)];
    expect(planCompaction(mixed, 3_600_000, LEVELS)).toEqual([{ ids: mixed.map((s) => s.id), level: 3 }]);
  });

  it('never groups across a segment already at that level, and never regroups a level with itself', () => {
    const segs: CompactableSegment[] = [...seconds(0, 3), { id: 'big', level: 1, to: 10_000 }, ...seconds(11, 14)];
    expect(planCompaction(segs, 31_000, LEVELS)).toEqual([
      { ids: ['s0', 's1', 's2'], level: 1 },
      { ids: ['s11', 's12', 's13'], level: 1 },
    ]);
    expect(planCompaction([{ id: 'a', level: 3, to: 1 }, { id: 'b', level: 3, to: 2 }], 1e10, LEVELS)).toEqual([]);
  });

  it('each segment lands in at most one group, groups in chain order', () => {
    const segs = seconds(0, 700);
    const groups = planCompaction(segs, 700_000, LEVELS);
    const ids = groups.flatMap((g) => g.ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(segs.slice(0, ids.length).map((s) => s.id));
    expect(groups[0]).toEqual({ ids: seconds(0, 300).map((s) => s.id), level: 2 });
  });
});
