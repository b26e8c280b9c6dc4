import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface Recorded {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A real HTTP server on 127.0.0.1 that records every request. `script` answers request n
 * (0-based) with a status, or 'hang' to never answer (for timeouts); default 200.
 */
export async function startRecorder(script: (n: number) => number | 'hang' = () => 200): Promise<{ url: string; requests: Recorded[]; close(): Promise<void> }> {
  const requests: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const n = requests.length;
      requests.push({ path: req.url ?? '', headers: req.headers, body });
      const answer = script(n);
      if (answer === 'hang') return;
      res.statusCode = answer;
      res.end(answer === 200 ? 'ok' : 'error');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
