import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface RotationPolicy {
  /** Rotate when the current file would pass this many bytes. */
  maxBytes: number;
  /** Keep at most this many rotated files (`app.log.1` … `app.log.N`). */
  maxFiles: number;
  /** Delete rotated files older than this. */
  maxAgeMs: number;
}

/**
 * An append-only log file that rotates by size (app.log → app.log.1 → …) and prunes rotated
 * files by count and age. Writes are synchronous so a crash loses no line already logged.
 */
export class RotatingFile {
  private fd: number;
  private size: number;

  constructor(
    readonly path: string,
    private readonly policy: RotationPolicy,
  ) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.fd = openSync(path, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
    this.prune();
  }

  /**
   * Appends a line. Several processes may share the file (cron runs, a daemon): a rotation another
   * process already did, or a file pruned under us, is not an error, and logging never throws.
   */
  write(line: string): void {
    const bytes = Buffer.from(line, 'utf8');
    try {
      if (this.size > 0 && this.size + bytes.length > this.policy.maxBytes) this.rotate();
      writeSync(this.fd, bytes);
      this.size += bytes.length;
    } catch {
      /* a log line lost is better than a failed backup */
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  private rotate(): void {
    closeSync(this.fd);
    // Another process may have rotated a moment ago: if the file is already small again, keep it.
    const current = safe(() => statSync(this.path).size);
    if (current === undefined || current + 1 > this.policy.maxBytes) {
      for (let i = this.policy.maxFiles - 1; i >= 1; i--) {
        const from = `${this.path}.${i}`;
        if (existsSync(from)) safe(() => renameSync(from, `${this.path}.${i + 1}`));
      }
      safe(() => renameSync(this.path, `${this.path}.1`));
    }
    this.fd = openSync(this.path, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
    this.prune();
  }

  private prune(): void {
    const dir = dirname(this.path);
    const base = basename(this.path);
    const now = Date.now();
    for (const name of safe(() => readdirSync(dir)) ?? []) {
      const m = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)$`).exec(name);
      if (!m) continue;
      const file = join(dir, name);
      const mtime = safe(() => statSync(file).mtimeMs);
      if (mtime !== undefined && (Number(m[1]) > this.policy.maxFiles || now - mtime > this.policy.maxAgeMs)) safe(() => rmSync(file, { force: true }));
    }
  }
}

/** Runs `fn`, or returns undefined if it throws (a file another process moved or removed). */
function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

export function parseSize(text: string): number {
  const m = /^(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$/i.exec(text.trim());
  if (!m) throw new Error(`bad size ${text}`);
  const unit = (m[2] ?? 'B').toLowerCase();
  const mult: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };
  return Number(m[1]) * mult[unit]!;
}

export function parseDuration(text: string): number {
  const m = /^(\d+)\s*(s|m|h|d|w|y)$/.exec(text.trim());
  if (!m) throw new Error(`bad duration ${text}`);
  const mult: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3, y: 365 * 86400e3 };
  return Number(m[1]) * mult[m[2]!]!;
}
