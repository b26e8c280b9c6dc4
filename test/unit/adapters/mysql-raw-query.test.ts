import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { MysqlConnection } from '../../../src/adapters/connectors/mysql/mysql-connection.js';
import { rawQuery } from '../../../src/adapters/connectors/mysql/mysql-raw-query.js';

// The framing of the raw result reader whatever the socket's chunk boundaries (the server-backed
// cases are in test/integration/mysql/raw-query.test.ts): a scripted reply, cut everywhere.
describe('MySQL raw result reader: packet framing', () => {
  const packet = (seq: number, payload: Buffer) => {
    const h = Buffer.alloc(4);
    h.writeUIntLE(payload.length, 0, 3);
    h[3] = seq;
    return Buffer.concat([h, payload]);
  };
  const lenc = (v: Buffer | null) => (v === null ? Buffer.from([0xfb]) : Buffer.concat([v.length < 251 ? Buffer.from([v.length]) : Buffer.from([0xfc, v.length & 0xff, v.length >> 8]), v]));
  const rows = [
    [Buffer.from('1'), null],
    [Buffer.from(''), Buffer.from('x'.repeat(300))],
    [Buffer.from('\t\n\\'), Buffer.from([0xfe, 0xff, 0])],
  ];
  const reply = Buffer.concat([
    packet(1, Buffer.from([2])),
    packet(2, Buffer.from('coldef-a')),
    packet(3, Buffer.from('coldef-b')),
    packet(4, Buffer.from([0xfe, 0, 0, 2, 0])),
    ...rows.map((r, i) => packet(5 + i, Buffer.concat(r.map(lenc)))),
    packet(8, Buffer.from([0xfe, 0, 0, 2, 0])),
  ]);

  function fakeConnection() {
    const stream = Object.assign(new EventEmitter(), { written: [] as Buffer[], write: (b: Buffer) => (stream.written.push(b), true), pause() {}, resume() {}, destroy() {} });
    const mysql2Parser = { seen: [] as Buffer[], execute: (b: Buffer) => mysql2Parser.seen.push(b) };
    const core = Object.assign(new EventEmitter(), { packetParser: mysql2Parser as { execute(b: Buffer): void }, stream, config: { clientFlags: 0 }, destroy() {} });
    return { conn: { connection: core } as unknown as MysqlConnection, core, stream, mysql2Parser };
  }

  it('hands every row over and ends at the EOF, for any split of the reply (one byte at a time too)', async () => {
    for (const step of [1, 2, 3, 5, 7, 13, 64, reply.length]) {
      const { conn, core, stream, mysql2Parser } = fakeConnection();
      const got: Buffer[] = [];
      const q = rawQuery(conn, 'SELECT a, b FROM t', { row: (b, s, e) => (got.push(Buffer.from(b.subarray(s, e))), true) }, { columns: 2 });
      expect(stream.written[0]!.subarray(4).toString()).toBe('\x03SELECT a, b FROM t');
      expect(core.packetParser).not.toBe(mysql2Parser);
      for (let i = 0; i < reply.length; i += step) core.packetParser.execute(reply.subarray(i, i + step));
      await expect(q.done).resolves.toBe(3);
      expect(got).toEqual(rows.map((r) => Buffer.concat(r.map(lenc))));
      expect(core.packetParser).toBe(mysql2Parser);
      expect(mysql2Parser.seen).toEqual([]);
    }
  });

  it('joins a payload split into 16 MiB packets, and passes bytes after the result back to mysql2', async () => {
    const value = Buffer.alloc(0xffffff + 100, 0x61);
    const row = Buffer.concat([Buffer.from([0xfe]), Buffer.alloc(8), value]);
    row.writeBigUInt64LE(BigInt(value.length), 1);
    const head = Buffer.concat([packet(1, Buffer.from([1])), packet(2, Buffer.from('col')), packet(3, Buffer.from([0xfe, 0, 0, 2, 0]))]);
    const split = Buffer.concat([packet(4, row.subarray(0, 0xffffff)), packet(5, row.subarray(0xffffff))]);
    const extra = Buffer.from('after');
    const all = Buffer.concat([head, split, packet(6, Buffer.from([0xfe, 0, 0, 2, 0])), extra]);
    const { conn, core, mysql2Parser } = fakeConnection();
    let got: Buffer | undefined;
    const q = rawQuery(conn, 'SELECT v FROM t', { row: (b, s, e) => ((got = Buffer.from(b.subarray(s, e))), true) }, { columns: 1 });
    for (let i = 0; i < all.length; i += 1 << 16) core.packetParser.execute(all.subarray(i, i + (1 << 16)));
    await expect(q.done).resolves.toBe(1);
    expect(got!.equals(row)).toBe(true);
    expect(Buffer.concat(mysql2Parser.seen).toString()).toBe('after');
  });
});
