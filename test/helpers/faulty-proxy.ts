import { Agent, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse, createServer, request } from 'node:http';

/**
 * A reverse HTTP proxy in front of a test server that injects faults: answer the next N matching
 * requests with a status (500/503), cut the connection after part of the request body arrived
 * ('drop': a transfer that dies mid-part), or rewrite response headers (a tampered checksum).
 */
export interface FaultyProxy {
  endpoint: string;
  port: number;
  failNext(count: number, fault: Fault, match?: Matcher): void;
  /** Every matching response gets its headers passed through `rewrite` (until `clearFaults`). */
  rewriteResponses(match: Matcher, rewrite: (headers: IncomingHttpHeaders) => IncomingHttpHeaders, body?: BodyRewrite): void;
  clearFaults(): void;
  /** Faults injected so far. */
  readonly injected: { method: string; url: string; fault: Fault }[];
  /** Requests forwarded so far. */
  forwarded: number;
  stop(): Promise<void>;
}

export type Matcher = (req: IncomingMessage) => boolean;
/** Rewrites a (small, buffered) response body; Content-Length follows it. */
export type BodyRewrite = (body: Buffer) => Buffer;
/** An answer the proxy gives instead of forwarding: a status with the service's own headers and error body. */
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}
/**
 * A status to answer with; 'drop' cuts the connection mid-request-body; 'cut' mid-response-body
 * (after 256 KiB); 'truncate' sends half the response body (headers as the server sent them,
 * Content-Length included) and closes; 'stall' reads the request and never answers (until stop).
 */
export type Fault = number | Answer | 'drop' | 'cut' | 'truncate' | 'stall';

export async function startFaultyProxy(target: { host?: string; port: number }): Promise<FaultyProxy> {
  const host = target.host ?? '127.0.0.1';
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  let faults: { count: number; fault: Fault; match: Matcher }[] = [];
  let rewrites: { match: Matcher; rewrite: (h: IncomingHttpHeaders) => IncomingHttpHeaders; body?: BodyRewrite }[] = [];
  const injected: FaultyProxy['injected'] = [];
  const state = { forwarded: 0 };
  const stalled = new Set<ServerResponse>();

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const f = faults.find((x) => x.count > 0 && x.match(req));
    let cut: 'cut' | 'truncate' | undefined;
    if (f?.fault === 'cut' || f?.fault === 'truncate') {
      f.count--;
      injected.push({ method: req.method ?? '', url: req.url ?? '', fault: f.fault });
      cut = f.fault;
    } else if (f?.fault === 'stall') {
      f.count--;
      injected.push({ method: req.method ?? '', url: req.url ?? '', fault: 'stall' });
      req.resume();
      stalled.add(res);
      return;
    } else if (f) {
      f.count--;
      injected.push({ method: req.method ?? '', url: req.url ?? '', fault: f.fault });
      if (f.fault === 'drop') {
        let seen = 0;
        req.on('data', (d: Buffer) => {
          seen += d.length;
          if (seen >= 64 * 1024) req.socket.destroy();
        });
        req.once('end', () => req.socket.destroy());
        return;
      }
      const answer: Answer = typeof f.fault === 'number' ? { status: f.fault } : (f.fault as Answer);
      const status = answer.status;
      req.resume();
      req.once('end', () => {
        // By default an S3-style error; an Answer carries the service's own headers and body.
        const body = answer.body ?? `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${status === 503 ? 'SlowDown' : 'InternalError'}</Code><Message>injected</Message></Error>`;
        res.writeHead(status, { 'Content-Type': 'application/xml', ...answer.headers, 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
        res.end(body);
      });
      return;
    }
    state.forwarded++;
    const rewrite = rewrites.find((r) => r.match(req));
    const upstream = request(
      { host, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
      (up) => {
        const headers = rewrite ? rewrite.rewrite({ ...up.headers }) : up.headers;
        if (rewrite?.body) {
          const chunks: Buffer[] = [];
          up.on('data', (d: Buffer) => chunks.push(d));
          up.once('error', () => res.destroy());
          up.once('end', () => {
            const body = rewrite.body!(Buffer.concat(chunks));
            const { 'transfer-encoding': _, ...rest } = headers;
            res.writeHead(up.statusCode ?? 502, { ...rest, 'content-length': String(body.length) });
            res.end(body);
          });
          return;
        }
        res.writeHead(up.statusCode ?? 502, headers);
        if (cut === 'truncate') {
          const length = Number(up.headers['content-length'] ?? 0);
          let sent = 0;
          up.on('data', (d: Buffer) => {
            const room = Math.floor(length / 2) - sent;
            if (room > 0) res.write(d.subarray(0, room));
            sent += Math.min(d.length, Math.max(0, room));
            if (sent >= Math.floor(length / 2)) {
              up.destroy();
              res.socket?.end();
            }
          });
          up.once('end', () => res.socket?.end());
          return;
        }
        if (cut) {
          // Send part of the body, then cut the connection.
          let sent = 0;
          up.on('data', (d: Buffer) => {
            sent += d.length;
            if (sent > 256 * 1024) {
              up.destroy();
              res.socket?.destroy();
            } else res.write(d);
          });
          return;
        }
        up.pipe(res);
        up.once('error', () => res.destroy());
      },
    );
    upstream.once('error', () => res.destroy());
    req.once('error', () => upstream.destroy());
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    injected,
    get forwarded() {
      return state.forwarded;
    },
    set forwarded(n: number) {
      state.forwarded = n;
    },
    failNext: (count, fault, match = () => true) => void faults.push({ count, fault, match }),
    rewriteResponses: (match, rewrite, body) => void rewrites.push({ match, rewrite, body }),
    clearFaults: () => {
      faults = [];
      rewrites = [];
    },
    stop: async () => {
      for (const r of stalled) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
