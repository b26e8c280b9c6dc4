import type pg from 'pg';
import { quoteIdent } from './connection.js';
import type { Entry, RelationShape } from './postgres-change-fold.js';
import type { Column } from './postgres-pgoutput.js';

/** A table as the apply (or the differential) sees it in a database. */
export interface TableInfo extends RelationShape {
  /** `"schema"."name"` */
  ident: string;
  /** Column name → its type as `format_type` spells it without a modifier (values are cast to it from text). */
  types: Map<string, string>;
  /** Columns whose type has no `=` operator (json, point, xml …): compared as text in per-row matches. */
  textual: Set<string>;
  /**
   * True when no unique index or exclusion constraint but the key's: a row's new image may then be
   * written over it in place (UPDATE; about half the work of DELETE and INSERT), as no other row can
   * hold a value it takes.
   */
  inPlace: boolean;
}

/**
 * The table `rel` in the database of `client`, or null when it has none. Its key is the replica
 * identity index's columns (REPLICA IDENTITY USING INDEX), else the primary key's; none when it
 * has neither (its changes are then applied one by one, in order).
 */
export async function tableInfo(client: pg.Client, rel: [string, string]): Promise<TableInfo | null> {
  const ident = `${quoteIdent(rel[0])}.${quoteIdent(rel[1])}`;
  const row = (
    await client.query(
      `SELECT c.oid IS NOT NULL AS ok,
        ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS names,
        ARRAY(SELECT pg_catalog.format_type(a.atttypid, NULL) FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS types,
        ARRAY(SELECT a.attgenerated <> '' FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS generated,
        ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_operator o WHERE o.oprname = '=' AND o.oprleft = a.atttypid AND o.oprright = a.atttypid)) AS textual,
        (SELECT ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(num, ord) JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num ORDER BY k.ord)
          FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class r ON r.oid = i.indrelid
          WHERE i.indrelid = c.oid AND (CASE WHEN r.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary END) AND 0 <> ALL (i.indkey::int2[]) LIMIT 1) AS key,
        (SELECT count(*) FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND (i.indisunique OR i.indisexclusion))::int AS uniques
      FROM (SELECT pg_catalog.to_regclass($1)::oid AS oid) c`,
      [ident],
    )
  ).rows[0] as { ok: boolean; names: string[]; types: string[]; generated: boolean[]; textual: string[]; key: string[] | null; uniques: number };
  if (!row.ok) return null;
  const types = new Map(row.names.map((n, i) => [n, row.types[i]!]));
  const key = row.key && row.key.length > 0 ? row.key : null;
  return { ident, key, columns: row.generated.filter((g) => !g).length, types, textual: new Set(row.textual), inPlace: key !== null && row.uniques === 1 };
}

/** A statement over arrays of text values, one array per column; `expected` rows should be affected. */
export interface SetStatement {
  text: string;
  values: (string | null)[][];
  /** Rows an update or delete should find; undefined for inserts. */
  expected?: number;
}

const T = 'dbbackup_t';

/**
 * Rows per set statement: a statement's arrays then stay below V8's large-object size (~128 KiB
 * per array literal for rows of a few hundred bytes), so they die young instead of piling up in
 * the large-object space until a full collection (what made a differential's restore peak at
 * 270 MB RSS with 20,000-row statements).
 */
export const STATEMENT_ROWS = 1000;

/**
 * The statements that write one relation's folded entries: DELETEs of every key that may
 * exist before (images and tombstones), UPDATEs per shape of partial rows, INSERTs per shape of
 * images, in that order, each of at most STATEMENT_ROWS rows. A table whose only unique index is its key (TableInfo.inPlace) has the new images of
 * existing rows UPDATEd in place instead of deleted and inserted. Values travel as text arrays
 * (unnest) cast to each column's type, so a statement's text depends only on the table and the
 * columns, and is prepared once.
 */
