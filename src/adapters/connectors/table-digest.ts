import { createHash } from 'node:crypto';
import { DbBackupError } from '../../domain/errors.js';

const MASK = (1n << 64n) - 1n;

/**
 * An order-independent digest of a table's rows: each row's canonical bytes are hashed (sha256) and
 * the first 128 bits added up as two 64-bit sums, so rows may stream in any order, in constant
 * memory, and a row present twice counts twice (unlike XOR).
 */
export class RowDigest {
  private a = 0n;
  private b = 0n;
  rows = 0;

  add(row: Buffer | string): void {
    const h = createHash('sha256').update(row).digest();
    this.a = (this.a + h.readBigUInt64BE(0)) & MASK;
    this.b = (this.b + h.readBigUInt64BE(8)) & MASK;
    this.rows++;
  }

  get hash(): string {
    return `${this.a.toString(16).padStart(16, '0')}${this.b.toString(16).padStart(16, '0')}`;
  }
}

/**
 * One row's canonical text from driver values (SQLite, MySQL): each value typed and length-prefixed,
 * so that NULL, '' and 'NULL', 1 and '1', blobs and text, and ('a', 'b') and ('a\0b') never meet.
 */
export function rowText(values: readonly unknown[]): string {
  return values.map(valueText).join('');
}

function valueText(v: unknown): string {
  const [tag, body] = typed(v);
  return `${tag}${body.length}:${body}`;
}

function typed(v: unknown): [string, string] {
  if (v === null || v === undefined) return ['n', ''];
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return ['x', Buffer.from(v).toString('hex')];
  if (typeof v === 'bigint') return ['i', v.toString()];
  if (typeof v === 'number') return ['f', String(v)];
  if (v instanceof Date) return ['d', v.toISOString()];
  if (typeof v === 'object') return ['j', JSON.stringify(v)];
  return ['s', String(v)];
}

/** Refuses names in `chosen` that are not tables of the database (E_USAGE), else returns the chosen ones (all when undefined). */
export function chooseTables(all: string[], chosen: string[] | undefined, where: string, matches = (name: string, wanted: string) => name === wanted): string[] {
  if (!chosen) return all;
  const unknown = chosen.filter((c) => !all.some((t) => matches(t, c)));
  if (unknown.length) throw new DbBackupError('E_USAGE', `${where} has no table ${unknown.join(', ')}.`);
  return all.filter((t) => chosen.some((c) => matches(t, c)));
}
