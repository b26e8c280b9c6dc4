import type { Document } from 'mongodb';
import { DbBackupError } from '../../../domain/errors.js';

/** An update written as the server's `$v: 2` delta turned into update operators (and array cuts). */
export interface DeltaUpdate {
  set: Document;
  unset: Document;
  /** Arrays cut to a length (`l` of an array delta), applied after the operators. */
  truncate: [path: string, length: number][];
}

/**
 * Translates a `$v: 2` update's `diff` (MongoDB 5.0+, doc_diff.h) into `$set`/`$unset` on dotted
 * paths: `d` deletes fields, `u` and `i` set them, `s<field>` holds the delta of a sub-document,
 * or of an array when it has `a: true` (`u<index>` sets an element, `s<index>` a delta of one,
 * `l` the new length). Setting a value is idempotent, so replaying an entry twice is harmless.
 */
export function deltaToUpdate(diff: Document, where: string): DeltaUpdate {
  const out: DeltaUpdate = { set: {}, unset: {}, truncate: [] };
  walkObject(diff, '', out, where, 0);
  return out;
}

const MAX_DEPTH = 200;

function walkObject(diff: Document, prefix: string, out: DeltaUpdate, where: string, depth: number): void {
  if (depth > MAX_DEPTH) throw bad(where, 'nested too deep');
  for (const [key, value] of Object.entries(diff)) {
    if (key === 'd') {
      for (const field of Object.keys(value as Document)) out.unset[prefix + field] = '';
    } else if (key === 'u' || key === 'i') {
      for (const [field, v] of Object.entries(value as Document)) out.set[prefix + field] = v;
    } else if (key.startsWith('s') && key.length > 1) {
      const sub = value as Document;
      if (typeof sub !== 'object' || sub === null) throw bad(where, `"${key}" is not a delta`);
      const path = `${prefix}${key.slice(1)}`;
      if (sub.a === true) walkArray(sub, `${path}.`, out, where, depth + 1);
      else walkObject(sub, `${path}.`, out, where, depth + 1);
    } else if (key !== 'a') {
      throw bad(where, `unknown field "${key}"`);
    }
  }
}

function walkArray(diff: Document, prefix: string, out: DeltaUpdate, where: string, depth: number): void {
  for (const [key, value] of Object.entries(diff)) {
    if (key === 'a') continue;
    if (key === 'l') {
      const n = Number(value);
      if (!Number.isSafeInteger(n) || n < 0) throw bad(where, 'an array length that is not a count');
      out.truncate.push([prefix.slice(0, -1), n]);
      continue;
    }
    const index = key.slice(1);
    if (!/^\d+$/.test(index)) throw bad(where, `unknown array field "${key}"`);
    if (key[0] === 'u') out.set[prefix + index] = value;
    else if (key[0] === 's') {
      const sub = value as Document;
      if (sub?.a === true) walkArray(sub, `${prefix}${index}.`, out, where, depth + 1);
      else walkObject(sub, `${prefix}${index}.`, out, where, depth + 1);
    } else throw bad(where, `unknown array field "${key}"`);
  }
}

function bad(where: string, why: string): DbBackupError {
  return new DbBackupError('E_FOREIGN_ARCHIVE', `${where} holds an update delta that cannot be read (${why}).`);
}
