import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { partLines } from '../../../src/adapters/connectors/postgres/postgres-stream-segment.js';
import { sequencesRecord } from '../../../src/adapters/connectors/postgres/postgres-change-records.js';
import type { ChangeLine } from '../../../src/adapters/connectors/postgres/postgres-change-log.js';
import { encodeLogSegment, LOG_SEGMENT_PART } from '../../../src/domain/log-segment.js';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { u16, u32, u64, record } from '../../helpers/pg-wire-bytes.js';

const where = 'changes/log.seg of backup seg';

/** A format 1 commit (segments written before change-log format 2). */
const txn = (xid: number) =>
  Buffer.from(
    `{"begin":{"xid":${xid},"lsn":"0/1","time":"2026-12-06T10:00:00.000001Z"}}\n{"op":"I","rel":["public","t"],"new":[["id","${xid}"]]}\n{"commit":{"lsn":"0/1","end":"0/2","time":"2026-12-06T10:00:00.000001Z"}}\n`,
  );

/** Relation 16384 public.t (id int key), as pgoutput protocol 1 sends it. */
const relation = record(Buffer.concat([Buffer.from('R'), u32(16384), Buffer.from('public\0t\0d'), u16(1), Buffer.from([1]), Buffer.from('id\0'), u32(23), u32(0xffffffff)]));
/** A format 2 commit: Begin, an insert of id = xid, Commit (what replicate writes now). */
const records = (xid: number) =>
  Buffer.concat([
    record(Buffer.concat([Buffer.from('B'), u64(0x100n + BigInt(xid)), u64(851_990_400_000_000n + BigInt(xid)), u32(xid)])),
    record(Buffer.concat([Buffer.from('I'), u32(16384), Buffer.from('N'), u16(1), Buffer.from('t'), u32(String(xid).length), Buffer.from(String(xid))])),
    record(Buffer.concat([Buffer.from('C'), Buffer.from([0]), u64(0x100n + BigInt(xid)), u64(0x110n + BigInt(xid)), u64(851_990_400_000_000n + BigInt(xid))])),
  ]);

const segment = (...payloads: Buffer[]) => Buffer.concat([...encodeLogSegment(payloads.map((payload, i) => ({ time: i + 1, payload })))]);

async function lines(bytes: Buffer, name = LOG_SEGMENT_PART): Promise<ChangeLine[]> {
  const out: ChangeLine[] = [];
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 7) chunks.push(bytes.subarray(i, i + 7));
  for await (const line of partLines(name, Readable.from(chunks), where)) out.push(line);
  return out;
}

const inserted = (ls: ChangeLine[]) => ls.flatMap((l) => (l.kind === 'change' && l.change.op === 'I' ? [l.change.new[0]![1]] : []));

describe('a log segment read as change lines', () => {
  it('format 2 commits: the first led by the relations, the poll’s last ending with the sequences record', async () => {
    const seq = sequencesRecord([['public', 't_id_seq', '2', true]]);
    const out = await lines(segment(Buffer.concat([relation, records(1)]), Buffer.concat([records(2), seq])));
    expect(out.map((l) => l.kind)).toEqual(['header', 'begin', 'change', 'commit', 'begin', 'change', 'commit', 'sequences']);
    expect(inserted(out)).toEqual(['1', '2']);
    expect(out[1]).toEqual({ kind: 'begin', xid: 1, lsn: '0/101', time: '2026-12-31T00:00:00.000001Z' });
    expect(out.at(-1)).toEqual({ kind: 'sequences', sequences: [['public', 't_id_seq', '2', true]] });
  });

  it('format 1 commits (older segments) and a compacted part mixing both read each commit as what it is', async () => {
    expect(inserted(await lines(segment(txn(1), txn(2))))).toEqual(['1', '2']);
    const mixed = segment(txn(1), Buffer.concat([relation, records(2)]), txn(3), records(4));
    const out = await lines(mixed);
    expect(out[0]).toEqual({ kind: 'header' });
    expect(inserted(out)).toEqual(['1', '2', '3', '4']);
  });

  it('leaves other parts to the change-log reader, and refuses damaged segments with stable codes', async () => {
    expect(await lines(Buffer.from('{"format":"dbbackup-pg-changes","version":1}\n{"sequences":[]}\n'), 'changes/0000.jsonl')).toEqual([{ kind: 'header' }, { kind: 'sequences', sequences: [] }]);
    const cut = segment(txn(1)).subarray(0, 30);
    expect(isDbBackupError(await lines(cut).catch((e: unknown) => e), 'E_FOREIGN_ARCHIVE')).toBe(true);
    // A change of a relation the segment never described, a record cut by its commit's end, a foreign logical message.
    for (const bad of [records(1), Buffer.concat([relation, records(1)]).subarray(0, 40), Buffer.concat([relation, records(1), record(Buffer.from('M\0\0\0\0\0\0\0\0\0other\0\0\0\0\0'))])]) {
      const err = await lines(segment(bad)).catch((e: unknown) => e);
      expect(isDbBackupError(err, 'E_UNSAFE_BACKUP'), String(err)).toBe(true);
    }
  });
});