export function setStatements(info: TableInfo, entries: Iterable<[string, Entry]>): SetStatement[] {
  const key = info.key ?? [];
  const deletes: string[] = [];
  const updates = new Shapes();
  const inserts = new Shapes();
  for (const [k, e] of entries) {
    const over = e.kind === 'image' && e.base && info.inPlace;
    if (e.kind === 'delete' || (e.kind === 'image' && e.base && !over)) deletes.push(k);
    if (e.kind === 'image' && !over) inserts.add(e.cols, k);
    else if (e.kind !== 'delete') updates.add(e.cols, k);
  }
  const out: SetStatement[] = [];
  if (deletes.length > 0) {
    const text = `DELETE FROM ONLY ${info.ident} AS ${T} USING ${unnest(info, key)} WHERE ${matchAll(info, key, 0)}`;
    for (const part of chunks(deletes)) {
      const keys = key.length === 1 ? undefined : part.map((k) => JSON.parse(k) as string[]);
      out.push({ text, values: key.map((_, i) => (keys ? keys.map((k) => k[i]!) : part.map((k) => (JSON.parse(k) as string[])[0]!))), expected: part.length });
    }
  }
  for (const shape of updates.list) {
    // The columns set (all but the key's), then the key's, each from the row when it has it, else from the fold's key.
    const set = shape.names.flatMap((n, i) => (key.includes(n) ? [] : [i]));
    if (set.length === 0) continue;
    const keyAt = key.map((n) => shape.names.indexOf(n));
    const names = [...set.map((i) => shape.names[i]!), ...key];
    const sets = set.map((i, j) => `${quoteIdent(shape.names[i]!)} = u.c${j}::${info.types.get(shape.names[i]!) ?? 'text'}`).join(', ');
    const text = `UPDATE ONLY ${info.ident} AS ${T} SET ${sets} FROM ${unnest(info, names)} WHERE ${matchAll(info, key, set.length)}`;
    for (const { rows, keys } of chunkRows(shape)) {
      const parsed = keyAt.includes(-1) ? keys.map((k) => JSON.parse(k) as string[]) : undefined;
      const values = [...set.map((i) => rows.map((r) => r[i]![1])), ...keyAt.map((at, j) => (at >= 0 ? rows.map((r) => r[at]![1]) : parsed!.map((k) => k[j]!)))];
      out.push({ text, values, expected: rows.length });
    }
  }
  for (const shape of inserts.list) {
    const names = shape.names;
    if (names.length === 0) continue;
    const list = names.map(quoteIdent).join(', ');
    const cast = names.map((n, i) => `u.c${i}::${info.types.get(n) ?? 'text'}`).join(', ');
    const text = `INSERT INTO ${info.ident} (${list}) OVERRIDING SYSTEM VALUE SELECT ${cast} FROM ${unnest(info, names)}`;
    for (const { rows } of chunkRows(shape)) out.push({ text, values: names.map((_, i) => rows.map((r) => r[i]![1])) });
  }
  return out;
}

/** Rows of one shape (the same column names in the same order) with their fold keys. */
interface Shape {
  names: string[];
  rows: Column[][];
  keys: string[];
}

/**
 * Rows grouped by shape. A row's names are compared with the shapes' (a relation's rows share the
 * same name strings, and there are few shapes), not turned into a string per row.
 */
class Shapes {
  readonly list: Shape[] = [];
  private last: Shape | undefined;

  add(cols: Column[], key: string): void {
    let shape = this.last && sameNames(this.last.names, cols) ? this.last : this.list.find((s) => sameNames(s.names, cols));
    if (!shape) this.list.push((shape = { names: cols.map((c) => c[0]), rows: [], keys: [] }));
    shape.rows.push(cols);
    shape.keys.push(key);
    this.last = shape;
  }
}

function sameNames(names: readonly string[], cols: readonly Column[]): boolean {
  if (names.length !== cols.length) return false;
  for (let i = 0; i < names.length; i++) if (names[i] !== cols[i]![0]) return false;
  return true;
}

function* chunkRows(shape: Shape): Generator<{ rows: Column[][]; keys: string[] }> {
  for (let at = 0; at < shape.rows.length; at += STATEMENT_ROWS) yield { rows: shape.rows.slice(at, at + STATEMENT_ROWS), keys: shape.keys.slice(at, at + STATEMENT_ROWS) };
}

function* chunks<T>(list: T[]): Generator<T[]> {
  for (let at = 0; at < list.length; at += STATEMENT_ROWS) yield list.slice(at, at + STATEMENT_ROWS);
}

/**
 * A PostgreSQL array literal of text values (`{"a","b",NULL}`), built with one join: pg's own
 * conversion of an array parameter concatenates element by element, a string of ropes several
 * times the literal's size.
 */
export function textArray(values: readonly (string | null)[]): string {
  // Most arrays need no escaping and hold no NULL: three native passes instead of a string per value.
  if (!values.includes(null) && !NEEDS_ESCAPE.test((values as string[]).join('\0'))) return values.length === 0 ? '{}' : `{"${values.join('","')}"}`;
  return `{${values.map((v) => (v === null ? 'NULL' : `"${v.replace(/[\\"]/g, '\\$&')}"`)).join(',')}}`;
}

/** A value PostgreSQL text never holds (NUL) joins the values tested for characters to escape. */
const NEEDS_ESCAPE = /[\\"]/;

/** `unnest($1::text[], …) AS u(c0, …)`: one text array per column. */
function unnest(_info: TableInfo, names: readonly string[]): string {
  return `unnest(${names.map((_, i) => `$${i + 1}::text[]`).join(', ')}) AS u(${names.map((_, i) => `c${i}`).join(', ')})`;
}

/** `dbbackup_t.k = u.cN::type AND …` for the key columns, which are the arrays from `offset` on. */
function matchAll(info: TableInfo, key: readonly string[], offset: number): string {
  return key.map((n, i) => `${T}.${quoteIdent(n)} = u.c${offset + i}::${info.types.get(n) ?? 'text'}`).join(' AND ');
}

/** `a = $n AND b IS NULL …` for the key columns, numbering parameters after `offset`; `textual` columns compare as text. */
export function match(key: Column[], offset: number, textual: Set<string>): { sql: string; values: string[] } {
  const values: string[] = [];
  const sql = key
    .map(([col, value]) => {
      if (value === null) return `${quoteIdent(col)} IS NULL`;
      values.push(value);
      return textual.has(col) ? `${quoteIdent(col)}::text = $${offset + values.length}::text` : `${quoteIdent(col)} = $${offset + values.length}`;
    })
    .join(' AND ');
  return { sql, values };
}
