import type { NotificationThrottle } from '../../application/ports/notifier.js';
import { type RedisCommands, withReconnect } from './redis-commands.js';

/** The fleet's notification throttle: one key per repeat, expiring with its window, so a repeat is suppressed fleet-wide, not per machine. */
export class RedisNotificationThrottle implements NotificationThrottle {
  constructor(
    private readonly redis: RedisCommands,
    private readonly options: { prefix: string; where: string; outageMs?: number },
  ) {}

  async claim(key: string, windowMs: number, _now: Date): Promise<boolean> {
    const set = await withReconnect(
      () => this.redis.sendCommand('SET', [`{${this.options.prefix}}:throttle:${key}`, '1', 'PX', String(Math.max(1, windowMs)), 'NX']),
      this.options.outageMs ?? 300_000,
      this.options.where,
    );
    return set === 'OK';
  }
}
