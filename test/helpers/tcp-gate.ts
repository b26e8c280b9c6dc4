import { type Server, type Socket, connect, createServer } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a test server that holds each new client connection until
 * `before(n)` (n counts connections from 1) has settled, then passes the bytes both ways. A test
 * uses it to act at an exact point of a client's work — "when the third connection opens, end the
 * first two" — instead of at a moment chosen by a timer. A connection whose `before` throws is cut.
 *
 * `blackhole()` is a silent network partition: from then on no byte passes either way and nothing
 * is closed (no FIN, no RST) — every connection stays open, reading nothing (so the sender's
 * buffers fill and its writes stall, as when the peer stops acknowledging), and new connections are
 * accepted but never reach the server. `blackholeAfter` does it by itself once that many bytes
 * passed from the server to the client or from the client to the server (a point inside a stream,
 * not a moment).
 */
export interface TcpGate {
  readonly port: number;
  /** Connections accepted so far. */
  readonly opened: number;
  /** Bytes passed so far, server → client and client → server. */
  readonly passed: { toClient: number; toServer: number };
  /** True once the gate has gone silent. */
  readonly silent: boolean;
  /**
   * Goes silent; with `match`, only the open connections whose first bytes from the client (up to
   * 16 KiB: the startup packet, the first statements) it accepts — one connection of several, e.g.
   * a replication stream — and the others pass on as before. Returns how many it silenced.
   */
  blackhole(match?: (head: Buffer) => boolean): number;
  /** Ends connection `n` (counted as `before` counts) both ways at once, as a server ending the session or restarting does. */
  cut(n: number): void;
  /** The first bytes (up to 16 KiB) the client sent on connection `n` (empty before it passed the gate). */
  sent(n: number): Buffer;
  stop(): Promise<void>;
}

export interface TcpGateOptions {
  /** Go silent once this many bytes passed server → client (`toClient`) or client → server (`toServer`). */
  blackholeAfter?: { toClient?: number; toServer?: number };
}

export async function startTcpGate(
  target: { host?: string; port: number },
  before: (n: number) => Promise<void> | void = () => undefined,
  options: TcpGateOptions = {},
): Promise<TcpGate> {
  const sockets = new Set<Socket>();
  const pairs: { n: number; client: Socket; upstream: Socket; head: Buffer[]; headBytes: number; silent: boolean }[] = [];
  const passed = { toClient: 0, toServer: 0 };
  let opened = 0;
  let silent = false;
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const blackhole = (match?: (head: Buffer) => boolean) => {
    if (silent) return 0;
    if (!match) silent = true;
    let n = 0;
    for (const p of pairs) {
      if (p.silent || p.client.destroyed || (match && !match(Buffer.concat(p.head)))) continue;
      n++;
      p.silent = true;
      p.client.pause();
      p.upstream.pause();
    }
    return n;
  };
  const after = options.blackholeAfter ?? {};
  /** Forwards `from` → `to` by hand (no pipe: a silent gate must hold bytes it has not passed yet). */
  const forward = (pair: (typeof pairs)[number], from: Socket, to: Socket, count: 'toClient' | 'toServer') => {
    from.on('data', (chunk: Buffer) => {
      if (silent || pair.silent) return;
      passed[count] += chunk.length;
      if (count === 'toServer' && pair.headBytes < 16 << 10) {
        pair.head.push(chunk);
        pair.headBytes += chunk.length;
      }
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => !silent && !pair.silent && from.resume());
      }
      const limit = after[count];
      if (limit !== undefined && passed[count] >= limit) blackhole();
    });
    // A half-close passes on while the gate forwards; a silent gate passes nothing, not even that.
    from.on('end', () => !silent && !pair.silent && to.end());
  };
  const server: Server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => {
    track(client);
    const n = ++opened;
    void (async () => {
      try {
        await before(n);
      } catch {
        client.destroy();
        return;
      }
      if (client.destroyed || silent) return;
      const upstream = connect({ host: target.host ?? '127.0.0.1', port: target.port, allowHalfOpen: true });
      track(upstream);
      const pair = { n, client, upstream, head: [], headBytes: 0, silent: false };
      pairs.push(pair);
      // Either side closing closes the other (as a server's process ending closes its socket).
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      forward(pair, client, upstream, 'toServer');
      forward(pair, upstream, client, 'toClient');
      client.resume();
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    get opened() {
      return opened;
    },
    passed,
    get silent() {
      return silent;
    },
    blackhole,
    cut(n) {
      const pair = pairs.find((p) => p.n === n);
      if (!pair) throw new Error(`connection ${n} has not passed the gate`);
      pair.client.destroy();
      pair.upstream.destroy();
    },
    sent: (n) => Buffer.concat(pairs.find((p) => p.n === n)?.head ?? []),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
