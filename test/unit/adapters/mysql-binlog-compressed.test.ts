import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BinlogFormatError, inflateQuery, inflateRowsEvent } from '../../../src/adapters/connectors/mysql/mysql-binlog-events.js';

/** MariaDB's log_bin_compress framing: 0x80 | n, the length in n big-endian bytes, the zlib stream. */
function framed(text: Buffer, n = 2, declared = text.length): Buffer {
  const head = Buffer.alloc(1 + n);
  head[0] = 0x80 | n;
  head.writeUIntBE(declared, 1, n);
  return Buffer.concat([head, deflateSync(text)]);
}

describe("MariaDB's compressed binlog events (bounded)", () => {
  it('inflates a statement to its declared length', () => {
    const text = Buffer.from(`ALTER TABLE t COMMENT '${'x'.repeat(500)}'`);
    expect(inflateQuery(framed(text)).equals(text)).toBe(true);
    expect(inflateQuery(framed(text, 4)).equals(text)).toBe(true);
  });

  it('refuses an unknown header, a short or long stream, and output past the declared length (a zip bomb stays small)', () => {
    const text = Buffer.alloc(100_000, 0x61);
    expect(() => inflateQuery(Buffer.from([0x00, 1, 2]))).toThrow(BinlogFormatError);
    expect(() => inflateQuery(Buffer.concat([Buffer.from([0x93]), framed(text, 3).subarray(1)]))).toThrow(/unknown header/);
    expect(() => inflateQuery(framed(text, 3, 1000))).toThrow(BinlogFormatError);
    expect(() => inflateQuery(framed(text, 3, 200_000))).toThrow(/inflates to 100000 bytes/);
    expect(() => inflateQuery(framed(text, 3).subarray(0, 20))).toThrow(BinlogFormatError);
  });

  it('turns a compressed UPDATE_ROWS_V1 into the plain event: post-header and bitmaps kept, rows inflated, CRC32 fixed', () => {
    const post = Buffer.from([1, 0, 0, 0, 0, 0, 1, 0]); // table id 1, STMT_END
    const cols = Buffer.from([2, 0x03, 0x03]); // 2 columns, both bitmaps
    const rows = Buffer.from('rows images'.repeat(30));
    const body = Buffer.concat([post, cols, framed(rows)]);
    const event = Buffer.alloc(19 + body.length + 4);
    event[4] = 167;
    event.writeUInt32LE(event.length, 9);
    body.copy(event, 19);
    const plain = inflateRowsEvent(event, { serverVersion: '10.11', checksumLength: 4 });
    expect(plain[4]).toBe(24);
    expect(plain.readUInt32LE(9)).toBe(plain.length);
    expect(plain.subarray(19, 19 + 11).equals(Buffer.concat([post, cols]))).toBe(true);
    expect(plain.subarray(30, plain.length - 4).equals(rows)).toBe(true);
    expect(() => inflateRowsEvent(event.subarray(0, 30), { serverVersion: '10.11', checksumLength: 4 })).toThrow(BinlogFormatError);
  });
});
