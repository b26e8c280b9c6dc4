import { describe, expect, it } from 'vitest';
import { LineDigest, RowDigest, rowText } from '../../../src/adapters/connectors/table-digest.js';

const digestOf = (rows: unknown[][]) => {
  const d = new RowDigest();
  for (const r of rows) d.add(rowText(r));
  return { rows: d.rows, hash: d.hash };
};

/** The digest of a text of one row per line, fed in chunks cut at `cuts`. */
const linesOf = (text: string | Buffer, cuts: number[] = []) => {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
  const lines = new LineDigest();
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    lines.push(bytes.subarray(at, cut));
    at = cut;
  }
  const d = lines.end();
  return { rows: d.rows, hash: d.hash };
};

/** A COPY-text-like table: `n` rows of a few columns, of varied lengths (every tail length of the 8-byte blocks). */
const table = (n: number) => Array.from({ length: n }, (_, i) => `${i}\tname ${'x'.repeat(i % 17)}\t${i % 3 ? '\\N' : `2026-12-0${1 + (i % 9)} 10:00:00+00`}\n`);

describe('RowDigest', () => {
  const rows = [[1n, 'a', null], [2n, '', Buffer.from([0, 1])], [3n, 'NULL', 1.5]];

  it('does not depend on the rows\' order', () => {
    expect(digestOf([rows[2]!, rows[0]!, rows[1]!])).toEqual(digestOf(rows));
  });

  it('counts a repeated row twice (a sum, not XOR) and tells every value apart', () => {
    expect(digestOf([...rows, rows[0]!]).hash).not.toBe(digestOf(rows).hash);
    expect(digestOf([rows[0]!, rows[0]!]).hash).not.toBe(digestOf([]).hash);
    const variants: unknown[][] = [[null], [''], ['NULL'], ['n'], [Buffer.from('')], [1n], ['1'], [1], [Buffer.from('1')], ['a', 'b'], ['a\u0000b'], ['a\u0000s1:b'], ['ab'], ['a1:b']];
    expect(new Set(variants.map((v) => digestOf([v]).hash)).size).toBe(variants.length);
  });

  it('is a 64-bit hex hash, zero for no rows, and keeps its definition (backups record it)', () => {
    expect(digestOf([])).toEqual({ rows: 0, hash: '0'.repeat(16) });
    expect(digestOf(rows).hash).toMatch(/^[0-9a-f]{16}$/);
    // Fixed answers: a change of the row hash would make every recorded contentHash differ.
    const known = new RowDigest();
    known.add('');
    expect(known.hash).toBe(KNOWN_EMPTY);
    known.add('1\thello, world\t\\N');
    expect(known.hash).toBe(KNOWN_TWO);
  });

  it('merging digests of parts of a table gives the digest of the whole (ranges read by several connections)', () => {
    const all = new RowDigest();
    const a = new RowDigest();
    const b = new RowDigest();
    table(500).forEach((line, i) => {
      all.add(line);
      (i % 3 ? a : b).add(line);
    });
    a.merge(b);
    expect([a.rows, a.hash]).toEqual([all.rows, all.hash]);
  });
});

describe('LineDigest', () => {
  const lines = table(300);
  const text = lines.join('');

  it('hashes each line as one row, wherever the chunks are cut, and equals RowDigest of the lines', () => {
    const whole = linesOf(text);
    expect(whole.rows).toBe(300);
    const d = new RowDigest();
    for (const l of lines) d.add(l.slice(0, -1));
    expect(whole.hash).toBe(d.hash);
    for (const cuts of [[1], [5, 6, 7], [text.indexOf('\n'), text.indexOf('\n') + 1], Array.from({ length: 40 }, (_, i) => i * 97 + 3)]) {
      expect(linesOf(text, cuts)).toEqual(whole);
    }
  });

  it('gives the same hash for the same rows in any order', () => {
    const shuffled = [...lines].sort((x, y) => (x.length % 5) - (y.length % 5) || (x < y ? 1 : -1));
    expect(shuffled.join('')).not.toBe(text);
    expect(linesOf(shuffled.join(''))).toEqual(linesOf(text));
  });

  it('gives another hash when one value changes, a byte anywhere, even with the same row count', () => {
    const whole = linesOf(text);
    const bytes = Buffer.from(text);
    const seen = new Set<string>();
    for (let at = 0; at < bytes.length; at += 37) {
      if (bytes[at] === 0x0a) continue;
      const changed = Buffer.from(bytes);
      changed[at] = changed[at] === 0x41 ? 0x42 : 0x41;
      const d = linesOf(changed);
      expect(d.rows).toBe(whole.rows);
      expect(d.hash).not.toBe(whole.hash);
      seen.add(d.hash);
    }
    // Two rows swapping a value between them keep the multiset of values but not of rows.
    const swapped = [...lines];
    swapped[0] = lines[0]!.replace('name ', 'name x');
    swapped[1] = lines[1]!.replace('name x', 'name ');
    expect(linesOf(swapped.join('')).hash).not.toBe(whole.hash);
    expect(seen.size).toBeGreaterThan(100);
  });

  it('takes a last line without its LF as a row; a NULL is not an empty string', () => {
    expect(linesOf('a\nb')).toEqual(linesOf('b\na\n'));
    expect(linesOf('\\N\n').hash).not.toBe(linesOf('\n').hash);
  });
});

describe('LineDigest on a value cut across many chunks', () => {
  it('hashes a line of any length in pieces exactly as whole (every split, tiny and large pieces)', () => {
    let seed = 7;
    const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const long = Buffer.alloc((1 << 20) + 3, 0);
    for (let i = 0; i < long.length; i++) long[i] = 0x20 + Math.floor(random() * 90);
    const text = Buffer.concat([Buffer.from('1\tshort\n2\t'), long, Buffer.from('\n3\tafter')]);
    const whole = new RowDigest();
    for (const line of text.toString('latin1').split('\n')) whole.add(Buffer.from(line, 'latin1'));
    for (const maxPiece of [1, 3, 7, 9, 4096, 100_000]) {
      const cuts: number[] = [];
      for (let at = 0; at < text.length; at += 1 + Math.floor(random() * maxPiece)) cuts.push(at);
      expect(linesOf(text, cuts.slice(1))).toEqual({ rows: whole.rows, hash: whole.hash });
    }
  });
});


const KNOWN_EMPTY = '3a9cabc8ee0a6994';
const KNOWN_TWO = 'e8cdaa5038bd2314';
