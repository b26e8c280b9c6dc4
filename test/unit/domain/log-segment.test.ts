import { describe, expect, it } from 'vitest';
import { encodeLogSegment, type LogCommit, MAX_COMMIT_BYTES, oldestCommits, readLogSegment } from '../../../src/domain/log-segment.js';

async function* chunks(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function decode(bytes: Buffer, chunk = 7): Promise<LogCommit[]> {
  const out: LogCommit[] = [];
  for await (const c of readLogSegment(chunks(bytes, chunk), 'segment')) out.push(c);
  return out;
}

const commits: LogCommit[] = [
  { time: 1_700_000_000_000, payload: Buffer.from('first') },
  { time: 1_700_000_000_000, payload: Buffer.alloc(0) },
  { time: 1_700_000_000_250.5, payload: Buffer.alloc(5000, 7) },
];
const encoded = Buffer.concat([...encodeLogSegment(commits)]);

describe('log segment framing', () => {
  it('round-trips commits in order, whatever the chunking', async () => {
    for (const size of [1, 7, 4096, encoded.length]) expect(await decode(encoded, size)).toEqual(commits);
  });

  it('an empty segment is a header and an end record', async () => {
    expect(await decode(Buffer.concat([...encodeLogSegment([])]))).toEqual([]);
  });

  it('refuses a cut-off segment at every length short of whole (never a shorter log)', async () => {
    for (const n of [0, 3, 8, 9, 20, encoded.length - 5, encoded.length - 1]) {
      await expect(decode(encoded.subarray(0, n)), `cut at ${n}`).rejects.toMatchObject({ code: 'E_FOREIGN_ARCHIVE' });
    }
  });

  it('refuses a foreign header, bytes after the end, a miscounted end and times going back', async () => {
    const foreign = Buffer.from(encoded);
    foreign.write('X', 0, 'latin1');
    await expect(decode(foreign)).rejects.toThrow(/wrong header/);
    await expect(decode(Buffer.concat([encoded, Buffer.from([0])]))).rejects.toThrow(/bytes follow/);
    const miscount = Buffer.from(encoded);
    miscount.writeUInt32BE(9, miscount.length - 4);
    await expect(decode(miscount)).rejects.toThrow(/counts 9 commits, 3 were read/);
    const back = Buffer.concat([...encodeLogSegment([commits[2]!, commits[0]!])]);
    await expect(decode(back)).rejects.toThrow(/out of order/);
  });

  it('bounds a commit length before allocating it', async () => {
    const huge = Buffer.concat([...encodeLogSegment([{ time: 1, payload: Buffer.from('x') }])]);
    huge.writeUInt32BE(MAX_COMMIT_BYTES + 1, 8 + 1 + 8);
    await expect(decode(huge)).rejects.toThrow(/a commit of \d+ bytes/);
  });
});

describe('oldestCommits', () => {
  const waiting = [10, 20, 30].map((n, i) => ({ commit: { time: i, payload: Buffer.alloc(n) }, end: i }));

  it('takes the oldest commits up to maxBytes, always at least one', () => {
    expect(oldestCommits([], 100)).toBeUndefined();
    expect(oldestCommits(waiting, 30)).toMatchObject({ bytes: 30, last: { end: 1 } });
    expect(oldestCommits(waiting, 29)!.commits).toHaveLength(1);
    expect(oldestCommits(waiting, 1)).toMatchObject({ bytes: 10, last: { end: 0 } });
    expect(oldestCommits(waiting, 1000)).toMatchObject({ bytes: 60, last: { end: 2 } });
  });
});
