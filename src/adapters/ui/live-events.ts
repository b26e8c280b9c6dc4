import { EventEmitter } from 'node:events';
import type { ProgressReporter } from '../../application/ports/progress.js';
import { progressLine } from '../../infrastructure/progress.js';

/** What the page receives over server-sent events. */
export type LiveEvent =
  | {
      type: 'progress';
      /** A job of this dashboard; or `run` (with its schedule and source): a scheduler daemon's run, read from its progress file. */
      job?: number;
      run?: string;
      schedule?: string;
      source?: string;
      label: string;
      bytes: number;
      total?: number;
      elapsedMs: number;
      object?: string;
      line: string;
      done: boolean;
    }
  | { type: 'job'; job: JobView };

export interface JobView {
  id: number;
  action: 'backup' | 'verify' | 'pin' | 'unpin' | 'restore-dry-run';
  /** The source, or the backup id, it acts on. */
  subject: string;
  state: 'running' | 'succeeded' | 'failed';
  startedAt: string;
  finishedAt?: string;
  /** One line for the page: what came of it (a backup id, "intact", the error code and message). */
  summary?: string;
  errorCode?: string;
}

/** The events of this dashboard process, fanned out to every open page. */
export class LiveEvents {
  private readonly emitter = new EventEmitter();
  /** The job a progress line belongs to (jobs run one at a time). */
  currentJob: number | undefined;

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  publish(event: LiveEvent): void {
    this.emitter.emit('event', event);
  }

  subscribe(listener: (event: LiveEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}

/**
 * The progress port for a dashboard: the same figures the CLI's progress line shows (bytes, total,
 * rate, time left, object, and the line itself), published at most every `intervalMs` and once at
 * the end, so a page shows what a terminal would.
 */
export class BroadcastProgress implements ProgressReporter {
  private label = '';
  private total: number | undefined;
  private bytes = 0;
  private object: string | undefined;
  private startedAt = 0;
  private lastSent = 0;

  constructor(
    private readonly events: LiveEvents,
    private readonly intervalMs = 250,
  ) {}

  start(label: string, totalBytes?: number): void {
    this.label = label;
    this.total = totalBytes;
    this.bytes = 0;
    this.object = undefined;
    this.startedAt = Date.now();
    this.lastSent = 0;
    this.send(false);
  }

  advance(bytes: number, object?: string): void {
    this.bytes += bytes;
    if (object) this.object = object;
    if (Date.now() - this.lastSent >= this.intervalMs) this.send(false);
  }

  expect(bytes: number): void {
    if (bytes > 0) this.total = (this.total ?? 0) + bytes;
  }

  stop(): void {
    this.send(true);
  }

  private send(done: boolean): void {
    this.lastSent = Date.now();
    const state = { label: this.label, bytes: this.bytes, total: this.total, elapsedMs: this.lastSent - this.startedAt, object: this.object };
    this.events.publish({ type: 'progress', job: this.events.currentJob, ...state, line: progressLine(state), done });
  }
}
