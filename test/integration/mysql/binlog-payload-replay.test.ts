import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PartSource } from '../../../src/application/ports/parts.js';
import { applyBinlogChanges } from '../../../src/adapters/connectors/mysql/mysql-binlog-apply.js';
import { BINLOG_MAGIC, EventType, isGtidEvent, readFormatDescription, readGtid, readHeader } from '../../../src/adapters/connectors/mysql/mysql-binlog-events.js';
import { resolveEndpoint } from '../../../src/adapters/connectors/mysql/mysql-connection.js';
import type { Manifest, PartEntry } from '../../../src/domain/manifest.js';
import { payloadEvent, withoutChecksum } from '../../helpers/binlog-payload.js';
import { type MariaDbServer, startMariaDb } from '../../helpers/mariadb-server.js';
import { tableFingerprints, target } from './harness.js';

/**
 * Replaying MySQL 8's compressed transactions (TRANSACTION_PAYLOAD) on a real server. MySQL 8
 * cannot run here, so the log is MariaDB's own, recorded from a workload, with every multi-statement
 * transaction's events after its GTID wrapped as MySQL 8 wraps them (zstd, no inner checksums):
 * replayed, it must leave the same tables as the same log uncompressed, and as the source.
 */
let server: MariaDbServer;

beforeAll(async () => {
  server = await startMariaDb();
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

function split(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = BINLOG_MAGIC.length; i < bytes.length; ) {
    const size = bytes.readUInt32LE(i + 9);
    out.push(bytes.subarray(i, i + size));
    i += size;
  }
  return out;
}

/** The log with each transaction that a GTID opens and an XID ends compressed after its GTID event; how many were. */
function compressTransactions(events: Buffer[]): { events: Buffer[]; packed: number } {
  const fd = readFormatDescription(events[0]!);
  const out: Buffer[] = [];
  let packed = 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    out.push(e);
    const h = readHeader(e);
    if (!isGtidEvent(h.type) || readGtid(e, h, fd).standalone) continue;
    const xid = events.findIndex((x, j) => j > i && readHeader(x).type === EventType.XID);
    if (xid < 0) continue;
    out.push(payloadEvent(events.slice(i + 1, xid + 1).map(withoutChecksum), { checksum: true, logPos: readHeader(events[xid]!).logPos }));
    packed++;
    i = xid;
  }
  return { events: out, packed };
}

function part(bytes: Buffer): PartSource {
  const entry = { name: 'changes/000000.binlog', role: 'changes', codecs: [], rawSize: bytes.length, storedSize: bytes.length, sha256: '' } as unknown as PartEntry;
  return { manifest: { id: 'packed-test', parts: [entry] } as unknown as Manifest, open: async () => Readable.from([bytes]) };
}

describe('compressed binlog transactions (MySQL 8 TRANSACTION_PAYLOAD) replayed on MariaDB', () => {
  it('restore the same tables as the uncompressed log and the source', async () => {
    await server.query('CREATE DATABASE src; CREATE DATABASE plain; CREATE DATABASE packed');
    await server.query('FLUSH BINARY LOGS');
    const [{ File: file }] = (await server.query<{ File: string }>('SHOW MASTER STATUS')) as [{ File: string }];
    const conn = await server.connect('src');
    try {
      await conn.query('CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(200), n DECIMAL(12,2), b BLOB)');
      await conn.query('CREATE TABLE u (k INT PRIMARY KEY, c BIGINT)');
      for (let i = 0; i < 40; i++) {
        await conn.query('BEGIN');
        await conn.query('INSERT INTO t VALUES (?, ?, ?, ?)', [i, `row ${i} ${'é'.repeat(i)}`, i * 1.5, Buffer.alloc(i * 50, i)]);
        if (i % 4 === 3) await conn.query('UPDATE t SET v = CONCAT(v, ?), n = n + 1 WHERE id = ?', [' *', i - 2]);
        if (i % 7 === 6) await conn.query('DELETE FROM t WHERE id = ?', [i - 5]);
        await conn.query('INSERT INTO u VALUES (?, 1) ON DUPLICATE KEY UPDATE c = c + 1', [i % 5]);
        await conn.query('COMMIT');
      }
      // A statement of many rows: its rows events go back together.
      await conn.query('UPDATE t SET n = n * 2 WHERE id % 2 = 0');
      await conn.query('ALTER TABLE u ADD COLUMN note VARCHAR(10) DEFAULT "x"');
      await conn.query("INSERT INTO u (k, c) VALUES (100, 7)");
    } finally {
      await conn.end();
    }
    await server.query('FLUSH BINARY LOGS');
    const log = split(await readFile(join(server.dir, file)));
    const { events: compressed, packed } = compressTransactions(log);
    expect(packed).toBeGreaterThanOrEqual(42);
    expect(compressed.some((e) => readHeader(e).type === EventType.TRANSACTION_PAYLOAD)).toBe(true);
    const signal = new AbortController().signal;
    const endpoint = resolveEndpoint(target(server));
    await applyBinlogChanges(endpoint, part(Buffer.concat([BINLOG_MAGIC, ...log])), undefined, signal, new Map([['src', 'plain']]));
    const outcome = await applyBinlogChanges(endpoint, part(Buffer.concat([BINLOG_MAGIC, ...compressed])), undefined, signal, new Map([['src', 'packed']]));
    expect(outcome.objects).toEqual(['packed.t', 'packed.u']);
    const source = await tableFingerprints(server, 'src');
    expect(await tableFingerprints(server, 'plain')).toEqual(source);
    expect(await tableFingerprints(server, 'packed')).toEqual(source);
    expect(source.t!.rows).toBeGreaterThan(30);
  }, 120_000);
});
