import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresConnector } from '../../../src/adapters/connectors/postgres/postgres-connector.js';
import { type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';
import { createDatabase } from './fixtures.js';

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgres();
  await createDatabase(
    server,
    'sized',
    `CREATE TABLE public.bulk (id int PRIMARY KEY, v text); INSERT INTO public.bulk SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, 20000) i;
     CREATE TABLE public.small (id int); INSERT INTO public.small VALUES (1), (2);`,
  );
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

describe('PostgreSQL dump: size estimate for the progress line', () => {
  it('tells the tables’ heap size before the data flows, near what COPY streams', async () => {
    const session = await new PostgresConnector({ partSize: 64 << 10 }).connect(
      { engine: 'postgres', host: '127.0.0.1', port: server.port, user: 'postgres', database: 'sized' },
      'backup',
    );
    const estimates: number[] = [];
    let dataBytes = 0;
    let bytesAtEstimate: number | undefined;
    const sink = {
      write: async (spec: { name: string; role: string }, body: AsyncIterable<Buffer>) => {
        for await (const chunk of body) if (spec.role === 'data') dataBytes += chunk.length;
        return { name: spec.name, role: spec.role, codecs: [], rawSize: 0, storedSize: 0, sha256: '' };
      },
    };
    try {
      const request = { kind: 'full' as const, parallel: 2, estimate: (n: number) => void (estimates.push(n), (bytesAtEstimate ??= dataBytes)) };
      await session.dump(request, sink as never, new AbortController().signal);
    } finally {
      await session.close();
    }
    expect(estimates).toHaveLength(1);
    expect(bytesAtEstimate).toBe(0);
    expect(dataBytes).toBeGreaterThan(2_000_000);
    expect(estimates[0]).toBeGreaterThan(dataBytes / 3);
    expect(estimates[0]).toBeLessThan(dataBytes * 3);
  });
});
