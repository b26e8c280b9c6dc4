import { isIP, connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

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

type Reply = string | number | null | Error | Reply[];

/** Thrown for every command in flight or sent while the connection is down (BullMQ's Bun adapter knows this text). */
const CLOSED = 'Connection closed';

/**
 * A minimal RESP2 client: one socket, commands pipelined in order, replies as strings, numbers,
 * arrays, null. It has the shape BullMQ's `createBunRedisClient` wraps (send/connect/close/
 * duplicate with onconnect/onclose callbacks), which adds reconnects and Lua script handling.
 * It exists because the project ships no Redis driver (ioredis/node-redis are optional peers of
 * bullmq that are not installed); replace it with `ioredis` when that package is added.
 */
export class RespClient {
  connected = false;
  onconnect: ((...args: unknown[]) => void) | null = null;
  onclose: ((...args: unknown[]) => void) | null = null;
  onerror: ((...args: unknown[]) => void) | null = null;
  private socket?: Socket;
  /** Why the connection is being closed (a refused login), reported instead of "Connection closed". */
  private failure?: Error;
  private buffer: Buffer = Buffer.alloc(0);
  private readonly pending: { resolve(v: Reply): void; reject(e: Error): void }[] = [];

  constructor(readonly endpoint: RedisEndpoint) {}

  async connect(): Promise<void> {
    if (this.connected) return;
    const e = this.endpoint;
    let socket: Socket;
    try {
      socket = await this.open();
    } catch (err) {
      // A connect that fails is a close too: BullMQ's adapter then schedules the next attempt.
      this.onclose?.(err);
      throw err;
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.onerror?.(err));
    socket.on('close', () => this.closed(this.failure ?? new Error(`${CLOSED} (Redis at ${e.host}:${e.port})`)));
    this.connected = true;
    try {
      if (e.password !== undefined) await this.send('AUTH', e.username ? [e.username, e.password] : [e.password]);
      if (e.db) await this.send('SELECT', [String(e.db)]);
    } catch (err) {
      // The server's own words (WRONGPASS…) hold no secret; the password is never echoed.
      this.failure = new Error(`Redis at ${e.host}:${e.port} refused the login: ${(err as Error).message}`);
      this.close();
      throw this.failure;
    }
    this.onconnect?.();
  }

  private open(): Promise<Socket> {
    const e = this.endpoint;
    return new Promise<Socket>((resolve, reject) => {
      const s = e.tls ? tlsConnect({ host: e.host, port: e.port, servername: e.tls.servername ?? (isIP(e.host) ? undefined : e.host), ...e.tls }) : tcpConnect({ host: e.host, port: e.port });
      const timer = setTimeout(() => s.destroy(new Error(`Redis at ${e.host}:${e.port} did not answer within ${e.connectTimeoutMs ?? 10_000} ms`)), e.connectTimeoutMs ?? 10_000);
      s.once(e.tls ? 'secureConnect' : 'connect', () => (clearTimeout(timer), resolve(s)));
      s.once('error', (err) => (clearTimeout(timer), reject(err)));
    });
  }

  send<T = unknown>(command: string, args: (string | Buffer)[]): Promise<T> {
    if (!this.connected || !this.socket) return Promise.reject(new Error(CLOSED));
    const parts: Buffer[] = [Buffer.from(`*${args.length + 1}\r\n$${Buffer.byteLength(command)}\r\n${command}\r\n`)];
    for (const a of args) {
      const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
    }
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ resolve: resolve as (v: Reply) => void, reject });
      this.socket!.write(Buffer.concat(parts));
    });
  }

  get(key: string) {
    return this.send<string | null>('GET', [key]);
  }
  smembers(key: string) {
    return this.send<string[]>('SMEMBERS', [key]);
  }
  incr(key: string) {
    return this.send<number>('INCR', [key]);
  }

  close(): void {
    this.socket?.destroy();
  }

  async duplicate(): Promise<this> {
    return new RespClient(this.endpoint) as this;
  }

  private closed(err: Error): void {
    if (!this.connected) return;
    this.connected = false;
    this.socket = undefined;
    for (const p of this.pending.splice(0)) p.reject(err);
    this.onclose?.(err);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    let offset = 0;
    for (;;) {
      const parsed = parseReply(this.buffer, offset);
      if (!parsed) break;
      offset = parsed.end;
      const p = this.pending.shift();
      if (!p) continue;
      if (parsed.value instanceof Error) p.reject(parsed.value);
      else p.resolve(parsed.value);
    }
    this.buffer = offset === this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(offset);
  }
}

/** One reply starting at `at`, or undefined while it is incomplete. */
function parseReply(buf: Buffer, at: number): { value: Reply; end: number } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[at]!);
  const line = buf.toString('utf8', at + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new Error(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      if (buf.length < next + n + 2) return undefined;
      return { value: buf.toString('utf8', next, next + n), end: next + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const items: Reply[] = [];
      let pos = next;
      for (let i = 0; i < n; i++) {
        const item = parseReply(buf, pos);
        if (!item) return undefined;
        items.push(item.value);
        pos = item.end;
      }
      return { value: items, end: pos };
    }
    default:
      throw new Error(`Unexpected reply from Redis (type byte ${buf[at]})`);
  }
}
