import { describe, expect, it } from 'vitest';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { cronProblem, parseCron } from '../../../src/domain/schedule-cron.js';
import { lastRunBetween, nextRun, runsBetween } from '../../../src/domain/schedule-time.js';

const at = (iso: string) => Date.parse(iso);
const next = (cron: string, zone: string, after: string) => {
  const t = nextRun(parseCron(cron), zone, at(after));
  return t === undefined ? undefined : new Date(t).toISOString();
};
const series = (cron: string, zone: string, after: string, n: number) => {
  const out: string[] = [];
  let t = at(after);
  for (let i = 0; i < n; i++) {
    t = nextRun(parseCron(cron), zone, t)!;
    out.push(new Date(t).toISOString());
  }
  return out;
};

describe('parseCron', () => {
  it('accepts 5 fields, 6 with seconds, macros, names, ranges, steps and lists', () => {
    for (const ok of ['0 2 * * *', '*/15 * * * *', '0 0 * * MON-FRI', '0 0 1 JAN,jul *', '*/5 * * * * *', '0 0 12 ? * 7', '@daily', '@HOURLY', '@weekly', '@monthly', '@yearly', '@annually', '@midnight', '5/10 * * * *', '0 0-23/6 * * *']) {
      expect(cronProblem(ok), ok).toBeUndefined();
    }
  });

  it('rejects a bad expression with the reason', () => {
    const cases: [string, RegExp][] = [
      ['61 * * * *', /61 is out of range 0-59 in the minute field/],
      ['* * *', /3 fields; expected 5, or 6 with seconds/],
      ['@reboot', /unknown macro @reboot/],
      ['0 0 31 2 *', /never runs/],
      ['5-1 * * * *', /runs backwards/],
      ['*/0 * * * *', /step "0" must be a whole number of at least 1/],
      ['0 25 * * *', /25 is out of range 0-23 in the hour field/],
      ['0 0 * * FUNDAY', /"FUNDAY" is not a number or a name in the day-of-week field/],
      ['0 0 1,,2 * *', /empty list item/],
      ['', /empty/],
    ];
    for (const [expr, reason] of cases) expect(cronProblem(expr), expr).toMatch(reason);
    try {
      parseCron('0 25 * * *');
      expect.unreachable();
    } catch (err) {
      expect(isDbBackupError(err, 'E_USAGE')).toBe(true);
      expect((err as Error).message).toMatch(/Invalid cron expression "0 25 \* \* \*": 25 is out of range/);
    }
  });
});

