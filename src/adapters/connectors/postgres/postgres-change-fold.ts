import type { Change, Column } from './postgres-pgoutput.js';

/**
 * Folding row changes into their net effect per row key: the rules shared by the apply (which
 * folds a bounded group of whole source transactions, then writes it with a few set-based
 * statements) and the differential (which folds every stored change since the full in a spill
 * store, postgres-differential.ts).
 *
 * The net effect of a key is one Entry:
 * - `image`: the row's latest whole image. `base` says a row with that key may exist before the
 *   fold (so the apply deletes it first); false when the key's first change was its insert.
 * - `update`: only some columns are known (an update left unchanged TOASTed columns out and the
 *   fold saw no whole image of the row): those are set on the existing row.
 * - `delete`: the row that existed before the fold is gone (a tombstone).
 * Writing a fold back is: delete every `base` key (images and tombstones), update the partial
 * rows, insert the images. After the deletes the table holds a subset of a state the source had
 * (the fold ends at a commit, or at a point between rows of one), so the inserts cannot break a
 * unique constraint that the source's order of changes kept (a swap of unique values, say).
 *
 * What does not fold (foldChange returns false and changes nothing): a change of a table without a
 * key, a key change of a row known only in part, an insert of a key the fold holds. The caller then
 * writes what it folded so far and applies that change on its own, in order.
 */
export type Entry = { kind: 'image'; cols: Column[]; base: boolean } | { kind: 'update'; cols: Column[] } | { kind: 'delete' };

/** The key columns the fold identifies a table's rows by (null: none, the table's changes stay in order), and its column count. */
export interface RelationShape {
  key: string[] | null;
  /** Columns a whole image has (the table's columns less generated ones, which pgoutput leaves out). */
  columns: number;
}

/** Where folded entries live, per relation (`rel`, an id the caller gives) and key (keyOf). */
export interface FoldStore {
  get(rel: string, key: string): Entry | undefined;
  put(rel: string, key: string, entry: Entry): void;
  remove(rel: string, key: string): void;
}

/** The key of a row: its key columns' values in key order, as JSON; undefined when one is missing or NULL. */
export function keyOf(cols: readonly Column[], key: readonly string[]): string | undefined {
  if (key.length === 1) {
    const v = valueOf(cols, key[0]!);
    return v === undefined ? undefined : oneKey(v);
  }
  const values: string[] = [];
  for (const name of key) {
    const v = valueOf(cols, name);
    if (v === undefined) return undefined;
    values.push(v);
  }
  return JSON.stringify(values);
}

/** keyOf the row after an update: each key column from `after` (the new image), else from `before` (the old key); no merged row is built. */
function keyAfter(before: readonly Column[], after: readonly Column[], key: readonly string[]): string | undefined {
  if (key.length === 1) {
    const v = (columnOf(after, key[0]!) ?? columnOf(before, key[0]!))?.[1];
    return v === undefined || v === null ? undefined : oneKey(v);
  }
  const values: string[] = [];
  for (const name of key) {
    const v = (columnOf(after, name) ?? columnOf(before, name))?.[1];
    if (v === undefined || v === null) return undefined;
    values.push(v);
  }
  return JSON.stringify(values);
}

/** True when every pair of `key` is one of `row`'s own pairs (not copies: the same objects), in order. */
function sharesKey(key: readonly Column[], row: readonly Column[]): boolean {
  let j = 0;
  for (const pair of key) {
    while (j < row.length && row[j] !== pair) j++;
    if (j === row.length) return false;
  }
  return key.length > 0;
}

/** The value of column `name`; undefined when the row has no such column or it is NULL. */
function valueOf(cols: readonly Column[], name: string): string | undefined {
  return columnOf(cols, name)?.[1] ?? undefined;
}

function columnOf(cols: readonly Column[], name: string): Column | undefined {
  for (let i = 0; i < cols.length; i++) if (cols[i]![0] === name) return cols[i];
  return undefined;
}

/** JSON.stringify([v]), without the array and the call when v has nothing JSON escapes (most keys). */
function oneKey(v: string): string {
  return JSON_ESCAPED.test(v) ? JSON.stringify([v]) : `["${v}"]`;
}

