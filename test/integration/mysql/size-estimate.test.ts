import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlConnector } from '../../../src/adapters/connectors/mysql/mysql-connector.js';
import { type MariaDbServer, startMariaDb } from '../../helpers/mariadb-server.js';
import { target } from './harness.js';

describe('MySQL dump: size estimate for the progress line (MariaDB)', () => {
  let server: MariaDbServer;

  beforeAll(async () => {
    server = await startMariaDb();
    await server.query(`
      CREATE DATABASE sized;
      CREATE TABLE sized.filler (id INT PRIMARY KEY, pad VARCHAR(200));
      INSERT INTO sized.filler SELECT seq, REPEAT('x', 150) FROM mysql.seq_1_to_50000;
      ANALYZE TABLE sized.filler;`);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('tells the tables’ size from information_schema before the data flows, near what the dump streams', async () => {
    const session = await new MysqlConnector().connect(target(server, 'sized'), 'backup');
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
    expect(dataBytes).toBeGreaterThan(5_000_000);
    expect(estimates[0]).toBeGreaterThan(dataBytes / 3);
    expect(estimates[0]).toBeLessThan(dataBytes * 3);
  });
});
