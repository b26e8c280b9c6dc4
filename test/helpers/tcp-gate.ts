import { type Server, type Socket, connect, createServer } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a test server that holds each new client connection until
 * `before(n)` (n counts connections from 1) has settled, then passes the bytes both ways. A test
 * uses it to act at an exact point of a client's work — "when the third connection opens, end the
 * first two" — instead of at a moment chosen by a timer. A connection whose `before` throws is cut.
 */
export interface TcpGate {
  readonly port: number;
  /** Connections accepted so far. */
  readonly opened: number;
  stop(): Promise<void>;
}

export async function startTcpGate(target: { host?: string; port: number }, before: (n: number) => Promise<void> | void = () => undefined): Promise<TcpGate> {
  const sockets = new Set<Socket>();
  let opened = 0;
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    track(client);
    const n = ++opened;
    void (async () => {
      try {
        await before(n);
      } catch {
        client.destroy();
        return;
      }
      if (client.destroyed) return;
      const upstream = connect({ host: target.host ?? '127.0.0.1', port: target.port });
      track(upstream);
      // Either side closing closes the other (as a server's process ending closes its socket).
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
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
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
