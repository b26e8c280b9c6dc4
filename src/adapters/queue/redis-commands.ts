import { createBunRedisClient } from 'bullmq';
import type { Logger } from '../../application/ports/logger.js';
import { DbBackupError } from '../../domain/errors.js';
import { RespClient, type RedisEndpoint } from './resp-client.js';

/** The part of BullMQ's client adapter we use: one command at a time, reconnecting on its own. */
export interface RedisCommands {
  sendCommand(command: string, args: string[]): Promise<unknown>;
  quit(): Promise<unknown>;
  on(event: 'error', listener: (err: Error) => void): unknown;
  /** The last connection error (a refused login, a certificate the CA did not sign), for messages. */
  lastError?: string;
}

/** A client (BullMQ's adapter over RespClient) that reconnects by itself and logs, rather than throws, connection errors. */
export function redisClient(endpoint: RedisEndpoint, logger: Logger): RedisCommands {
  const client = createBunRedisClient(new RespClient(endpoint) as never) as unknown as RedisCommands;
  let last = 0;
  client.on('error', (err) => {
    client.lastError = err.message;
    // One line per 10 s at most while Redis is away (every reconnect attempt fails the same way).
    if (Date.now() - last < 10_000) return;
    last = Date.now();
    logger.warn('Redis connection problem; reconnecting', { redis: `${endpoint.host}:${endpoint.port}`, error: err.message });
  });
  return client;
}

/** True for errors that mean "Redis is not reachable right now" (worth waiting for), not a bad command. */
export function isConnectionError(err: unknown): boolean {
  const msg = (err as Error)?.message ?? '';
  return /Connection (is )?closed|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|did not answer|LOADING|socket/i.test(msg);
}

/**
 * Runs `command` and retries it while Redis is unreachable (a restart, a failover), for at most
 * `outageMs`; then fails with E_CONN_REFUSED. Other errors are thrown at once.
 */
export async function withReconnect<T>(what: () => Promise<T>, outageMs: number, where: string, lastError?: () => string | undefined): Promise<T> {
  const deadline = Date.now() + outageMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 2_000)) {
    try {
      return await what();
    } catch (err) {
      if (!isConnectionError(err)) throw err;
      if (Date.now() > deadline) {
        const last = lastError?.();
        throw new DbBackupError(
          'E_CONN_REFUSED',
          `Redis at ${where} has not answered for ${Math.round(outageMs / 1000)} s${last ? ` (last error: ${last})` : ''}; check that it runs, the queue URL, its password and CA.`,
          { cause: err },
        );
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
