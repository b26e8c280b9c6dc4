import type { Notifier } from '../application/ports/notifier.js';
import { SlackNotifier } from '../adapters/notifiers/slack-notifier.js';
import { WebhookNotifier } from '../adapters/notifiers/webhook-notifier.js';
import type { NotificationConfig } from '../infrastructure/config/schema.js';
import { parseDuration } from '../infrastructure/rotating-file.js';

/** Builds the notifiers a config declares. Failures default to on; repeats are throttled for 1 h. */
export function buildNotifiers(configs: NotificationConfig[] = []): Notifier[] {
  return configs.map((c) => {
    const common = {
      url: c.url,
      on: c.on ?? ['failure', 'partial'],
      sources: c.sources,
      timeoutMs: c.timeout ? parseDuration(c.timeout) : 10_000,
      retries: c.retries ?? 3,
      throttleMs: c.throttle ? parseDuration(c.throttle) : 0,
    };
    return c.type === 'slack' ? new SlackNotifier(common) : new WebhookNotifier({ ...common, secret: c.secret, headers: c.headers });
  });
}
