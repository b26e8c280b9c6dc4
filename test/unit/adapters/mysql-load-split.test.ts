import { describe, expect, it } from 'vitest';
import { rowChunks } from '../../../src/adapters/connectors/mysql/mysql-load-split.js';

async function collect(input: Buffer[], size: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const piece of rowChunks((async function* () { yield* input; })(), size)) out.push(Buffer.concat(piece));
  return out;
}

describe('rowChunks', () => {
  it('cuts only at row ends, keeps every byte in order, and holds a long row whole', async () => {
    const rows = ['1\tabc\\n\\tx\n', '2\t\\N\n', `3\t${'y'.repeat(50)}\n`, '4\tü\\\\\n', '5\tlast'];
    const text = Buffer.from(rows.join(''));
    // Reads of 7 bytes, pieces of at least 10: cuts fall inside rows unless the splitter moves them.
    const reads = Array.from({ length: Math.ceil(text.length / 7) }, (_, i) => text.subarray(i * 7, i * 7 + 7));
    const pieces = await collect(reads, 10);
    expect(Buffer.concat(pieces).equals(text)).toBe(true);
    expect(pieces.length).toBeGreaterThan(2);
    for (const p of pieces.slice(0, -1)) expect(p[p.length - 1]).toBe(0x0a);
    expect(pieces.some((p) => p.toString().includes('y'.repeat(50)))).toBe(true);
  });

  it('makes pieces of the reads themselves (no copy), each at least the size asked unless last', async () => {
    const reads = ['a\tb\n', 'cc\ndd', 'd\n', 'e\n'].map((r) => Buffer.from(r));
    const pieces: Buffer[][] = [];
    for await (const piece of rowChunks((async function* () { yield* reads; })(), 6)) pieces.push(piece);
    expect(pieces.map((p) => p.map((c) => c.toString()))).toEqual([['a\tb\n', 'cc\n'], ['dd', 'd\n', 'e\n']]);
    expect(pieces[0]![0]!.buffer).toBe(reads[0]!.buffer);
  });

  it('gives nothing for an empty stream', async () => {
    expect(await collect([], 10)).toEqual([]);
  });
});
