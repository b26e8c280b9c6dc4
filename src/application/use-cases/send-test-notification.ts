import { hostname } from 'node:os';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { Notifier } from '../ports/notifier.js';
import { notifyAll } from '../services/notify.js';

/** `dbbackup notify test`: one test message through every configured channel, unthrottled. */
export class SendTestNotification {
  constructor(private readonly deps: { notifiers: Notifier[]; logger: Logger; clock: Clock }) {}

  async execute(): Promise<{ channels: string[]; sent: string[]; failed: string[] }> {
    const now = this.deps.clock.now();
    const result = await notifyAll(
      this.deps.notifiers,
      { outcome: 'success', task: 'test', source: 'test', at: now.toISOString(), host: hostname() },
      { logger: this.deps.logger, now },
    );
    return { channels: this.deps.notifiers.map((n) => n.name), sent: result.sent, failed: result.failed };
  }
}
