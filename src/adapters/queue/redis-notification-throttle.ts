import { randomUUID } from 'node:crypto';
import type { NotificationThrottle } from '../../application/ports/notifier.js';
import { type RedisCommands, withReconnect } from './redis-commands.js';

/**
 * KEYS[1]: the repeat's key; ARGV: window (ms), this claim's id. Taken when the key was free, or
 * when it holds this very claim's id: the same command resent after its reply was lost (ioredis
 * resends on reconnect) still wins, rather than suppressing the alert everywhere.
 */
const CLAIM = `
if redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1], 'NX') then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[2] then return 1 end
return 0`;

/** The fleet's notification throttle: one key per repeat, expiring with its window, so a repeat is suppressed fleet-wide, not per machine. */
export class RedisNotificationThrottle implements NotificationThrottle {
  constructor(
    private readonly redis: RedisCommands,
    private readonly options: { prefix: string; where: string; outageMs?: number },
  ) {}

  async claim(key: string, windowMs: number, _now: Date): Promise<boolean> {
    const args = [CLAIM, '1', `{${this.options.prefix}}:throttle:${key}`, String(Math.max(1, Math.round(windowMs))), randomUUID()];
    const won = await withReconnect(() => this.redis.sendCommand('EVAL', args), this.options.outageMs ?? 300_000, this.options.where, () => this.redis.lastError);
    return won === 1;
  }
}
