import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { END_RECORD, changeBatches, changeLines, recordsHeader, sequencesRecord } from '../../../src/adapters/connectors/postgres/postgres-change-records.js';
import type { ChangeLine } from '../../../src/adapters/connectors/postgres/postgres-change-log.js';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { u16, u32, u64, record } from '../../helpers/pg-wire-bytes.js';

const where = 'changes/0000.pgo of backup X';

const tuple = (cols: ([string] | [string, string])[]) =>
  Buffer.concat([u16(cols.length), ...cols.map((c) => (c[0] === 't' ? Buffer.concat([Buffer.from('t'), u32(Buffer.byteLength(c[1]!)), Buffer.from(c[1]!)]) : Buffer.from(c[0])))]);

/** Relation 16384 public.t (id int key, note text); what the server sends, as pgoutput protocol 1. */
const relation = Buffer.concat([
  Buffer.from('R'),
  u32(16384),
  Buffer.from('public\0t\0'),
  Buffer.from('d'),
  u16(2),
  Buffer.concat([Buffer.from([1]), Buffer.from('id\0'), u32(23), u32(0xffffffff)]),
  Buffer.concat([Buffer.from([0]), Buffer.from('note\0'), u32(25), u32(0xffffffff)]),
]);
const begin = Buffer.concat([Buffer.from('B'), u64(0x16b3748n), u64(851_990_400_123_456n), u32(42)]);
const insert = Buffer.concat([Buffer.from('I'), u32(16384), Buffer.from('N'), tuple([['t', '1'], ['t', 'tab\there']])]);
const update = Buffer.concat([Buffer.from('U'), u32(16384), Buffer.from('N'), tuple([['t', '1'], ['u']])]);
const del = Buffer.concat([Buffer.from('D'), u32(16384), Buffer.from('K'), tuple([['t', '1'], ['n']])]);
const truncate = Buffer.concat([Buffer.from('T'), u32(1), Buffer.from([2]), u32(16384)]);
const commit = Buffer.concat([Buffer.from('C'), Buffer.from([0]), u64(0x16b3748n), u64(0x16b3780n), u64(851_990_400_123_456n)]);

const part = (...messages: Buffer[]) => Buffer.concat([recordsHeader(), ...messages.map(record), END_RECORD]);
const good = part(relation, begin, insert, update, del, truncate, commit);

async function lines(bytes: Buffer, chunk = bytes.length): Promise<ChangeLine[]> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += Math.max(1, chunk)) chunks.push(bytes.subarray(i, i + chunk));
  const out: ChangeLine[] = [];
  for await (const line of changeLines(Readable.from(chunks), where)) out.push(line);
  return out;
}