describe('next run in UTC and fixed-offset zones', () => {
  it('handles seconds, macros and leap days', () => {
    expect(next('*/10 * * * * *', 'UTC', '2026-11-25T12:00:05Z')).toBe('2026-11-25T12:00:10.000Z');
    expect(next('* * * * * *', 'UTC', '2026-11-25T12:00:05.400Z')).toBe('2026-11-25T12:00:06.000Z');
    expect(next('@daily', 'UTC', '2026-11-25T12:00:00Z')).toBe('2026-11-26T00:00:00.000Z');
    expect(next('@hourly', 'UTC', '2026-11-25T12:00:00Z')).toBe('2026-11-25T13:00:00.000Z');
    expect(next('@weekly', 'UTC', '2026-11-25T12:00:00Z')).toBe('2026-11-29T00:00:00.000Z');
    expect(next('@yearly', 'UTC', '2026-11-25T12:00:00Z')).toBe('2027-01-01T00:00:00.000Z');
    expect(next('0 0 29 2 *', 'UTC', '2026-03-01T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z');
  });

  it('matches either day field when both are restricted (Vixie cron)', () => {
    // 2026-11-13 is a Friday; the 13th or any Friday.
    expect(series('0 0 13 * 5', 'UTC', '2026-11-01T00:00:00Z', 4)).toEqual([
      '2026-11-06T00:00:00.000Z',
      '2026-11-13T00:00:00.000Z',
      '2026-11-20T00:00:00.000Z',
      '2026-11-27T00:00:00.000Z',
    ]);
    expect(next('0 0 * * 7', 'UTC', '2026-11-25T00:00:00Z')).toBe('2026-11-29T00:00:00.000Z');
  });

  it('computes in the schedule\'s zone', () => {
    expect(next('0 0 * * *', 'Asia/Kolkata', '2026-01-01T00:00:00Z')).toBe('2026-01-01T18:30:00.000Z');
    expect(next('0 2 * * *', 'Europe/Berlin', '2026-11-25T00:00:00Z')).toBe('2026-11-25T01:00:00.000Z');
    expect(next('0 2 * * *', 'Europe/Berlin', '2026-06-30T12:00:00Z')).toBe('2026-07-01T00:00:00.000Z');
    // Weekdays at 09:00 New York: over the March 2026 change the UTC time moves from 14:00 to 13:00.
    expect(series('0 9 * * 1-5', 'America/New_York', '2026-03-05T15:00:00Z', 3)).toEqual([
      '2026-03-06T14:00:00.000Z',
      '2026-03-09T13:00:00.000Z',
      '2026-03-10T13:00:00.000Z',
    ]);
  });
});

describe('next run across DST changes', () => {
  it('spring forward: a skipped wall time runs once, when the clocks jump', () => {
    // Europe/Berlin 2026-03-29: 02:00 CET → 03:00 CEST (01:00Z); 02:30 does not exist that day.
    expect(series('30 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', 3)).toEqual([
      '2026-03-29T01:00:00.000Z',
      '2026-03-30T00:30:00.000Z',
      '2026-03-31T00:30:00.000Z',
    ]);
    // Two skipped times collapse into one run.
    expect(series('0,30 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', 2)).toEqual(['2026-03-29T01:00:00.000Z', '2026-03-30T00:00:00.000Z']);
    // Lord Howe shifts by 30 minutes: 02:00 → 02:30 on 2026-10-04 (15:30Z the day before).
    expect(next('15 2 * * *', 'Australia/Lord_Howe', '2026-10-03T00:00:00Z')).toBe('2026-10-03T15:30:00.000Z');
  });

  it('spring forward: an hourly-or-faster schedule just skips the missing hour', () => {
    expect(series('*/30 * * * *', 'Europe/Berlin', '2026-03-29T00:00:00Z', 3)).toEqual([
      '2026-03-29T00:30:00.000Z',
      '2026-03-29T01:00:00.000Z',
      '2026-03-29T01:30:00.000Z',
    ]);
  });

  it('fall back: a repeated wall time runs once, at its first occurrence', () => {
    // Europe/Berlin 2026-10-25: 03:00 CEST → 02:00 CET (01:00Z); 02:30 happens at 00:30Z and 01:30Z.
    expect(series('30 2 * * *', 'Europe/Berlin', '2026-10-24T12:00:00Z', 2)).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    // America/New_York 2026-11-01: 02:00 EDT → 01:00 EST (06:00Z); 01:30 happens at 05:30Z and 06:30Z.
    expect(series('30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', 2)).toEqual(['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z']);
  });

  it('fall back: an hourly-or-faster schedule follows real time through the repeated hour', () => {
    expect(series('*/30 * * * *', 'Europe/Berlin', '2026-10-25T00:00:00Z', 4)).toEqual([
      '2026-10-25T00:30:00.000Z',
      '2026-10-25T01:00:00.000Z',
      '2026-10-25T01:30:00.000Z',
      '2026-10-25T02:00:00.000Z',
    ]);
    // Starting inside the first pass of the repeated hour.
    expect(series('30 * * * *', 'America/New_York', '2026-11-01T05:40:00Z', 2)).toEqual(['2026-11-01T06:30:00.000Z', '2026-11-01T07:30:00.000Z']);
  });

  it('an hourly-or-faster schedule fires exactly when a brute-force scan of real time says so', () => {
    const wallMatches = (instant: number, zone: string, minuteStep: number, secondStep: number) => {
      const p = Object.fromEntries(
        new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', minute: 'numeric', second: 'numeric' })
          .formatToParts(new Date(instant))
          .map((x) => [x.type, Number(x.value)]),
      );
      return p.minute! % minuteStep === 0 && p.second! % secondStep === 0;
    };
    const cases: [string, string, number, number, string][] = [
      ['*/7 * * * *', 'Europe/Berlin', 7, 60, '2026-10-24T22:00:00Z'],
      ['*/7 * * * *', 'Europe/Berlin', 7, 60, '2026-03-28T22:00:00Z'],
      ['*/10 * * * *', 'America/New_York', 10, 60, '2026-11-01T03:00:00Z'],
      ['*/10 * * * *', 'Australia/Lord_Howe', 10, 60, '2026-10-03T13:00:00Z'],
      ['*/10 * * * *', 'Australia/Lord_Howe', 10, 60, '2026-04-04T13:00:00Z'],
      ['*/20 * * * * *', 'Europe/Berlin', 1, 20, '2026-10-24T23:30:00Z'],
      ['*/20 * * * * *', 'Europe/Berlin', 1, 20, '2026-03-28T23:30:00Z'],
    ];
    for (const [cron, zone, minuteStep, secondStep, start] of cases) {
      const from = at(start);
      const until = from + 5 * 3_600_000;
      const expected: number[] = [];
      const step = secondStep === 60 ? 60_000 : 1000;
      for (let i = from + step; i <= until; i += step) if (wallMatches(i, zone, minuteStep, secondStep)) expected.push(i);
      const actual: number[] = [];
      for (let t = nextRun(parseCron(cron), zone, from)!; t <= until; t = nextRun(parseCron(cron), zone, t)!) actual.push(t);
      expect(actual.map((t) => new Date(t).toISOString()), `${cron} ${zone} from ${start}`).toEqual(expected.map((t) => new Date(t).toISOString()));
    }
  });

  it('finds the last run in a window, for every-second and yearly schedules alike', () => {
    const e = parseCron('* * * * * *');
    expect(new Date(lastRunBetween(e, 'UTC', at('2026-01-01T00:00:00Z'), at('2026-11-25T12:00:05.500Z'))!).toISOString()).toBe('2026-11-25T12:00:05.000Z');
    const y = parseCron('@yearly');
    expect(new Date(lastRunBetween(y, 'UTC', at('2020-06-01T00:00:00Z'), at('2026-11-25T12:00:00Z'))!).toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(lastRunBetween(y, 'UTC', at('2026-01-01T00:00:00Z'), at('2026-11-25T12:00:00Z'))).toBeUndefined();
    const r = runsBetween(parseCron('* * * * *'), 'UTC', at('2026-11-25T12:00:00Z'), at('2026-11-25T12:10:00Z'), 5);
    expect(r.runs.map((t) => new Date(t).toISOString().slice(11, 16))).toEqual(['12:01', '12:02', '12:03', '12:04', '12:05']);
    expect(r.more).toBe(true);
  });
});