/** What JSON.stringify escapes in a string: quote, backslash, control characters, lone surrogates (any surrogate here, to be safe). */
const JSON_ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

/** The key columns' `[name, value]` pairs of a key made by keyOf. */
export function keyColumns(key: string, names: readonly string[]): Column[] {
  const values = JSON.parse(key) as string[];
  return names.map((n, i) => [n, values[i]!]);
}

/** `base` with the columns of `next` set: unchanged columns keep their place and value. */
export function mergeColumns(base: readonly Column[], next: readonly Column[]): Column[] {
  const out = base.map((c) => [c[0], c[1]] as Column);
  for (const c of next) {
    const at = out.findIndex((x) => x[0] === c[0]);
    if (at >= 0) out[at] = [c[0], c[1]];
    else out.push([c[0], c[1]]);
  }
  return out;
}

/** Folds one insert, update or delete into `store`; false (and nothing changed) when it does not fold (see above). */
export function foldChange(store: FoldStore, rel: string, shape: RelationShape, change: Change): boolean {
  if (shape.key === null || change.op === 'T' || change.op === 'R') return false;
  const key = shape.key;
  if (change.op === 'I') {
    const k = keyOf(change.new, key);
    if (k === undefined) return false;
    const prev = store.get(rel, k);
    if (prev && prev.kind !== 'delete') return false;
    store.put(rel, k, { kind: 'image', cols: change.new, base: prev !== undefined });
    return true;
  }
  if (change.op === 'D') {
    const k = keyOf(change.key, key);
    if (k === undefined) return false;
    const prev = store.get(rel, k);
    if (prev?.kind === 'image' && !prev.base) store.remove(rel, k);
    else store.put(rel, k, { kind: 'delete' });
    return true;
  }
  const oldKey = keyOf(change.key, key) ?? keyOf(change.new, key);
  // The decoder hands an update whose key did not change the new row's own key pairs: the same key.
  const newKey = oldKey !== undefined && sharesKey(change.key, change.new) ? oldKey : keyAfter(change.key, change.new, key);
  if (oldKey === undefined || newKey === undefined) return false;
  const prev = store.get(rel, oldKey);
  if (prev?.kind === 'delete') return false;
  const existed = prev?.kind === 'image' ? prev.base : true;
  let image: Column[];
  if (change.new.length >= shape.columns) image = change.new;
  else if (prev?.kind === 'image') image = mergeColumns(prev.cols, change.new);
  else if (oldKey === newKey) {
    store.put(rel, oldKey, { kind: 'update', cols: prev?.kind === 'update' ? mergeColumns(prev.cols, change.new) : change.new });
    return true;
  } else return false;
  if (oldKey === newKey) {
    store.put(rel, oldKey, { kind: 'image', cols: image, base: existed });
    return true;
  }
  const at = store.get(rel, newKey);
  if (at && at.kind !== 'delete') return false;
  if (existed) store.put(rel, oldKey, { kind: 'delete' });
  else store.remove(rel, oldKey);
  store.put(rel, newKey, { kind: 'image', cols: image, base: at !== undefined });
  return true;
}

/** An in-memory FoldStore for one bounded group; `relations()` hands the entries out per relation. */
export class MemoryFold implements FoldStore {
  private readonly rels = new Map<string, Map<string, Entry>>();
  size = 0;

  get(rel: string, key: string): Entry | undefined {
    return this.rels.get(rel)?.get(key);
  }

  put(rel: string, key: string, entry: Entry): void {
    let m = this.rels.get(rel);
    if (!m) this.rels.set(rel, (m = new Map()));
    if (!m.has(key)) this.size++;
    m.set(key, entry);
  }

  remove(rel: string, key: string): void {
    if (this.rels.get(rel)?.delete(key)) this.size--;
  }

  /** Takes every entry out (the store is empty after), relation by relation. */
  drain(): [string, Map<string, Entry>][] {
    const out = [...this.rels];
    this.rels.clear();
    this.size = 0;
    return out;
  }
}
