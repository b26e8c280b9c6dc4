import { describe, expect, it } from 'vitest';
import { payloadLines } from '../../../src/adapters/connectors/postgres/postgres-change-records.js';
import type { ChangeLine } from '../../../src/adapters/connectors/postgres/postgres-change-log.js';
import { PgOutputDecoder } from '../../../src/adapters/connectors/postgres/postgres-pgoutput.js';
import { PgoRecorder, TAG } from '../../../src/adapters/connectors/postgres/postgres-pgo-writer.js';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { u16, u32, u64 } from '../../helpers/pg-wire-bytes.js';

const relation = Buffer.concat([Buffer.from('R'), u32(7), Buffer.from('public\0t\0d'), u16(2), Buffer.from([1]), Buffer.from('id\0'), u32(23), u32(0), Buffer.from([0]), Buffer.from('v\0'), u32(25), u32(0)]);
const begin = Buffer.concat([Buffer.from('B'), u64(0x200n), u64(851_990_400_000_000n), u32(9)]);
const insert = (id: string, v: string) => Buffer.concat([Buffer.from('I'), u32(7), Buffer.from('N'), u16(2), Buffer.from('t'), u32(id.length), Buffer.from(id), Buffer.from('t'), u32(Buffer.byteLength(v)), Buffer.from(v)]);
const commit = Buffer.concat([Buffer.from('C'), Buffer.from([0]), u64(0x200n), u64(0x230n), u64(851_990_400_000_000n)]);
const origin = Buffer.concat([Buffer.from('O'), u64(1n), Buffer.from('elsewhere\0')]);

/** Hands `message` to the recorder as the stream does: inside a larger buffer, at an offset. */
const feed = (r: PgoRecorder, message: Buffer) => {
  const buf = Buffer.concat([Buffer.from('xxxx'), message, Buffer.from('yy')]);
  return r.message(buf, 4, 4 + message.length);
};

function decode(bytes: Buffer): ChangeLine[] {
  const out: ChangeLine[] = [];
  payloadLines(new PgOutputDecoder(undefined, true), bytes, 0, bytes.length, 'test', out);
  return out;
}

describe('PgoRecorder (the writer of change-log format 2, for incrementals and replicate alike)', () => {
  it('copies a transaction’s messages as records, keeps relations for the next part or segment, counts changes per table', async () => {
    const counts = { changes: 0, objects: new Map<string, number>() };
    const spilled: Buffer[] = [];
    const r = new PgoRecorder((b) => spilled.push(b), counts);
    // Between transactions a relation is only kept (an incremental's closed part, a segment's gap).
    expect(feed(r, relation)).toBe(TAG.relation);
    expect(r.take().length).toBe(0);
    expect([feed(r, begin), feed(r, origin), feed(r, insert('1', 'a')), feed(r, insert('2', 'b')), feed(r, commit)]).toEqual([TAG.begin, 0, TAG.insert, TAG.insert, TAG.commit]);
    expect([r.inTxn, r.txnChanges]).toEqual([false, 2]);
    // A commit outside a transaction, a change outside one: not written.
    expect([feed(r, commit), feed(r, insert('3', 'c'))]).toEqual([0, 0]);
    const lines = decode(Buffer.concat([r.relationRecords(), ...spilled, r.take()]));
    expect(lines.map((l) => l.kind)).toEqual(['begin', 'change', 'change', 'commit']);
    expect(lines[2]).toEqual({ kind: 'change', change: { op: 'I', rel: ['public', 't'], new: [['id', '2'], ['v', 'b']] } });
    r.flushCounts();
    expect(counts).toEqual({ changes: 2, objects: new Map([['public.t', 2]]) });
  });

  it('spills full chunks (a record never spans two) and takes the rest without copying; a change of an undescribed relation fails the read', async () => {
    const spilled: Buffer[] = [];
    const r = new PgoRecorder((b) => spilled.push(b));
    feed(r, relation);
    feed(r, begin);
    const big = 'x'.repeat(300 << 10);
    for (let i = 0; i < 3; i++) feed(r, insert(String(i), big));
    feed(r, commit);
    expect(spilled.length).toBeGreaterThanOrEqual(2);
    const lines = decode(Buffer.concat([r.relationRecords(), ...spilled, r.take()]));
    expect(lines.filter((l) => l.kind === 'change')).toHaveLength(3);
    const fresh = new PgoRecorder(() => undefined);
    feed(fresh, begin);
    let err: unknown;
    try {
      feed(fresh, insert('1', 'a'));
    } catch (e) {
      err = e;
    }
    expect(isDbBackupError(err, 'E_BACKUP_FAILED')).toBe(true);
  });
});
