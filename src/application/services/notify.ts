import type { Logger } from '../ports/logger.js';
import type { Notifier, NotificationThrottle, OutcomeEvent } from '../ports/notifier.js';

/**
 * Sends `event` to every notifier that wants it, at once. A failing notifier is logged and never
 * fails the operation; identical repeats (same notifier, source, outcome and error code) inside
 * the notifier's throttle window are suppressed.
 */
export async function notifyAll(
  notifiers: readonly Notifier[],
  event: OutcomeEvent,
  deps: { logger: Logger; throttle?: NotificationThrottle; now: Date },
): Promise<{ sent: string[]; failed: string[]; throttled: string[] }> {
  const result = { sent: [] as string[], failed: [] as string[], throttled: [] as string[] };
  await Promise.all(
    notifiers
      .filter((n) => n.wants(event))
      .map(async (n) => {
        const key = `${n.name}|${event.task}|${event.source}|${event.outcome}|${event.error?.code ?? ''}`;
        if (n.throttleMs > 0 && deps.throttle && !(await deps.throttle.claim(key, n.throttleMs, deps.now))) {
          result.throttled.push(n.name);
          deps.logger.info('notification suppressed (repeat within the throttle window)', { notifier: n.name });
          return;
        }
        try {
          await n.send(event);
          result.sent.push(n.name);
        } catch (err) {
          result.failed.push(n.name);
          deps.logger.warn('notification failed', { notifier: n.name, error: (err as Error).message });
        }
      }),
  );
  return result;
}
