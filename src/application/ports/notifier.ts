export type Outcome = 'success' | 'failure' | 'partial';

/** What happened, for a person reading a chat message or a machine reading a webhook. No secrets. */
export interface OutcomeEvent {
  outcome: Outcome;
  /** `slot`: a capture slot needs attention (holds too much log: outcome partial; lost: failure). */
  task: 'backup' | 'restore' | 'verify' | 'verify-restore' | 'prune' | 'test' | 'slot';
  source: string;
  kind?: string;
  backupId?: string;
  repository?: string;
  storedSize?: number;
  rawSize?: number;
  durationMs?: number;
  error?: { code: string; message: string };
  /** `--auto-full` took a full instead of the kind asked for, and why. */
  fallback?: { requested: string; reason: string };
  /** Per-target results of a multi-target backup. */
  targets?: { repository: string; ok: boolean; error?: string }[];
  /** What needs attention though nothing failed (a capture slot holding too much log). */
  warnings?: string[];
  at: string;
  host: string;
}

export interface Notifier {
  /** For logs: 'slack', 'webhook https://ops.example/…'. Never the secret part of a URL. */
  readonly name: string;
  /** True when this notifier is configured for this outcome and source. */
  wants(event: OutcomeEvent): boolean;
  /** How long an identical repeat is suppressed (0 = never). */
  readonly throttleMs: number;
  /** Delivers the event, retrying transient failures; rejects only when delivery finally failed. */
  send(event: OutcomeEvent, signal?: AbortSignal): Promise<void>;
}

/** Remembers when a notification was last sent, for throttling repeats. */
export interface NotificationThrottle {
  /** True (and records `now`) when nothing with `key` was sent within `windowMs` before `now`. */
  claim(key: string, windowMs: number, now: Date): Promise<boolean>;
}
