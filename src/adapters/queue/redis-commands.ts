import { Redis, type RedisOptions } from 'ioredis';
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from '../../application/ports/logger.js';
import { DbBackupError } from '../../domain/errors.js';

/** Where and how to reach Redis (from the `queue:` config; the password never appears in a message). */
export interface RedisEndpoint {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  /** rediss://: TLS, verified unless `rejectUnauthorized` is false; `ca` trusts a private CA. */
  tls?: Pick<ConnectionOptions, 'ca' | 'rejectUnauthorized' | 'servername'>;
  connectTimeoutMs?: number;
}

/** The part of a Redis client our stores use: one command at a time, reconnecting on its own. */
export interface RedisCommands {
  sendCommand(command: string, args: string[]): Promise<unknown>;
  quit(): Promise<unknown>;
  on(event: 'error', listener: (err: Error) => void): unknown;
  /** The last connection error (a refused login, a certificate the CA did not sign), for messages. */
  lastError?: string;
}

/** ioredis's options for an endpoint; `forQueue` as in `redisConnection`. */
function options(endpoint: RedisEndpoint, forQueue: boolean): RedisOptions {
  return {
    host: endpoint.host,
    port: endpoint.port,
    username: endpoint.username,
    password: endpoint.password,
    db: endpoint.db ?? 0,
    tls: endpoint.tls ? { ...endpoint.tls, servername: endpoint.tls.servername ?? endpoint.host } : undefined,
    connectTimeout: endpoint.connectTimeoutMs ?? 10_000,
    maxRetriesPerRequest: forQueue ? null : 1,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2_000),
  };
}

/**
 * An ioredis connection that reconnects by itself and logs, rather than throws, connection errors.
 * `forQueue`: one BullMQ's Queue/Worker use (commands wait across reconnects, as BullMQ requires);
 * otherwise a store's, whose commands fail fast while Redis is away so that `withReconnect` bounds
 * the wait and says why.
 */
export function redisConnection(endpoint: RedisEndpoint, logger: Logger, forQueue = false): { redis: Redis; lastError(): string | undefined } {
  const redis = new Redis(options(endpoint, forQueue));
  let lastError: string | undefined;
  let last = 0;
  redis.on('error', (err: Error) => {
    lastError = err.message;
    // One line per 10 s at most while Redis is away (every reconnect attempt fails the same way).
    if (Date.now() - last < 10_000) return;
    last = Date.now();
    logger.warn('Redis connection problem; reconnecting', { redis: `${endpoint.host}:${endpoint.port}`, error: err.message });
  });
  return { redis, lastError: () => lastError };
}

/** A store's client (see `redisConnection`). */
export function redisClient(endpoint: RedisEndpoint, logger: Logger): RedisCommands {
  const { redis, lastError } = redisConnection(endpoint, logger);
  return {
    sendCommand: (command, args) => redis.call(command, ...args),
    quit: () => redis.quit(),
    on: (event, listener) => redis.on(event, listener),
    get lastError() {
      return lastError();
    },
  };
}

/** True for errors that mean "Redis is not reachable right now" (worth waiting for), not a bad command. */
export function isConnectionError(err: unknown): boolean {
  const msg = (err as Error)?.message ?? '';
  return /Connection (is )?closed|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|did not answer|LOADING|socket|max retries per request|Stream isn't writeable/i.test(msg);
}

/** A refused login: waiting will not help. */
const isLoginError = (err: unknown) => /NOAUTH|WRONGPASS|invalid username-password/i.test((err as Error)?.message ?? '');

/**
 * Runs `command` and retries it while Redis is unreachable (a restart, a failover), for at most
 * `outageMs`; then fails with E_CONN_REFUSED. A refused login fails at once with E_AUTH (the server's
 * reason, never the password); other errors are thrown as they are.
 */
export async function withReconnect<T>(what: () => Promise<T>, outageMs: number, where: string, lastError?: () => string | undefined): Promise<T> {
  const deadline = Date.now() + outageMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 2_000)) {
    try {
      return await what();
    } catch (err) {
      if (!isLoginError(err) && !isConnectionError(err)) throw err;
      // The command's own error, or (past the deadline) why the connection kept failing: a refused login.
      const login = isLoginError(err) || (Date.now() > deadline && isLoginError({ message: lastError?.() }));
      if (login || Date.now() > deadline) {
        const last = lastError?.() ?? (login ? (err as Error).message : undefined);
        throw new DbBackupError(
          login ? 'E_AUTH' : 'E_CONN_REFUSED',
          login
            ? `Redis at ${where} refused the login (last error: ${last}); check the queue's username and password.`
            : `Redis at ${where} has not answered for ${Math.round(outageMs / 1000)} s${last ? ` (last error: ${last})` : ''}; check that it runs, the queue URL, its password and CA.`,
          { cause: err },
        );
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** When the Redis server last started (epoch ms, from INFO's uptime), or undefined when it does not say. */
export function upSince(info: unknown, nowMs: number): number | undefined {
  const uptime = /uptime_in_seconds:(\d+)/.exec(String(info));
  return uptime ? nowMs - (Number(uptime[1]) + 1) * 1000 : undefined;
}
