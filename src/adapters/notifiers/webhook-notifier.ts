import { createHmac } from 'node:crypto';
import type { Notifier, OutcomeEvent } from '../../application/ports/notifier.js';
import { type NotifierFilter, safeUrlLabel, wants } from './event-filter.js';
import { postWithRetry } from './http-post.js';

export interface WebhookOptions extends NotifierFilter {
  url: string;
  /** HMAC-SHA256 key; when set, each request carries `X-DbBackup-Signature: sha256=<hex>`. */
  secret?: string;
  headers?: Record<string, string>;
  timeoutMs: number;
  retries: number;
  throttleMs: number;
}

/**
 * A JSON POST of the event (the payload is the OutcomeEvent plus `version: 1`). The signature is
 * HMAC-SHA256 over `<timestamp>.<body>`, with the timestamp in `X-DbBackup-Timestamp`, so a
 * receiver can reject replays.
 */
export class WebhookNotifier implements Notifier {
  readonly name: string;
  readonly throttleMs: number;

  constructor(private readonly options: WebhookOptions) {
    this.name = `webhook ${safeUrlLabel(options.url)}`;
    this.throttleMs = options.throttleMs;
  }

  wants(event: OutcomeEvent): boolean {
    return wants(this.options, event);
  }

  async send(event: OutcomeEvent): Promise<void> {
    const body = JSON.stringify({ version: 1, ...event });
    const headers: Record<string, string> = { ...this.options.headers };
    if (this.options.secret) {
      const timestamp = String(Math.floor(Date.parse(event.at) / 1000));
      headers['x-dbbackup-timestamp'] = timestamp;
      headers['x-dbbackup-signature'] = `sha256=${createHmac('sha256', this.options.secret).update(`${timestamp}.${body}`).digest('hex')}`;
    }
    await postWithRetry(this.options.url, body, { headers, timeoutMs: this.options.timeoutMs, retries: this.options.retries, label: this.name });
  }
}
