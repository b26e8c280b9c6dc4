import { describe, expect, it } from 'vitest';
import { type Entry, MemoryFold, foldChange, keyOf } from '../../../src/adapters/connectors/postgres/postgres-change-fold.js';
import { STATEMENT_ROWS, type TableInfo, setStatements, textArray } from '../../../src/adapters/connectors/postgres/postgres-change-sets.js';
import type { Change } from '../../../src/adapters/connectors/postgres/postgres-pgoutput.js';

const rel: [string, string] = ['public', 't'];
const shape = { key: ['id'], columns: 3 };
const row = (id: string, v: string, blob = 'big'): [string, string | null][] => [
  ['id', id],
  ['v', v],
  ['blob', blob],
];
const I = (id: string, v: string): Change => ({ op: 'I', rel, new: row(id, v) });
const U = (id: string, v: string, from = id, partial = false): Change => ({ op: 'U', rel, key: [['id', from]], new: partial ? row(id, v).slice(0, 2) : row(id, v) });
const D = (id: string): Change => ({ op: 'D', rel, key: [['id', id]] });

function fold(changes: Change[]): { store: MemoryFold; folded: boolean[] } {
  const store = new MemoryFold();
  return { store, folded: changes.map((c) => foldChange(store, 't', shape, c)) };
}
const entry = (store: MemoryFold, id: string): Entry | undefined => store.get('t', keyOf([['id', id]], ['id'])!);

