import { describe, expect, it } from 'vitest';
import { formatDuration, progressLine, TerminalProgress } from '../../../src/infrastructure/progress.js';

const MiB = 1024 * 1024;

describe('progress line', () => {
  it('shows the percentage and the time left when the total is known', () => {
    const line = progressLine({ label: 'restore x', bytes: 100 * MiB, total: 400 * MiB, elapsedMs: 10_000, object: 'public.orders' });
    expect(line).toBe('restore x: 100.0 MiB of 400.0 MiB 25.0% at 10.0 MiB/s, 30s left  public.orders');
  });

  it('without a total: bytes and rate only', () => {
    expect(progressLine({ label: 'backup app', bytes: 3 * MiB, elapsedMs: 2000 })).toBe('backup app: 3.0 MiB at 1.5 MiB/s');
  });

  it('no time left before a second of data, nor past the total (an estimate can be low)', () => {
    expect(progressLine({ label: 'l', bytes: MiB, total: 2 * MiB, elapsedMs: 500 })).not.toContain('left');
    expect(progressLine({ label: 'l', bytes: 0, total: 2 * MiB, elapsedMs: 5000 })).not.toContain('left');
    const over = progressLine({ label: 'l', bytes: 3 * MiB, total: 2 * MiB, elapsedMs: 3000 });
    expect(over).toContain('100.0%');
    expect(over).toContain('0s left');
  });

  it('formats durations to the precision a reader needs', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(6.2)).toBe('7s');
    expect(formatDuration(125)).toBe('2m05s');
    expect(formatDuration(3 * 3600 + 4 * 60 + 9)).toBe('3h04m');
    expect(formatDuration(200 * 3600)).toBe('200h');
  });
});

describe('TerminalProgress', () => {
  it('a part of known size gives the line a total (a SQLite backup shows its percentage)', () => {
    let written = '';
    const out = { columns: 200, write: (s: string) => ((written += s), true) } as unknown as NodeJS.WriteStream;
    const p = new TerminalProgress(out);
    p.start('backup app');
    p.expect(4 * MiB);
    p.advance(MiB, 'main');
    expect(written).toContain('1.0 MiB of 4.0 MiB 25.0%');
    p.stop();
  });
});
