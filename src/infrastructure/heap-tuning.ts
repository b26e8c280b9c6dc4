import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** The young generation's size (both semi-spaces) past which it no longer grows. */
const YOUNG_LIMIT = 8 << 20;

/**
 * Stops V8's young generation from growing past 8 MiB (4 MiB semi-spaces) instead of 32 MiB
 * (16 MiB ones). A streaming backup or restore allocates few JS objects but many Buffers; their
 * memory is freed only when a collection finds their small wrappers dead, so a large young
 * generation both costs its own ~25 MiB and lets tens of MiB of dead chunk buffers pile up between
 * scavenges. Kept at its initial 1–2 MiB it went too far the other way: chunks lived through two
 * scavenges, were promoted, and waited for a full collection (SQLite chain restores peaked higher).
 *
 * How: `--max-semi-space-size` is read once, when the heap is set up, so it has no effect from
 * inside the program; the growth factor is read each time the young generation would grow. So
 * the young generation grows as usual until it reaches the limit (seen after a collection), then
 * the factor becomes 1. (Given on the command line, V8 raises a factor below 2 to 2 at start-up;
 * set here, after start-up, 1 holds.) Process-wide: worker threads started later get it too.
 */
export function capYoungGeneration(): void {
  if (youngSize() >= YOUNG_LIMIT) return stopGrowing();
  const observer = new PerformanceObserver(() => {
    if (youngSize() < YOUNG_LIMIT) return;
    stopGrowing();
    observer.disconnect();
  });
  observer.observe({ entryTypes: ['gc'] });
}

function youngSize(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

function stopGrowing(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}
