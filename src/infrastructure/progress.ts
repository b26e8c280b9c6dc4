import type { ProgressReporter } from '../application/ports/progress.js';

export class NullProgress implements ProgressReporter {
  start(): void {}
  advance(): void {}
  expect(): void {}
  stop(): void {}
}

/** One self-rewriting line on a terminal: label, bytes, rate, percent and time left when the total is known, current object. */
export class TerminalProgress implements ProgressReporter {
  private label = '';
  private total: number | undefined;
  private bytes = 0;
  private object = '';
  private startedAt = 0;
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {}

  start(label: string, totalBytes?: number): void {
    this.label = label;
    this.total = totalBytes;
    this.bytes = 0;
    this.startedAt = Date.now();
    this.lastDraw = 0;
  }

  advance(bytes: number, object?: string): void {
    this.bytes += bytes;
    if (object) this.object = object;
    const now = Date.now();
    if (now - this.lastDraw >= 100) {
      this.lastDraw = now;
      this.draw(now);
    }
  }

  expect(bytes: number): void {
    if (bytes > 0) this.total = (this.total ?? 0) + bytes;
  }

  stop(): void {
    if (this.drawn) this.out.write('\r\x1b[2K');
    this.drawn = false;
  }

  private draw(now: number): void {
    const line = progressLine({ label: this.label, bytes: this.bytes, total: this.total, elapsedMs: now - this.startedAt, object: this.object });
    const width = this.out.columns ?? 100;
    this.out.write(`\r\x1b[2K${line.slice(0, width - 1)}`);
    this.drawn = true;
  }
}

/** What one progress line shows; `total` when it is known (then the percentage and the time left). */
export interface ProgressState {
  label: string;
  bytes: number;
  total?: number;
  elapsedMs: number;
  object?: string;
}

/** `restore 01J…: 1.5 GiB of 4.0 GiB 37.5% at 52.0 MiB/s, 49s left  public.orders`, as restic shows it. */
export function progressLine(state: ProgressState): string {
  const seconds = Math.max(state.elapsedMs / 1000, 0.001);
  const rate = state.bytes / seconds;
  let amount = formatBytes(state.bytes);
  let left = '';
  if (state.total && state.total > 0) {
    const done = Math.min(state.bytes, state.total);
    amount += ` of ${formatBytes(state.total)} ${((done / state.total) * 100).toFixed(1)}%`;
    // Only once a second of data says how fast it goes: a first burst would promise too much.
    if (state.bytes > 0 && state.elapsedMs >= 1000) left = `, ${formatDuration((state.total - done) / rate)} left`;
  }
  return `${state.label}: ${amount} at ${formatBytes(rate)}/s${left}${state.object ? `  ${state.object}` : ''}`;
}

/** 7s, 2m05s, 3h04m: the time left, to the precision a reader needs. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(s / 3600);
  return h >= 100 ? `${h}h` : `${h}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}
