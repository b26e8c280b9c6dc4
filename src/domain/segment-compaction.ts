/**
 * Compaction of continuous log segments by age, so a restore reads a few large objects instead of
 * a thousand tiny ones (and prune/list stay cheap): segments are cut every second (level 0), then
 * every closed 30 s bucket of them becomes one segment (level 1), every closed 5 min bucket of
 * those one (level 2), every closed hour one (level 3). A bucket is closed once `now` is past its
 * end, so a compacted segment never has to grow again.
 */
export const DEFAULT_COMPACTION_LEVELS_MS: readonly number[] = [1_000, 30_000, 300_000, 3_600_000];

export interface CompactableSegment {
  id: string;
  /** 0 for a segment as shipped; the level it was compacted to otherwise. */
  level: number;
  /** ms: the end of the span it restores to (its last commit). */
  to: number;
}

export interface CompactionGroup {
  /** Consecutive segments, in chain order, that become one. */
  ids: string[];
  level: number;
}

/**
 * Plans compactions over the segments of ONE generation given in chain order (each follows the
 * one before). For each level from the highest down, runs of consecutive segments of a lower
 * level whose ends fall into the same closed bucket of that level's width form a group (two or
 * more: one alone gains nothing). A segment goes into at most one group.
 */
export function planCompaction(segments: readonly CompactableSegment[], now: number, levels: readonly number[] = DEFAULT_COMPACTION_LEVELS_MS): CompactionGroup[] {
  const taken = new Set<string>();
  const groups: CompactionGroup[] = [];
  for (let level = levels.length - 1; level >= 1; level--) {
    const width = levels[level]!;
    let run: CompactableSegment[] = [];
    let bucket = Number.NaN;
    const close = () => {
      if (run.length >= 2) {
        groups.push({ ids: run.map((s) => s.id), level });
        for (const s of run) taken.add(s.id);
      }
      run = [];
    };
    for (const s of segments) {
      const b = Math.floor(s.to / width);
      const eligible = !taken.has(s.id) && s.level < level && (b + 1) * width <= now;
      if (!eligible || b !== bucket) close();
      bucket = b;
      if (eligible) run.push(s);
    }
    close();
  }
  return groups.sort((a, b) => segments.findIndex((s) => s.id === a.ids[0]) - segments.findIndex((s) => s.id === b.ids[0]));
}
