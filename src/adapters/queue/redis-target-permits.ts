import type { PermitRequest, TargetPermits } from '../../application/ports/target-permits.js';
import { type RedisCommands, upSince, withReconnect } from './redis-commands.js';

/**
 * ARGV: expired (permits that expired before this are dropped), expiry, holder, then (key, limit)
 * pairs. A permit is a member of the target's sorted set scored by its expiry: expired ones are
 * dropped first, then all are taken or none.
 */
const ACQUIRE = `
local expired, expiry, holder = tonumber(ARGV[1]), ARGV[2], ARGV[3]
for i = 4, #ARGV, 2 do
  local key = KEYS[1] .. ARGV[i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', expired)
  if not redis.call('ZSCORE', key, holder) and redis.call('ZCARD', key) >= tonumber(ARGV[i + 1]) then return 0 end
end
for i = 4, #ARGV, 2 do redis.call('ZADD', KEYS[1] .. ARGV[i], expiry, holder) end
return 1`;

/** ARGV: expiry, holder, then keys: extends the permits the holder still has. */
const RENEW = `
for i = 3, #ARGV do redis.call('ZADD', KEYS[1] .. ARGV[i], 'XX', ARGV[1], ARGV[2]) end
return 0`;

/** Per-target permits as Redis sorted sets (`{prefix}:permits:<target>`), leases that a dead holder loses after their TTL. */
export class RedisTargetPermits implements TargetPermits {
  private readonly prefix: string;

  constructor(
    private readonly redis: RedisCommands,
    private readonly options: { prefix: string; where: string; outageMs?: number },
  ) {
    this.prefix = `{${options.prefix}}:permits:`;
  }

  /**
   * No permit counts as expired until Redis has been up for ttlMs: a holder cannot renew while Redis
   * is down, so after an outage longer than the TTL every live holder's permit would look dead and
   * the limit would be exceeded (as the schedule store's locks, see restartGrace).
   */
  async tryAcquire(requests: PermitRequest[], holder: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const since = upSince(await this.run('INFO', ['server']), now);
    const expired = since !== undefined && since > now - ttlMs ? 0 : now;
    const args = requests.flatMap((r) => [r.key, String(r.limit)]);
    return (await this.eval(ACQUIRE, [String(expired), String(now + ttlMs), holder, ...args])) === 1;
  }

  async renew(keys: string[], holder: string, ttlMs: number): Promise<void> {
    await this.eval(RENEW, [String(Date.now() + ttlMs), holder, ...keys]);
  }

  async release(keys: string[], holder: string): Promise<void> {
    for (const key of keys) await this.run('ZREM', [`${this.prefix}${key}`, holder]);
  }

  private eval(source: string, args: string[]): Promise<unknown> {
    return this.run('EVAL', [source, '1', this.prefix, ...args]);
  }

  private run(command: string, args: string[]): Promise<unknown> {
    return withReconnect(() => this.redis.sendCommand(command, args), this.options.outageMs ?? 300_000, this.options.where, () => this.redis.lastError);
  }
}
