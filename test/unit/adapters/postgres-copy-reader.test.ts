// CopyOutQuery's framing against a stand-in for pg's connection, and the parallel plans: no server
// (the same reader against PostgreSQL is in test/integration/postgres/postgres-copy-reader.test.ts).
import { EventEmitter } from 'node:events';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { CopyOutQuery } from '../../../src/adapters/connectors/postgres/postgres-copy-reader.js';
import { loadsInParallel } from '../../../src/adapters/connectors/postgres/postgres-restore.js';
import { planJobs } from '../../../src/adapters/connectors/postgres/postgres-copy-out.js';
import type { DataTable } from '../../../src/adapters/connectors/postgres/postgres-schema-model.js';

/** One protocol message: code byte, int32 length (itself included), body. */
const message = (code: string, body: Buffer | string) => {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const head = Buffer.alloc(5);
  head.write(code, 0, 'latin1');
  head.writeUInt32BE(b.length + 4, 1);
  return Buffer.concat([head, b]);
};

/** A stand-in for pg's Connection: a socket-like emitter with pg's own data listener on it. */
function fakeConnection() {
  const stream = Object.assign(new EventEmitter(), { pause() {}, resume() {}, destroy() {} });
  const handedBack: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => handedBack.push(Buffer.from(chunk)));
  return { connection: { stream, query() {} } as unknown as pg.Connection, stream, handedBack };
}

async function drain(query: CopyOutQuery): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of query) out.push(Buffer.from(chunk));
  return Buffer.concat(out);
}

describe('CopyOutQuery framing', () => {
  const rows = [Buffer.from('1\tone\n'), Buffer.from('2\t\\N\n'), Buffer.alloc(200_000, 'x'), Buffer.from('4\tü😀\n'), Buffer.from('\n')];
  const before = Buffer.concat([message('H', Buffer.from([0, 0, 1, 0, 0])), message('d', rows[0]!), message('N', 'notice\0'), message('d', rows[1]!)]);
  const after = Buffer.concat([message('d', rows[2]!), message('S', 'TimeZone\0UTC\0'), message('d', rows[3]!), message('d', rows[4]!)]);
  const tail = Buffer.concat([message('C', 'COPY 5\0'), message('Z', 'I')]);

  it.each([1, 2, 3, 4, 5, 6, 7, 13, 4096, 65536, 1 << 20])('strips the framing of any chunking (%i-byte socket reads)', async (size) => {
    const wire = Buffer.concat([before, after, message('c', ''), tail]);
    const { connection, stream, handedBack } = fakeConnection();
    const query = new CopyOutQuery('COPY t TO STDOUT');
    query.submit(connection);
    // Fresh buffers, as a socket delivers them (the reader may rewrite them in place).
    for (let i = 0; i < wire.length; i += size) stream.emit('data', Buffer.from(wire.subarray(i, i + size)));
    expect((await drain(query)).equals(Buffer.concat(rows))).toBe(true);
    // pg's own parser gets everything after CopyDone, and the socket back.
    expect(Buffer.concat(handedBack).equals(tail)).toBe(true);
    expect(stream.listenerCount('data')).toBe(1);
  });

  it('hands an ErrorResponse to pg and fails the iteration with pg’s error', async () => {
    const error = message('E', 'SERROR\0Mdivision by zero\0\0');
    const wire = Buffer.concat([before, error, message('Z', 'I')]);
    for (const size of [1, 3, 4096]) {
      const { connection, stream, handedBack } = fakeConnection();
      const query = new CopyOutQuery('COPY t TO STDOUT');
      query.submit(connection);
      for (let i = 0; i < wire.length; i += size) stream.emit('data', Buffer.from(wire.subarray(i, i + size)));
      expect(Buffer.concat(handedBack).equals(wire.subarray(before.length))).toBe(true);
      query.handleError(new Error('division by zero'));
      await expect(drain(query)).rejects.toThrow('division by zero');
      await expect(query.finished).rejects.toThrow('division by zero');
    }
  });
});

describe('parallel plans', () => {
  const table = (oid: number) => ({ oid }) as DataTable;
  it('reads a table in page ranges only when it dwarfs an even share of the data', () => {
    const pages = new Map([
      [1, 57_000],
      [2, 33_000],
      [3, 15_000],
      [4, 5_000],
    ]);
    expect(planJobs([table(1), table(2), table(3), table(4)], pages, 2).length).toBe(4);
    const dominant = new Map([...pages, [1, 500_000]]);
    // The dominant table is cut into contiguous page ranges of the chunk size given, the last open-ended.
    expect(planJobs([table(1), table(2), table(3), table(4)], dominant, 2, 100_000).filter((j) => j.table.oid === 1).map((j) => j.pages)).toEqual([
      [0, 100_000],
      [100_000, 200_000],
      [200_000, 300_000],
      [300_000, 400_000],
      [400_000, null],
    ]);
    const ranges = planJobs([table(1), table(2), table(3), table(4)], dominant, 2).filter((j) => j.table.oid === 1);
    expect(ranges.length).toBeGreaterThan(2);
    expect(ranges[0]!.pages![0]).toBe(0);
    expect(ranges.at(-1)!.pages![1]).toBeNull();
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.pages![0]).toBe(ranges[i - 1]!.pages![1]);
    expect(ranges.reduce((n, j) => n + j.weight, 0)).toBe(500_000);
    expect(planJobs([table(1)], dominant, 1).length).toBe(1);
  });

  it('cuts a dominant table into about two ranges per connection, whatever its size', () => {
    // pgbench -s 10: pgbench_accounts is 16,394 pages, the three other tables a few.
    for (const accounts of [16_394, 16_000, 9_000]) {
      const pages = new Map([[1, accounts], [2, 1], [3, 1], [4, 0]]);
      const ranges = planJobs([table(1), table(2), table(3), table(4)], pages, 2).filter((j) => j.table.oid === 1);
      expect(ranges.length).toBe(4);
      expect(ranges.map((j) => j.pages![0]).sort((a, b) => a - b)[0]).toBe(0);
      expect(Math.max(...ranges.map((j) => j.weight)) - Math.min(...ranges.map((j) => j.weight))).toBeLessThanOrEqual(3);
      expect(ranges.reduce((n, j) => n + j.weight, 0)).toBe(accounts);
    }
    // Ranges never get much smaller than MIN_CHUNK_PAGES: a 3,000-page table gets three even ones, a 2,000-page one none.
    expect(planJobs([table(1), table(2)], new Map([[1, 3_000], [2, 10]]), 4).map((j) => j.weight)).toEqual([1_000, 1_000, 1_000, 10]);
    expect(planJobs([table(1), table(2)], new Map([[1, 2_000], [2, 10]]), 4).length).toBe(2);
  });

  it('loads a table over several connections only when it dwarfs an even share of the data', () => {
    expect(loadsInParallel(350, 690, 2)).toBe(false);
    expect(loadsInParallel(600, 690, 2)).toBe(true);
    expect(loadsInParallel(600, 690, 1)).toBe(false);
  });
});
