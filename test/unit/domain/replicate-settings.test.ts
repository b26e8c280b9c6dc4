import { describe, expect, it } from 'vitest';
import { parseCompaction, parseInterval, parseSegmentSize } from '../../../src/domain/replicate-settings.js';

describe('replicate settings', () => {
  it('reads intervals, sizes and compaction levels', () => {
    expect(parseInterval('500ms', '--interval')).toBe(500);
    expect(parseInterval('1s', '--interval')).toBe(1000);
    expect(parseInterval('2m', '--interval')).toBe(120_000);
    expect(parseSegmentSize('16MiB', '--segment-size')).toBe(16 << 20);
    expect(parseCompaction('30s,5m,1h', 1000, '--compaction')).toEqual([1000, 30_000, 300_000, 3_600_000]);
    expect(parseCompaction('none', 1000, '--compaction')).toEqual([1000]);
  });

  it('refuses what is out of range or not growing, naming the option (E_USAGE)', () => {
    for (const bad of ['0ms', '5ms', '2h', 'soon', '']) expect(() => parseInterval(bad, '--interval')).toThrow(/--interval/);
    for (const bad of ['1KiB', '2GiB', 'big']) expect(() => parseSegmentSize(bad, '--segment-size')).toThrow(/--segment-size/);
    expect(() => parseCompaction('5m,30s', 1000, '--compaction')).toThrow(/longer than the one before/);
    expect(() => parseCompaction('30s', 60_000, '--compaction')).toThrow(/longer/);
    expect(() => parseCompaction('500ms', 100, 'replicate[0].compaction')).toThrow(/replicate\[0\]\.compaction.*1s to 24h/);
  });
});
