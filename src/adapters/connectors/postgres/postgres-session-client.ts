import type pg from 'pg';
import { type PgEndpoint, openClient } from './connection.js';

/** How long the kept connection may sit idle before it is closed (a long `replicate` holds no idle server process). */
const IDLE_MS = 10_000;

/**
 * The one SQL connection a backup session's short steps take turns on: the connection test (the
 * retrying connector's and the use-case's), an incremental's checks and closing queries, the slot
 * confirmation and the slot list after it. Each used to open its own connection (a TCP handshake,
 * authentication and a server process each, ~5 per incremental). A step that finds the connection
 * busy (steps that overlap) gets a connection of its own, as before; a step that fails, or a
 * connection the server closed, leaves nothing behind to be reused. `keep: false` opens and closes
 * a connection per step (for callers that never close()).
 */
export class SessionClient {
  private client: Promise<pg.Client> | undefined;
  private busy = false;
  private idle: NodeJS.Timeout | undefined;

  constructor(
    private readonly endpoint: PgEndpoint,
    private readonly keep = true,
  ) {}

  /** Runs `fn` on the session's connection (opened on first use); the connection is the caller's only until `fn` settles. */
  async use<T>(fn: (sql: pg.Client) => Promise<T>): Promise<T> {
    if (!this.keep || this.busy) return own(this.endpoint, fn);
    this.busy = true;
    clearTimeout(this.idle);
    try {
      const pending = (this.client ??= this.open());
      let out: T;
      try {
        out = await fn(await pending);
      } catch (err) {
        // Failed to open, or failed midway (perhaps inside a transaction, perhaps on a dead socket): never reused.
        await this.forget(pending);
        throw err;
      }
      // A step must leave the connection as it found it: outside a transaction.
      if ((await pending).getTransactionStatus() !== 'I') await this.forget(pending);
      return out;
    } finally {
      this.busy = false;
      if (this.client) {
        this.idle = setTimeout(() => void this.close(), IDLE_MS);
        this.idle.unref();
      }
    }
  }

  /**
   * Hands the kept connection over for good, when there is one and no step is using it: a
   * backup's dump reads its snapshot on the connection the session's test opened instead of a new
   * one (a TCP handshake, authentication and a server process fewer). The caller closes it; a
   * later use() opens a new one. Undefined when there is none to hand over.
   */
  take(): Promise<pg.Client> | undefined {
    const pending = this.client;
    if (!pending || this.busy) return undefined;
    clearTimeout(this.idle);
    this.client = undefined;
    return pending;
  }

  /** Closes the kept connection, if any; a later use() opens a new one. */
  async close(): Promise<void> {
    clearTimeout(this.idle);
    if (this.client) await this.forget(this.client);
  }

  private open(): Promise<pg.Client> {
    const pending = openClient(this.endpoint);
    // Closed by the server (or the network) while it sat idle: the next step opens another.
    pending.then((sql) => sql.once('end', () => void (this.client === pending && this.forget(pending))), () => undefined);
    return pending;
  }

  /** Stops reusing `pending` (if it is still the kept connection) and closes it. */
  private async forget(pending: Promise<pg.Client>): Promise<void> {
    if (this.client === pending) this.client = undefined;
    const sql = await pending.catch(() => undefined);
    await sql?.end().catch(() => undefined);
  }
}

async function own<T>(endpoint: PgEndpoint, fn: (sql: pg.Client) => Promise<T>): Promise<T> {
  const sql = await openClient(endpoint);
  try {
    return await fn(sql);
  } finally {
    await sql.end().catch(() => undefined);
  }
}
