import { describe, expect, it } from 'vitest';
import { parseCron } from '../../../src/domain/schedule-cron.js';
import { longestGap } from '../../../src/domain/schedule-time.js';

describe('longestGap: how long a change log must reach back for a schedule', () => {
  const from = Date.parse('2026-12-07T00:00:00Z');
  it('is the longest wait between two firings', () => {
    expect(longestGap(parseCron('0 2 * * *'), 'UTC', from)).toBe(24 * 3_600_000);
    expect(longestGap(parseCron('0 2 * * 1-5'), 'UTC', from)).toBe(3 * 24 * 3_600_000);
    expect(longestGap(parseCron('*/15 * * * *'), 'UTC', from)).toBe(15 * 60_000);
  });
  it('is undefined for a schedule that fires fewer than twice in the days looked at', () => {
    expect(longestGap(parseCron('0 2 1 1 *'), 'UTC', from)).toBeUndefined();
  });
});
