import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { PartSource } from '../../../src/application/ports/parts.js';
import { segmentAsChangeLog } from '../../../src/adapters/connectors/postgres/postgres-stream-segment.js';
import { encodeLogSegment, LOG_SEGMENT_PART } from '../../../src/domain/log-segment.js';
import type { Manifest, PartEntry } from '../../../src/domain/manifest.js';
import { isDbBackupError } from '../../../src/domain/errors.js';

const txn = (xid: number) =>
  Buffer.from(
    `{"begin":{"xid":${xid},"lsn":"0/1","time":"2026-12-06T10:00:00.000001Z"}}\n{"op":"I","rel":["public","t"],"new":[["id","${xid}"]]}\n{"commit":{"lsn":"0/1","end":"0/2","time":"2026-12-06T10:00:00.000001Z"}}\n`,
  );

function source(name: string, bytes: Buffer): PartSource {
  const part = { name, role: 'changes', codecs: [], rawSize: bytes.length, storedSize: bytes.length, sha256: '' } as PartEntry;
  return { manifest: { id: 'seg', parts: [part] } as unknown as Manifest, open: async () => Readable.from([bytes]) };
}

async function text(parts: PartSource): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of await parts.open(parts.manifest.parts[0]!)) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString();
}

describe('a log segment read as a change-log part', () => {
  it('is the header line followed by each commit’s lines', async () => {
    const seg = Buffer.concat([...encodeLogSegment([{ time: 1, payload: txn(1) }, { time: 2, payload: txn(2) }])]);
    const out = await text(segmentAsChangeLog(source(LOG_SEGMENT_PART, seg)));
    expect(out).toBe(`{"format":"dbbackup-pg-changes","version":1}\n${txn(1).toString()}${txn(2).toString()}`);
  });

  it('leaves other backups’ parts as they are, and refuses a damaged segment', async () => {
    expect(await text(segmentAsChangeLog(source('changes/0000.jsonl', Buffer.from('as is\n'))))).toBe('as is\n');
    const cut = Buffer.concat([...encodeLogSegment([{ time: 1, payload: txn(1) }])]).subarray(0, 30);
    const err = await text(segmentAsChangeLog(source(LOG_SEGMENT_PART, cut))).catch((e: unknown) => e);
    expect(isDbBackupError(err, 'E_FOREIGN_ARCHIVE')).toBe(true);
  });
});
