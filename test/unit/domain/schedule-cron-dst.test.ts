import { describe, expect, it } from 'vitest';
import { cronProblem, parseCron } from '../../../src/domain/schedule-cron.js';
import { lastRunBetween, nextRun } from '../../../src/domain/schedule-time.js';

const at = (iso: string) => Date.parse(iso);
const series = (cron: string, zone: string, after: string, n: number) => {
  const out: string[] = [];
  let t = at(after);
  for (let i = 0; i < n; i++) {
    t = nextRun(parseCron(cron), zone, t)!;
    out.push(new Date(t).toISOString());
  }
  return out;
};

describe('cron expressions that repeat within a fixed hour, across DST changes', () => {
  it('a step in the minute field follows real time: a skipped hour is skipped, a repeated one runs twice', () => {
    // Europe/Berlin 2026-03-29: 02:00-03:00 does not exist; the 02:xx runs of that day are skipped.
    expect(series('*/30 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', 3)).toEqual([
      '2026-03-30T00:00:00.000Z',
      '2026-03-30T00:30:00.000Z',
      '2026-03-31T00:00:00.000Z',
    ]);
    // 2026-10-25: 02:00-03:00 happens twice (00:00Z-01:00Z, then 01:00Z-02:00Z).
    expect(series('*/30 2 * * *', 'Europe/Berlin', '2026-10-24T12:00:00Z', 4)).toEqual([
      '2026-10-25T00:00:00.000Z',
      '2026-10-25T00:30:00.000Z',
      '2026-10-25T01:00:00.000Z',
      '2026-10-25T01:30:00.000Z',
    ]);
    expect(new Date(lastRunBetween(parseCron('*/30 2 * * *'), 'Europe/Berlin', at('2026-10-24T12:00:00Z'), at('2026-10-25T12:00:00Z'))!).toISOString()).toBe(
      '2026-10-25T01:30:00.000Z',
    );
  });

  it('a list of fixed times stays fixed: the skipped ones run once at the jump', () => {
    expect(series('0 2,3 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', 2)).toEqual(['2026-03-29T01:00:00.000Z', '2026-03-30T00:00:00.000Z']);
  });
});

describe('cron syntax from croner', () => {
  it('takes the last-day, nearest-weekday and nth-weekday modifiers', () => {
    expect(new Date(nextRun(parseCron('0 0 L * *'), 'UTC', at('2026-02-10T00:00:00Z'))!).toISOString()).toBe('2026-02-28T00:00:00.000Z');
    expect(new Date(nextRun(parseCron('0 0 * * FRI#2'), 'UTC', at('2026-11-01T00:00:00Z'))!).toISOString()).toBe('2026-11-13T00:00:00.000Z');
    expect(cronProblem('0 0 15W * *')).toBeUndefined();
  });

  it('names the field of every other mistake', () => {
    expect(cronProblem('*/90 * * * *')).toBe('the minute field "*/90" steps by more than the field\'s range 0-59');
    expect(cronProblem('0 0 1 13 *')).toBe('13 is out of range 1-12 in the month field');
    expect(cronProblem('0 0 5/ * *')).toBe('the day-of-month field step "" must be a whole number of at least 1');
    expect(cronProblem('1-2-3 * * * *')).toMatch(/^the minute field "1-2-3": /);
  });
});
