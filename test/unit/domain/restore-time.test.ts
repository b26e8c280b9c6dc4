import { describe, expect, it } from 'vitest';
import { parseRestoreTime } from '../../../src/domain/restore-time.js';

const iso = (v: Date | 'latest') => (v === 'latest' ? v : v.toISOString());

describe('parseRestoreTime', () => {
  it('reads latest and RFC 3339 with an offset (which wins over --time-zone)', () => {
    expect(parseRestoreTime('latest')).toBe('latest');
    expect(parseRestoreTime(' LATEST ')).toBe('latest');
    expect(iso(parseRestoreTime('2026-11-25T14:30:00Z'))).toBe('2026-11-25T14:30:00.000Z');
    expect(iso(parseRestoreTime('2026-11-25t14:30:00z'))).toBe('2026-11-25T14:30:00.000Z');
    expect(iso(parseRestoreTime('2026-11-25 15:30:00+01:00', 'America/New_York'))).toBe('2026-11-25T14:30:00.000Z');
    expect(iso(parseRestoreTime('2026-11-25T09:00-05:30'))).toBe('2026-11-25T14:30:00.000Z');
    expect(iso(parseRestoreTime('2026-11-25T14:30:00.123456789Z'))).toBe('2026-11-25T14:30:00.123Z'); // rounded down
    expect(iso(parseRestoreTime('2026-11-25T14:30:00.5Z'))).toBe('2026-11-25T14:30:00.500Z');
  });

  it('reads a local time in the given IANA zone, summer and winter', () => {
    expect(iso(parseRestoreTime('2026-07-01 12:00', 'Europe/Berlin'))).toBe('2026-07-01T10:00:00.000Z');
    expect(iso(parseRestoreTime('2026-01-01T12:00:00', 'Europe/Berlin'))).toBe('2026-01-01T11:00:00.000Z');
    expect(iso(parseRestoreTime('2026-01-01T12:00:00.250', 'Asia/Kolkata'))).toBe('2026-01-01T06:30:00.250Z');
    expect(iso(parseRestoreTime('2026-01-01T12:00', 'UTC'))).toBe('2026-01-01T12:00:00.000Z');
  });

  it('refuses a local time skipped or repeated by a DST change instead of guessing', () => {
    // Europe/Berlin: 2026-03-29 02:00 → 03:00; 2026-10-25 03:00 → 02:00.
    expect(() => parseRestoreTime('2026-03-29 02:30', 'Europe/Berlin')).toThrowError(/does not exist in Europe\/Berlin/);
    expect(() => parseRestoreTime('2026-10-25 02:30', 'Europe/Berlin')).toThrowError(/happens twice in Europe\/Berlin \(at \+02:00 and \+01:00\)/);
    expect(iso(parseRestoreTime('2026-10-25 02:30+01:00'))).toBe('2026-10-25T01:30:00.000Z');
    expect(iso(parseRestoreTime('2026-03-29 03:00', 'Europe/Berlin'))).toBe('2026-03-29T01:00:00.000Z');
  });

  it('refuses local times without a zone, unknown zones, impossible dates and other text with E_USAGE', () => {
    for (const [text, zone, message] of [
      ['2026-01-01T12:00', undefined, /no UTC offset.*--time-zone/],
      ['2026-01-01T12:00', 'Mars/Olympus', /Unknown time zone "Mars\/Olympus"/],
      ['2026-02-30T12:00:00Z', undefined, /not a real date/],
      ['2026-01-01T24:00:00Z', undefined, /not a real date/],
      ['2026-01-01T12:00:60Z', undefined, /not a real date/],
      ['2026-01-01T12:00:00+25:00', undefined, /Cannot read the time/],
      ['yesterday', undefined, /Cannot read the time "yesterday".*latest.*RFC 3339/],
      ['2026-01-01', 'UTC', /Cannot read the time/],
      ['1700000000', undefined, /Cannot read the time/],
    ] as const) {
      expect(() => parseRestoreTime(text, zone), text).toThrowError(expect.objectContaining({ code: 'E_USAGE', message: expect.stringMatching(message) }));
    }
  });
});
