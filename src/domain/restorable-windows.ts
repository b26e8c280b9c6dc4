import { type ChainMember, type ChainPath, cheapestPaths, restorableOf } from './chain-graph.js';

/** A span of time every instant of which a restore reaches exactly; `from === to` for a single point. */
export interface RestorableWindow {
  from: string;
  to: string;
}

/**
 * The restorable windows of ONE source, oldest first (`list --windows`): the restorable ranges of
 * every backup whose chain is intact, merged where they overlap or touch. Fulls and links of engines
 * without replay are single points; a continuous run of replayable links is one window. Between
 * windows a restore reaches the end of the window before (the newest point at or before TIME).
 */
export function restorableWindows<T extends ChainMember>(
  backups: readonly T[],
  paths: ReadonlyMap<string, ChainPath<T>> = cheapestPaths(backups),
): RestorableWindow[] {
  const ranges = backups
    .filter((b) => paths.has(b.id))
    .map(restorableOf)
    .sort((a, b) => a.from - b.from || a.to - b.to);
  const merged: { from: number; to: number }[] = [];
  for (const r of ranges) {
    const last = merged.at(-1);
    if (last && r.from <= last.to) last.to = Math.max(last.to, r.to);
    else merged.push({ ...r });
  }
  return merged.map((w) => ({ from: new Date(w.from).toISOString(), to: new Date(w.to).toISOString() }));
}

/** `2026-01-01T00:00:00.000Z … 2026-01-02T06:00:00.000Z, 2026-01-03T00:00:00.000Z` (or `none`). */
export function describeWindows(windows: readonly RestorableWindow[]): string {
  if (windows.length === 0) return 'none';
  return windows.map((w) => (w.from === w.to ? w.from : `${w.from} … ${w.to}`)).join(', ');
}

/** True when `at` falls inside a window (not in a gap after one). */
export function isInWindow(windows: readonly RestorableWindow[], at: Date): boolean {
  const t = at.getTime();
  return windows.some((w) => Date.parse(w.from) <= t && t <= Date.parse(w.to));
}
