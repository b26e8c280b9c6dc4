import type { Notifier, OutcomeEvent } from '../../application/ports/notifier.js';
import { formatBytes } from '../../infrastructure/progress.js';
import { type NotifierFilter, wants } from './event-filter.js';
import { postWithRetry } from './http-post.js';

export interface SlackOptions extends NotifierFilter {
  /** Incoming-webhook URL (a secret: it is never logged). */
  url: string;
  timeoutMs: number;
  retries: number;
  throttleMs: number;
}

const ICON = { success: ':white_check_mark:', failure: ':x:', partial: ':warning:' } as const;

/** A Slack incoming-webhook message: one readable line plus the facts an on-call person needs. */
export class SlackNotifier implements Notifier {
  readonly name = 'slack';
  readonly throttleMs: number;

  constructor(private readonly options: SlackOptions) {
    this.throttleMs = options.throttleMs;
  }

  wants(event: OutcomeEvent): boolean {
    return wants(this.options, event);
  }

  async send(event: OutcomeEvent): Promise<void> {
    await postWithRetry(this.options.url, JSON.stringify({ text: slackText(event) }), {
      timeoutMs: this.options.timeoutMs,
      retries: this.options.retries,
      label: 'Slack',
    });
  }
}

export function slackText(e: OutcomeEvent): string {
  const head =
    e.task === 'test'
      ? `:bell: dbbackup test message from ${e.host}`
      : e.task === 'slot'
        ? `${ICON[e.outcome]} dbbackup: the capture slot of *${e.source}* needs attention on ${e.host}`
        : `${ICON[e.outcome]} dbbackup ${e.task} of *${e.source}* ${e.outcome === 'success' ? 'succeeded' : e.outcome === 'partial' ? 'partly failed' : 'FAILED'} on ${e.host}`;
  const facts = [
    e.kind && `kind: ${e.kind}`,
    e.fallback && `took a full instead of ${/^[aeiou]/.test(e.fallback.requested) ? 'an' : 'a'} ${e.fallback.requested}: ${e.fallback.reason}`,
    e.backupId && `backup: ${e.backupId}`,
    e.storedSize !== undefined && `size: ${formatBytes(e.storedSize)}`,
    e.durationMs !== undefined && `duration: ${(e.durationMs / 1000).toFixed(1)} s`,
    e.repository && `repository: ${e.repository}`,
    e.error && `error: ${e.error.code}: ${e.error.message}`,
    ...(e.error ? [] : (e.warnings ?? []).map((w) => `warning: ${w}`)),
    ...(e.targets ?? []).map((t) => `${t.ok ? 'ok' : 'FAILED'} → ${t.repository}${t.error ? ` (${t.error})` : ''}`),
  ].filter(Boolean);
  return [head, ...facts.map((f) => `• ${f}`)].join('\n');
}
