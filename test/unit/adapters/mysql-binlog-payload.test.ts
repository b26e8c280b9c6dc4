import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BINLOG_MAGIC, EventType, readFormatDescription, readHeader } from '../../../src/adapters/connectors/mysql/mysql-binlog-events.js';
import { MAX_INNER_EVENT, payloadEvents, readPayloadHeader } from '../../../src/adapters/connectors/mysql/mysql-binlog-payload.js';
import { TransactionSplitter } from '../../../src/adapters/connectors/mysql/mysql-binlog-transactions.js';
import { type ErrorCode, isDbBackupError } from '../../../src/domain/errors.js';
import { payloadEvent, withoutChecksum } from '../../helpers/binlog-payload.js';

/**
 * MySQL 8's compressed transactions (binlog_transaction_compression) on constructed bytes: MySQL 8
 * cannot run here, so the events inside are the captured MariaDB fixture's (fixtures/README.md),
 * wrapped as the server wraps them (test/helpers/binlog-payload.ts).
 */
const file = readFileSync(join(import.meta.dirname, 'fixtures', 'mariadb-10.11.binlog'));
const events: Buffer[] = [];
for (let i = BINLOG_MAGIC.length; i < file.length; ) {
  const size = file.readUInt32LE(i + 9);
  events.push(file.subarray(i, i + size));
  i += size;
}
const fd = readFormatDescription(events[0]!);
/** The fixture's multi-statement transaction: its GTID event, then the events MySQL would compress (… XID). */
const gtidAt = events.findIndex((e, i) => readHeader(e).type === EventType.MARIADB_GTID && events.slice(i + 1).findIndex((x) => readHeader(x).type === EventType.XID) >= 0);
const xidAt = events.findIndex((e, i) => i > gtidAt && readHeader(e).type === EventType.XID);
const inside = events.slice(gtidAt + 1, xidAt + 1);

async function failure(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('MySQL 8 TRANSACTION_PAYLOAD events', () => {
  it('decode (zstd, or none) into their events, each with the log\'s checksum again', () => {
    expect(fd.checksumLength).toBe(4);
    expect(inside.length).toBeGreaterThanOrEqual(3);
    for (const compression of [0, 255]) {
      const event = payloadEvent(inside.map(withoutChecksum), { compression, checksum: true });
      const out = [...payloadEvents(event, fd, 'test')];
      expect(out.map((e) => e.toString('hex'))).toEqual(inside.map((e) => e.toString('hex')));
    }
    // A log without checksums gets the events as stored.
    const bare = inside.map(withoutChecksum);
    expect([...payloadEvents(payloadEvent(bare), { ...fd, checksumLength: 0 }, 'test')].map((e) => e.toString('hex'))).toEqual(bare.map((e) => e.toString('hex')));
  });

  it('read sizes over 250 as packed integers', () => {
    const many = Array.from({ length: 200 }, () => inside).flat();
    const event = payloadEvent(many.map(withoutChecksum), { checksum: true });
    const h = readPayloadHeader(event, fd, 'test');
    expect(h.uncompressedSize).toBe(many.reduce((n, e) => n + e.length - 4, 0));
    expect(h.uncompressedSize).toBeGreaterThan(65_536);
    expect([...payloadEvents(event, fd, 'test')]).toHaveLength(many.length);
  });

  it('end the transaction they follow in the change index, with the tables inside', () => {
    const splitter = new TransactionSplitter({ file: 'binlog.000002', position: 4 }, 4);
    const commits: { tables: string[] }[] = [];
    const stream = [...events.slice(0, gtidAt + 1), payloadEvent(inside.map(withoutChecksum), { checksum: true, logPos: readHeader(events[xidAt]!).logPos }), ...events.slice(xidAt + 1)];
    for (const e of stream) {
      const u = splitter.push(e);
      if (u?.kind === 'event' && u.commit) commits.push(u.commit);
    }
    expect(commits.some((c) => c.tables.includes('cap.t'))).toBe(true);
    expect(splitter.inTransaction).toBe(false);
  });

  it('refuse hostile or damaged payloads with stable codes, allocating nothing they declare', async () => {
    const plain = inside.map(withoutChecksum);
    const size = plain.reduce((n, e) => n + e.length, 0);
    // A bomb: 64 MiB of zeros declared as a few bytes; decoding stops at the first chunk past it.
    const zeros = payloadEvent([Buffer.alloc(64 << 20)], { declared: size, checksum: true });
    expect(zeros.length).toBeLessThan(64 << 10);
    const bomb = await failure(() => [...payloadEvents(zeros, fd, 'test')]);
    expect(isDbBackupError(bomb, 'E_FOREIGN_ARCHIVE'), String(bomb)).toBe(true);
    // An inner event declaring 2 GiB (its bytes never come): E_TOO_LARGE before anything is held.
    const huge = Buffer.from(plain[0]!);
    huge.writeUInt32LE(MAX_INNER_EVENT + 1, 9);
    const big = await failure(() => [...payloadEvents(payloadEvent([huge], { checksum: true }), fd, 'test')]);
    expect(isDbBackupError(big, 'E_TOO_LARGE'), String(big)).toBe(true);
    // Declared sizes far past what is there, a damaged frame, a cut frame, an event cut short, a header past the event.
    const cases: [Buffer, ErrorCode][] = [
      [payloadEvent(plain, { declared: 2 ** 40, checksum: true }), 'E_FOREIGN_ARCHIVE'],
      [payloadEvent(plain, { raw: Buffer.from('not a zstd frame at all'), checksum: true }), 'E_FOREIGN_ARCHIVE'],
      [payloadEvent(plain, { raw: payloadEvent(plain).subarray(30, 60), checksum: true }), 'E_FOREIGN_ARCHIVE'],
      [payloadEvent([Buffer.concat(plain).subarray(0, size - 3)], { checksum: true }), 'E_FOREIGN_ARCHIVE'],
      [payloadEvent(plain, { compression: 7, checksum: true }), 'E_UNSUPPORTED'],
    ];
    const cut = payloadEvent(plain, { checksum: true });
    const fields = Buffer.from(cut);
    fields[19] = 0xfe; // the first field's type claims 8 more bytes than the event's fields hold
    cases.push([fields.subarray(0, 26), 'E_FOREIGN_ARCHIVE']);
    for (const [event, code] of cases) {
      if (event.length >= 19) event.writeUInt32LE(event.length, 9);
      const err = await failure(() => [...payloadEvents(event, fd, 'test')]);
      expect(isDbBackupError(err, code), `${code}: ${String(err)}`).toBe(true);
    }
  });
});
