import { describe, expect, it } from 'vitest';
import { RowDigest, rowText } from '../../../src/adapters/connectors/table-digest.js';

const digestOf = (rows: unknown[][]) => {
  const d = new RowDigest();
  for (const r of rows) d.add(rowText(r));
  return { rows: d.rows, hash: d.hash };
};

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

  it('is a 128-bit hex hash, zero for no rows', () => {
    expect(digestOf([])).toEqual({ rows: 0, hash: '0'.repeat(32) });
    expect(digestOf(rows).hash).toMatch(/^[0-9a-f]{32}$/);
  });
});