describe('folding row changes per key (postgres-change-fold)', () => {
  it('keeps the latest whole image; an insert then delete leaves nothing, a delete of an older row a tombstone', () => {
    const { store, folded } = fold([I('1', 'a'), U('1', 'b'), U('2', 'x'), U('2', 'y'), I('3', 'c'), D('3'), D('4')]);
    expect(folded.every(Boolean)).toBe(true);
    expect(entry(store, '1')).toEqual({ kind: 'image', cols: row('1', 'b'), base: false });
    expect(entry(store, '2')).toEqual({ kind: 'image', cols: row('2', 'y'), base: true });
    expect(entry(store, '3')).toBeUndefined();
    expect(entry(store, '4')).toEqual({ kind: 'delete' });
    expect(store.size).toBe(3);
  });

  it('an update without its unchanged TOASTed column merges into a known image, or stays a partial update', () => {
    const { store } = fold([I('1', 'a'), U('1', 'b', '1', true), U('2', 'p', '2', true), U('2', 'q', '2', true)]);
    expect(entry(store, '1')).toEqual({ kind: 'image', cols: row('1', 'b'), base: false });
    expect(entry(store, '2')).toEqual({ kind: 'update', cols: row('2', 'q').slice(0, 2) });
  });

  it('a key change moves the image and leaves a tombstone where the old row was; a delete and re-insert deletes first', () => {
    const { store } = fold([U('10', 'moved', '1'), D('5'), I('5', 'again')]);
    expect(entry(store, '1')).toEqual({ kind: 'delete' });
    expect(entry(store, '10')).toEqual({ kind: 'image', cols: row('10', 'moved'), base: false });
    expect(entry(store, '5')).toEqual({ kind: 'image', cols: row('5', 'again'), base: true });
  });

  it('does not fold (and changes nothing) a key change of a row known only in part, an insert over a held key, or a keyless table', () => {
    const { store, folded } = fold([U('2', 'p', '1', true), I('3', 'a'), I('3', 'b')]);
    expect(folded).toEqual([false, true, false]);
    expect(entry(store, '1')).toBeUndefined();
    expect(entry(store, '3')).toEqual({ kind: 'image', cols: row('3', 'a'), base: false });
    expect(foldChange(store, 'k', { key: null, columns: 1 }, { op: 'I', rel, new: [['a', '1']] })).toBe(false);
    expect(foldChange(store, 't', shape, { op: 'T', rels: [rel], cascade: false, restartIdentity: false })).toBe(false);
  });

  it('writes a fold as one delete, then updates, then inserts per shape; in place when the key is the only unique index', () => {
    const { store } = fold([U('1', 'x'), D('2'), I('3', 'new'), U('4', 'part', '4', true)]);
    const info: TableInfo = { ident: '"public"."t"', key: ['id'], columns: 3, types: new Map([['id', 'integer'], ['v', 'text'], ['blob', 'text']]), textual: new Set(), inPlace: false };
    const [[, entries]] = store.drain() as [[string, Map<string, Entry>]];
    const replaced = setStatements(info, entries);
    expect(replaced.map((s) => s.text.split(' ')[0])).toEqual(['DELETE', 'UPDATE', 'INSERT']);
    expect(replaced[0]!.values).toEqual([['1', '2']]);
    expect(replaced[0]!.expected).toBe(2);
    expect(replaced[1]!.text).toBe(`UPDATE ONLY "public"."t" AS dbbackup_t SET "v" = u.c0::text FROM unnest($1::text[], $2::text[]) AS u(c0, c1) WHERE dbbackup_t."id" = u.c1::integer`);
    expect(replaced[2]!.values).toEqual([['1', '3'], ['x', 'new'], ['big', 'big']]);
    const inPlace = setStatements({ ...info, inPlace: true }, entries);
    expect(inPlace.map((s) => s.text.split(' ')[0])).toEqual(['DELETE', 'UPDATE', 'UPDATE', 'INSERT']);
    expect(inPlace[0]!.values).toEqual([['2']]);
  });

  it('an update that lacks a key column (an unchanged TOASTed key) takes the key from the fold; shapes group rows by their column names', () => {
    const info: TableInfo = { ident: '"public"."t"', key: ['id'], columns: 3, types: new Map([['id', 'text'], ['v', 'text'], ['blob', 'text']]), textual: new Set(), inPlace: true };
    const entries: [string, Entry][] = [
      [JSON.stringify(['k1']), { kind: 'update', cols: [['v', 'a']] }],
      [JSON.stringify(['k2']), { kind: 'update', cols: [['id', 'k2'], ['v', 'b']] }],
      [JSON.stringify(['k3']), { kind: 'update', cols: [['v', 'c']] }],
      [JSON.stringify(['k4']), { kind: 'image', cols: row('k4', 'd'), base: true }],
      [JSON.stringify(['k5']), { kind: 'image', cols: row('k5', 'e'), base: false }],
    ];
    const out = setStatements(info, entries);
    expect(out.map((s) => [s.text.split(' SET ')[1]?.split(' FROM ')[0] ?? s.text.split(' ')[0], s.values])).toEqual([
      ['"v" = u.c0::text', [['a', 'c'], ['k1', 'k3']]],
      ['"v" = u.c0::text', [['b'], ['k2']]],
      ['"v" = u.c0::text, "blob" = u.c1::text', [['d'], ['big'], ['k4']]],
      ['INSERT', [['k5'], ['e'], ['big']]],
    ]);
    expect(out.slice(0, 3).map((s) => s.expected)).toEqual([2, 1, 1]);
  });

  it('writes a large fold in statements of at most STATEMENT_ROWS rows, deletes before updates before inserts', () => {
    const store = new MemoryFold();
    const n = STATEMENT_ROWS * 2 + 500;
    for (let i = 0; i < n; i++) {
      expect(foldChange(store, 't', shape, U(String(i), `u${i}`))).toBe(true);
      expect(foldChange(store, 't', shape, I(String(n + i), `i${i}`))).toBe(true);
    }
    const info: TableInfo = { ident: '"public"."t"', key: ['id'], columns: 3, types: new Map([['id', 'integer'], ['v', 'text'], ['blob', 'text']]), textual: new Set(), inPlace: false };
    const [[, entries]] = store.drain() as [[string, Map<string, Entry>]];
    const out = setStatements(info, entries);
    expect(out.map((s) => `${s.text.split(' ')[0]} ${s.values[0]!.length}`)).toEqual(['DELETE 1000', 'DELETE 1000', 'DELETE 500', 'INSERT 1000', 'INSERT 1000', 'INSERT 1000', 'INSERT 1000', 'INSERT 1000']);
    expect(out.slice(0, 3).reduce((k, s) => k + s.expected!, 0)).toBe(n);
  });

  it('keyOf is the JSON of the key values, also for values JSON escapes and keys of several columns; undefined for a missing or NULL column', () => {
    for (const v of ['1', 'plain text', 'a"b', 'a\\b', 'tab\there', 'nl\n', '\u0001', 'é ü 日本', '\ud83d\ude00', '\ud800', '']) {
      expect(keyOf([['x', 'y'], ['id', v]], ['id'])).toBe(JSON.stringify([v]));
      expect(keyOf([['a', v], ['b', '2']], ['b', 'a'])).toBe(JSON.stringify(['2', v]));
    }
    expect(keyOf([['id', null]], ['id'])).toBeUndefined();
    expect(keyOf([['v', '1']], ['id'])).toBeUndefined();
    // An update's new key: from the new row, else the old key; a NULL in the new row is not replaced by the old value.
    const store = new MemoryFold();
    expect(foldChange(store, 't', shape, { op: 'U', rel, key: [['id', '7']], new: [['v', 'x'], ['blob', 'b']] })).toBe(true);
    expect(store.get('t', JSON.stringify(['7']))).toEqual({ kind: 'update', cols: [['v', 'x'], ['blob', 'b']] });
    expect(foldChange(store, 't', shape, { op: 'U', rel, key: [['id', '8']], new: [['id', null], ['v', 'x'], ['blob', 'b']] })).toBe(false);
    // The decoder shares the new row's key pairs with the key when the key did not change.
    const shared = row('9', 'y');
    expect(foldChange(store, 't', shape, { op: 'U', rel, key: [shared[0]!], new: shared })).toBe(true);
    expect(store.get('t', JSON.stringify(['9']))).toEqual({ kind: 'image', cols: row('9', 'y'), base: true });
  });

  it('textArray: a PostgreSQL array literal with quotes and backslashes escaped, NULL unquoted', () => {
    expect(textArray(['a', 'b"c', 'd\\e', null, ''])).toBe('{"a","b\\"c","d\\\\e",NULL,""}');
    expect(textArray(['a', 'b c', ''])).toBe('{"a","b c",""}');
    expect(textArray(['a"'])).toBe('{"a\\""}');
    expect(textArray([null])).toBe('{NULL}');
    expect(textArray([])).toBe('{}');
  });
});
