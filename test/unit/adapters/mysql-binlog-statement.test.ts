import { randomBytes } from 'node:crypto';
import mysql from 'mysql2';
import { describe, expect, it } from 'vitest';
import { BinlogBatch } from '../../../src/adapters/connectors/mysql/mysql-binlog-batch.js';
import { encodeBinlogStatement, sendBinlogStatement } from '../../../src/adapters/connectors/mysql/mysql-binlog-statement.js';
import type { MysqlConnection } from '../../../src/adapters/connectors/mysql/mysql-connection.js';

const QUERY_ATTRIBUTES = 0x08000000;

/**
 * A mysql2 core connection with mysql2's own query command (its static createQuery): the command
 * starts at once and the packet it writes is recorded (its payload, after the 4-byte header).
 * The server-backed path runs in the replay's integration tests (test/integration/mysql/binlog-*).
 */
function fakeConnection(clientFlags: number, serverFlags: number) {
  const written: Buffer[] = [];
  class Core {
    static createQuery = (mysql.Connection as unknown as { createQuery: unknown }).createQuery;
    config = { clientFlags, charsetNumber: 224 };
    serverCapabilityFlags = serverFlags;
    writePacket(p: { buffer: Buffer; length(): number }) {
      written.push(Buffer.from(p.buffer.subarray(4, p.length())));
    }
    addCommand(command: { start(packet: unknown, connection: unknown): unknown }) {
      command.start(undefined, this);
    }
  }
  const core = new Core();
  return { conn: { connection: core } as unknown as MysqlConnection, core, written };
}

/** COM_QUERY's payload for the statement, as mysql2 writes any query: with query attributes on, an empty set of them first. */
function expected(events: Buffer, attributes: boolean): Buffer {
  return Buffer.concat([Buffer.from(attributes ? [3, 0, 1] : [3]), Buffer.from(`BINLOG '${events.toString('base64')}'`, 'latin1')]);
}

describe('MySQL replay: BINLOG statements written straight into their packet', () => {
  // 100,001 bytes: three chunks of base64, the last with padding.
  const events = randomBytes(100_001);

  it('sends the same bytes as mysql2 would for the statement as text, with and without query attributes', () => {
    for (const [client, server] of [
      [0, 0],
      [QUERY_ATTRIBUTES, 0],
      [QUERY_ATTRIBUTES, QUERY_ATTRIBUTES],
    ] as const) {
      const { conn, written } = fakeConnection(client, server);
      void sendBinlogStatement(conn, encodeBinlogStatement(conn, events));
      expect(written).toHaveLength(1);
      expect(written[0]!.equals(expected(events, (client & server) !== 0))).toBe(true);
    }
  });

  it("takes mysql2's bytes before the text when they are not the ones the packet was encoded with", () => {
    const { conn, core, written } = fakeConnection(QUERY_ATTRIBUTES, 0);
    const packet = encodeBinlogStatement(conn, events);
    core.serverCapabilityFlags = QUERY_ATTRIBUTES; // mysql2 now writes the attributes' header: 2 bytes more
    void sendBinlogStatement(conn, packet);
    expect(written[0]!.equals(expected(events, true))).toBe(true);
  });

  it('encodes the events when called: their buffer may be reused before the statement is sent', () => {
    const { conn, written } = fakeConnection(0, 0);
    const reused = Buffer.from(events);
    const packet = encodeBinlogStatement(conn, reused);
    reused.fill(0);
    void sendBinlogStatement(conn, packet);
    expect(written[0]!.equals(expected(events, false))).toBe(true);
  });
});

describe('MySQL replay: the batch of row events', () => {
  it('holds the events back to back across its growth, drops a tail, and keeps its buffer unless it grew past the limit', () => {
    const batch = new BinlogBatch(256 << 10);
    const parts = [randomBytes(100), randomBytes(70_000), randomBytes(5), randomBytes(120_000)];
    for (const p of parts) batch.push(p);
    expect(batch.bytes().equals(Buffer.concat(parts))).toBe(true);
    expect(batch.bytes(100, 70_105).equals(Buffer.concat(parts.slice(1, 3)))).toBe(true);
    batch.truncate(70_100);
    expect(batch.bytes().equals(Buffer.concat(parts.slice(0, 2)))).toBe(true);
    const kept = batch.bytes().buffer;
    batch.clear();
    expect(batch.length).toBe(0);
    batch.push(parts[2]!);
    expect(batch.bytes().buffer).toBe(kept);
    batch.push(randomBytes(300 << 10)); // grows past 256 KiB
    const grown = batch.bytes().buffer;
    batch.clear();
    batch.push(parts[0]!);
    expect(batch.bytes().buffer).not.toBe(grown);
    expect(batch.bytes().equals(parts[0]!)).toBe(true);
  });
});
