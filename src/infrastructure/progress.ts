import type { ProgressReporter } from '../application/ports/progress.js';

export class NullProgress implements ProgressReporter {
  start(): void {}
  advance(): void {}
  stop(): void {}
}

/** One self-rewriting line on a terminal: label, bytes, rate, percent when known, current object. */
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

  stop(): void {
    if (this.drawn) this.out.write('\r\x1b[2K');
    this.drawn = false;
  }

  private draw(now: number): void {
    const seconds = Math.max((now - this.startedAt) / 1000, 0.001);
    const pct = this.total ? ` ${Math.min(100, (this.bytes / this.total) * 100).toFixed(1)}%` : '';
    const line = `${this.label}: ${formatBytes(this.bytes)}${pct} at ${formatBytes(this.bytes / seconds)}/s${this.object ? `  ${this.object}` : ''}`;
    const width = this.out.columns ?? 100;
    this.out.write(`\r\x1b[2K${line.slice(0, width - 1)}`);
    this.drawn = true;
  }
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
