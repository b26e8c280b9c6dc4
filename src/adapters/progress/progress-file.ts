import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ProgressReporter } from '../../application/ports/progress.js';
import { redact } from '../../infrastructure/redact.js';

/** At most this many bytes of a progress file are read: anything larger is not ours. */
export const MAX_PROGRESS_FILE = 4096;
const MAX_TEXT = 300;

/**
 * What a run (a scheduler daemon's job) publishes about itself for other processes (the
 * dashboard): the figures of the CLI's progress line, and who writes it. No secret: the label
 * (`backup main`) and the object (`public.orders`) are what a terminal shows, redacted once more.
 */
export interface ProgressRecord {
  v: 1;
  /** The file's name without `.json`; a run is known by it. */
  run: string;
  schedule?: string;
  source?: string;
  label: string;
  bytes: number;
  total?: number;
  elapsedMs: number;
  object?: string;
  host: string;
  pid: number;
  /** When this was written (ISO). */
  at: string;
}

/** The folder of the per-run progress files under a data dir. */
export function progressFolder(dataDir: string): string {
  return join(dataDir, 'progress');
}

/**
 * The progress port as a small file `<folder>/<run>.json` (0600 in a 0700 folder), rewritten at
 * most every `intervalMs` by a temp file and a rename (a reader never sees half a record), and
 * removed at `stop()` and `close()`. Writing is best effort: progress never fails the run.
 */
export class FileProgress implements ProgressReporter {
  readonly run = `${process.pid}-${randomBytes(6).toString('hex')}`;
  private readonly file: string;
  private label = '';
  private total: number | undefined;
  private bytes = 0;
  private object: string | undefined;
  private startedAt = 0;
  private lastWrite = 0;
  private active = false;

  constructor(
    private readonly folder: string,
    private readonly about: { schedule?: string; source?: string } = {},
    private readonly intervalMs = 1000,
  ) {
    this.file = join(folder, `${this.run}.json`);
  }

  start(label: string, totalBytes?: number): void {
    this.label = label;
    this.total = totalBytes;
    this.bytes = 0;
    this.object = undefined;
    this.startedAt = Date.now();
    this.active = true;
    this.write();
  }

  advance(bytes: number, object?: string): void {
    this.bytes += bytes;
    if (object) this.object = object;
    if (this.active && Date.now() - this.lastWrite >= this.intervalMs) this.write();
  }

  expect(bytes: number): void {
    if (bytes > 0) this.total = (this.total ?? 0) + bytes;
  }

  stop(): void {
    this.active = false;
    this.remove();
  }

  /** Removes the file whatever happened (the run ends). */
  close(): void {
    this.stop();
  }

  private write(): void {
    this.lastWrite = Date.now();
    const record: ProgressRecord = {
      v: 1,
      run: this.run,
      ...this.about,
      label: redact(this.label).slice(0, MAX_TEXT),
      bytes: this.bytes,
      ...(this.total !== undefined ? { total: this.total } : {}),
      elapsedMs: this.lastWrite - this.startedAt,
      ...(this.object ? { object: redact(this.object).slice(0, MAX_TEXT) } : {}),
      host: hostname(),
      pid: process.pid,
      at: new Date(this.lastWrite).toISOString(),
    };
    // Synchronous on purpose: a write still under way when stop() removes the file would bring it back.
    const temp = `${this.file}.${randomBytes(3).toString('hex')}.tmp`;
    try {
      mkdirSync(this.folder, { recursive: true, mode: 0o700 });
      writeFileSync(temp, JSON.stringify(record), { mode: 0o600, flag: 'wx' });
      renameSync(temp, this.file);
    } catch {
      rmSync(temp, { force: true });
    }
  }

  private remove(): void {
    try {
      rmSync(this.file, { force: true });
    } catch {
      // best effort: a reader ignores the file of a process that is gone
    }
  }
}

const str = (v: unknown, optional: boolean) => (v === undefined ? optional : typeof v === 'string' && v.length <= MAX_TEXT);
const count = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** A progress file's text as a record, or undefined when it is not a well-formed one (untrusted input). */
export function parseProgressRecord(text: string): ProgressRecord | undefined {
  if (text.length > MAX_PROGRESS_FILE) return undefined;
  let r: Partial<ProgressRecord>;
  try {
    r = JSON.parse(text) as Partial<ProgressRecord>;
  } catch {
    return undefined;
  }
  if (typeof r !== 'object' || r === null || r.v !== 1) return undefined;
  const ok =
    typeof r.run === 'string' &&
    /^[\w-]{1,64}$/.test(r.run) &&
    str(r.schedule, true) &&
    str(r.source, true) &&
    str(r.label, false) &&
    str(r.object, true) &&
    str(r.host, false) &&
    str(r.at, false) &&
    count(r.bytes) &&
    count(r.elapsedMs) &&
    (r.total === undefined || count(r.total)) &&
    Number.isInteger(r.pid) &&
    (r.pid as number) > 0;
  if (!ok) return undefined;
  const { run, schedule, source, label, bytes, total, elapsedMs, object, host, pid, at } = r as ProgressRecord;
  return { v: 1, run, schedule, source, label, bytes, total, elapsedMs, object, host, pid, at };
}