async function failure(bytes: Buffer): Promise<unknown> {
  return lines(bytes).then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('change-log parts, format 2 (pgoutput records)', () => {
  it('decodes the records into the lines the apply reads, whatever the chunking', async () => {
    const expected: ChangeLine[] = [
      { kind: 'header' },
      { kind: 'begin', xid: 42, lsn: '0/16B3748', time: '2026-12-31T00:00:00.123456Z' },
      { kind: 'change', change: { op: 'I', rel: ['public', 't'], new: [['id', '1'], ['note', 'tab\there']] } },
      // The unchanged TOASTed note is left out of the update (keep the row's value).
      { kind: 'change', change: { op: 'U', rel: ['public', 't'], key: [['id', '1']], new: [['id', '1']] } },
      { kind: 'change', change: { op: 'D', rel: ['public', 't'], key: [['id', '1']] } },
      { kind: 'change', change: { op: 'T', rels: [['public', 't']], cascade: false, restartIdentity: true } },
      { kind: 'commit', lsn: '0/16B3748', end: '0/16B3780', time: '2026-12-31T00:00:00.123456Z' },
    ];
    expect(await lines(good)).toEqual(expected);
    expect(await lines(good, 1)).toEqual(expected);
    expect(await lines(good, 7)).toEqual(expected);
  });

  it('hands a large read on in runs of at most 256 lines, in order, in either format', async () => {
    const many = part(relation, ...Array.from({ length: 400 }, () => [begin, insert, commit]).flat());
    const v1 = Buffer.from(`{"format":"dbbackup-pg-changes","version":1}\n${'{"sequences":[]}\n'.repeat(1200)}`);
    for (const [bytes, kinds] of [[many, ['begin', 'change', 'commit']], [v1, ['sequences']]] as const) {
      for (const chunk of [bytes.length, 1000, 3]) {
        const runs: number[] = [];
        const seen: string[] = [];
        const chunks: Buffer[] = [];
        for (let i = 0; i < bytes.length; i += chunk) chunks.push(bytes.subarray(i, i + chunk));
        for await (const run of changeBatches(Readable.from(chunks), where)) {
          runs.push(run.length);
          for (const line of run) seen.push(line.kind);
        }
        expect(Math.max(...runs)).toBeLessThanOrEqual(256);
        expect(seen).toEqual(['header', ...Array.from({ length: 1200 / kinds.length }, () => kinds).flat()]);
      }
    }
  });

  it('reads the sequences record (a logical message of dbbackup’s own); refuses any other logical message', async () => {
    const seq = sequencesRecord([['public', 's', '42', true]]);
    const out = await lines(Buffer.concat([recordsHeader(), record(relation), record(begin), record(insert), record(commit), seq, END_RECORD]), 3);
    expect(out.at(-1)).toEqual({ kind: 'sequences', sequences: [['public', 's', '42', true]] });
    const foreign = Buffer.concat([Buffer.from('M'), Buffer.from([0]), u64(0n), Buffer.from('other\0'), u32(2), Buffer.from('[]')]);
    expect(isDbBackupError(await failure(part(foreign)), 'E_UNSAFE_BACKUP')).toBe(true);
    const badValues = Buffer.concat([Buffer.from('M'), Buffer.from([0]), u64(0n), Buffer.from('dbbackup.sequences\0'), u32(7), Buffer.from('[["x"]]')]);
    expect(isDbBackupError(await failure(part(badValues)), 'E_UNSAFE_BACKUP')).toBe(true);
  });

  it('still reads format 1 (JSON lines), as every part written before and the sequences part are', async () => {
    const v1 = Buffer.from('{"format":"dbbackup-pg-changes","version":1}\n{"sequences":[["public","s","42",true]]}\n');
    expect(await lines(v1, 5)).toEqual([{ kind: 'header' }, { kind: 'sequences', sequences: [['public', 's', '42', true]] }]);
  });

  it('lets the consumer stop early and destroy the body (restore --at) without an error left behind, in either format', async () => {
    const v1 = Buffer.from(`{"format":"dbbackup-pg-changes","version":1}\n${'{"sequences":[]}\n'.repeat(5000)}`);
    for (const bytes of [good, v1]) {
      const body = Readable.from((function* () {
        for (let i = 0; i < bytes.length; i += 16) yield bytes.subarray(i, i + 16);
      })());
      const errors: unknown[] = [];
      body.on('error', (e) => errors.push(e));
      let seen = 0;
      for await (const _ of changeLines(body, where)) {
        if (++seen === 2) {
          body.destroy();
          break;
        }
      }
      await new Promise((resolve) => setImmediate(resolve));
      expect(seen).toBe(2);
      expect(errors).toEqual([]);
    }
  });

  it.each([
    ['a part cut before its end record', good.subarray(0, good.length - 4), 'E_TRUNCATED'],
    ['a part cut inside a record', good.subarray(0, good.length - 10), 'E_TRUNCATED'],
    ['bytes after the end record', Buffer.concat([good, Buffer.from([0])]), 'E_UNSAFE_BACKUP'],
    ['a record longer than any row', Buffer.concat([recordsHeader(), u32(0xfffffff0), END_RECORD]), 'E_UNSAFE_BACKUP'],
    ['a change of a relation never described', part(begin, insert, commit), 'E_UNSAFE_BACKUP'],
    ['a message of a kind dbbackup never stores', part(Buffer.from('Yxyz')), 'E_UNSAFE_BACKUP'],
    ['a message shorter than its fields', part(Buffer.from('B12')), 'E_UNSAFE_BACKUP'],
    ['bytes after a message', part(Buffer.concat([begin, Buffer.from('x')])), 'E_UNSAFE_BACKUP'],
    ['a value longer than its record', part(relation, Buffer.concat([Buffer.from('I'), u32(16384), Buffer.from('N'), u16(2), Buffer.from('t'), u32(1000), Buffer.from('1n')])), 'E_UNSAFE_BACKUP'],
    ['a row narrower than its relation', part(relation, Buffer.concat([Buffer.from('I'), u32(16384), Buffer.from('N'), tuple([['t', '1']])])), 'E_UNSAFE_BACKUP'],
    ['a delete without a key', part(relation, Buffer.concat([Buffer.from('D'), u32(16384), Buffer.from('K'), tuple([['u'], ['n']])])), 'E_UNSAFE_BACKUP'],
    ['a repeated column name', part(Buffer.concat([relation.subarray(0, 15), u16(2), Buffer.from([1]), Buffer.from('id\0'), u32(23), u32(0), Buffer.from([0]), Buffer.from('id\0'), u32(23), u32(0)])), 'E_UNSAFE_BACKUP'],
    ['another format version', Buffer.from('{"format":"dbbackup-pg-changes","version":3}\n'), 'E_UNSAFE_BACKUP'],
    ['no header line', Buffer.alloc(1000, 0x41), 'E_UNSAFE_BACKUP'],
  ])('refuses %s (%s)', async (_, bytes, code) => {
    const err = await failure(bytes);
    expect(isDbBackupError(err, code as 'E_TRUNCATED')).toBe(true);
  });

  it('any damage to a part is a stable error code, never a crash or a different exception', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(good.length), async (edits, cutAt) => {
        const bytes = Buffer.from(good.subarray(0, Math.max(cutAt, recordsHeader().length)));
        for (const [at, value] of edits) if (at < bytes.length) bytes[at] = value;
        const err = await failure(bytes);
        if (err !== undefined) expect(isDbBackupError(err, 'E_UNSAFE_BACKUP') || isDbBackupError(err, 'E_TRUNCATED')).toBe(true);
      }),
      { numRuns: 400 },
    );
  });
});
