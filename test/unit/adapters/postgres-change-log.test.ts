import { describe, expect, it } from 'vitest';
import { checkLine } from '../../../src/adapters/connectors/postgres/postgres-change-log.js';
import { PgOutputDecoder } from '../../../src/adapters/connectors/postgres/postgres-pgoutput.js';
import { isoToMicros, lsnToBigInt, lsnToString, pgTimeToIso } from '../../../src/adapters/connectors/postgres/postgres-replication.js';
import { isDbBackupError } from '../../../src/domain/errors.js';

const where = 'changes/0000.jsonl of backup X';

describe('change-log lines (untrusted input)', () => {
  it('reads what the capture writes', () => {
    expect(checkLine('{"format":"dbbackup-pg-changes","version":1}', where)).toEqual({ kind: 'header' });
    expect(checkLine('{"begin":{"xid":7,"lsn":"0/16B3748","time":"2026-12-06T10:00:00.123456Z"}}', where)).toMatchObject({ kind: 'begin', xid: 7 });
    expect(checkLine('{"op":"U","rel":["public","a\\"b"],"key":[["id","1"]],"new":[["id","1"],["v",null]]}', where)).toEqual({
      kind: 'change',
      change: { op: 'U', rel: ['public', 'a"b'], key: [['id', '1']], new: [['id', '1'], ['v', null]] },
    });
    expect(checkLine('{"sequences":[["public","s","-42",true]]}', where)).toEqual({ kind: 'sequences', sequences: [['public', 's', '-42', true]] });
  });

  it.each([
    ['not JSON', '{"op":'],
    ['an unknown operation', '{"op":"X","rel":["a","b"]}'],
    ['a relation that is not two names', '{"op":"I","rel":["a.b"],"new":[]}'],
    ['a column value that is not text', '{"op":"I","rel":["a","b"],"new":[["c",1]]}'],
    ['a duplicate column', '{"op":"I","rel":["a","b"],"new":[["c","1"],["c","2"]]}'],
    ['an update without key', '{"op":"U","rel":["a","b"],"key":[],"new":[["c","1"]]}'],
    ['a sequence value that is not an integer', '{"sequences":[["public","s","1); DROP TABLE x; --",true]]}'],
    ['a bad LSN', '{"begin":{"xid":1,"lsn":"0/1; x","time":"2026-12-06T10:00:00.123456Z"}}'],
    ['another format', '{"format":"other","version":1}'],
  ])('refuses %s with E_UNSAFE_BACKUP', (_, line) => {
    let err: unknown;
    try {
      checkLine(line, where);
    } catch (e) {
      err = e;
    }
    expect(isDbBackupError(err, 'E_UNSAFE_BACKUP')).toBe(true);
  });
});

describe('pgoutput v1 decoding', () => {
  const relation = Buffer.concat([
    Buffer.from('R'),
    u32(16384),
    Buffer.from('public\0t\0'),
    Buffer.from('d'),
    u16(3),
    Buffer.concat([Buffer.from([1]), Buffer.from('id\0'), u32(23), u32(0xffffffff)]),
    Buffer.concat([Buffer.from([0]), Buffer.from('big\0'), u32(25), u32(0xffffffff)]),
    Buffer.concat([Buffer.from([0]), Buffer.from('n\0'), u32(25), u32(0xffffffff)]),
  ]);

  it('keeps values as text, leaves unchanged TOAST columns out, takes the key from the old key or the new row', () => {
    const d = new PgOutputDecoder();
    expect(d.decode(relation)).toMatchObject({ tag: 'relation', relation: { schema: 'public', table: 't', columns: [{ name: 'id', key: true }, { name: 'big', key: false }, { name: 'n', key: false }] } });
    const update = Buffer.concat([Buffer.from('U'), u32(16384), Buffer.from('N'), tuple([['t', '1'], ['u'], ['t', '2.50']])]);
    expect(d.decode(update)).toEqual({ tag: 'change', change: { op: 'U', rel: ['public', 't'], key: [['id', '1']], new: [['id', '1'], ['n', '2.50']] } });
    const rekey = Buffer.concat([Buffer.from('U'), u32(16384), Buffer.from('K'), tuple([['t', '1'], ['n'], ['n']]), Buffer.from('N'), tuple([['t', '9'], ['n'], ['t', 'x']])]);
    expect(d.decode(rekey)).toEqual({ tag: 'change', change: { op: 'U', rel: ['public', 't'], key: [['id', '1']], new: [['id', '9'], ['big', null], ['n', 'x']] } });
    const del = Buffer.concat([Buffer.from('D'), u32(16384), Buffer.from('K'), tuple([['t', '9'], ['n'], ['n']])]);
    expect(d.decode(del)).toEqual({ tag: 'change', change: { op: 'D', rel: ['public', 't'], key: [['id', '9']] } });
    const truncate = Buffer.concat([Buffer.from('T'), u32(1), Buffer.from([3]), u32(16384)]);
    expect(d.decode(truncate)).toEqual({ tag: 'change', change: { op: 'T', rels: [['public', 't']], cascade: true, restartIdentity: true } });
  });

  it('reads begin and commit with microsecond times', () => {
    const d = new PgOutputDecoder();
    const begin = Buffer.concat([Buffer.from('B'), u64(0x16b3748n), u64(1n), u32(42)]);
    expect(d.decode(begin)).toEqual({ tag: 'begin', finalLsn: 0x16b3748n, time: '2000-01-01T00:00:00.000001Z', xid: 42 });
    const commit = Buffer.concat([Buffer.from('C'), Buffer.from([0]), u64(10n), u64(20n), u64(851_990_400_123_456n)]);
    expect(d.decode(commit)).toEqual({ tag: 'commit', commitLsn: 10n, endLsn: 20n, time: '2026-12-31T00:00:00.123456Z' });
  });

  it('refuses a change of a relation it was not told about', () => {
    const d = new PgOutputDecoder();
    expect(() => d.decode(Buffer.concat([Buffer.from('I'), u32(1), Buffer.from('N'), tuple([])]))).toThrow(/before describing it/);
  });

  it('converts LSNs and times exactly', () => {
    expect(lsnToString(lsnToBigInt('1A/FF000028'))).toBe('1A/FF000028');
    expect(lsnToString(lsnToBigInt('FFFFFFFF/FFFFFFFF'))).toBe('FFFFFFFF/FFFFFFFF');
    expect(lsnToString(0n)).toBe('0/0');
    expect(pgTimeToIso(-1n)).toBe('1999-12-31T23:59:59.999999Z');
    // The second's text is reused between calls in the same second, never across seconds.
    const at = (iso: string) => pgTimeToIso(isoToMicros(iso) - 946_684_800_000_000n);
    for (const iso of ['2026-12-06T10:00:00.000001Z', '2026-12-06T10:00:00.999999Z', '2026-12-06T10:00:01.000000Z', '2026-12-06T10:00:00.500000Z', '2000-01-01T00:00:00.000000Z']) {
      expect(at(iso)).toBe(iso);
    }
    expect(isoToMicros('2026-12-06T10:00:00.123456Z') - isoToMicros('2026-12-06T10:00:00.123Z')).toBe(456n);
  });
});

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(n);
  return b;
}

function tuple(cols: ([string] | [string, string])[]): Buffer {
  return Buffer.concat([u16(cols.length), ...cols.map((c) => (c[0] === 't' ? Buffer.concat([Buffer.from('t'), u32(Buffer.byteLength(c[1]!)), Buffer.from(c[1]!)]) : Buffer.from(c[0])))]);
}
