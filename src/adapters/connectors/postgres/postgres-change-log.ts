import { DbBackupError } from '../../../domain/errors.js';
import type { Change, Column } from './postgres-pgoutput.js';

/**
 * The change-log part format (role `changes`, `changes/NNNN.jsonl`): UTF-8 JSON, one object per
 * line, in commit order. Every part starts with the header line and holds whole transactions
 * (parts are cut only after a commit); the batch's last part ends with the sequences line.
 *
 *   {"format":"dbbackup-pg-changes","version":1}
 *   {"begin":{"xid":742,"lsn":"0/1A2B3C8","time":"2026-12-06T10:00:00.123456Z"}}
 *   {"op":"I","rel":["public","t"],"new":[["id","1"],["note","a"]]}
 *   {"op":"U","rel":["public","t"],"key":[["id","1"]],"new":[["id","1"],["note","b"]]}
 *   {"op":"D","rel":["public","t"],"key":[["id","1"]]}
 *   {"op":"T","rels":[["public","t"]],"cascade":false,"restartIdentity":false}
 *   {"op":"R","rel":["public","keyless"]}
 *   {"commit":{"lsn":"0/1A2B3C8","end":"0/1A2B3F8","time":"2026-12-06T10:00:00.123456Z"}}
 *   {"sequences":[["public","t_id_seq","42",true]]}
 *
 * `lsn` is the commit record's LSN, `time` the commit time with microseconds (both in begin and
 * commit). Columns are `[name, value]` pairs with the server's text output (null for NULL); a
 * column left out of an update's `new` is an unchanged TOASTed value (keep the row's). `key` is the
 * row's replica identity before the change (its primary key, or the whole old row for REPLICA
 * IDENTITY FULL). `R` deletes every row of a table whose rows follow as inserts: the tables without
 * a replica identity, read whole at the batch's end in one last transaction (xid 0) whose lsn is the
 * batch's end (postgres-change-tables.ts). Sequence values are read at the end of the batch (logical decoding has none).
 * Parts are untrusted input on restore: checkLine validates every line before anything uses it.
 * Format version 2 (postgres-change-records.ts) stores the decoded stream's parts as the server's
 * pgoutput messages instead; version 1 parts (the whole-table images, the sequences, a
 * differential's net section, and every part written before) stay as here. changeLines reads both.
 */
export const CHANGE_LOG_FORMAT = 'dbbackup-pg-changes';
export const CHANGE_LOG_VERSION = 1;

export type ChangeLine =
  | { kind: 'header' }
  | { kind: 'begin'; xid: number; lsn: string; time: string }
  | { kind: 'commit'; lsn: string; end: string; time: string }
  | { kind: 'change'; change: Change }
  | { kind: 'sequences'; sequences: SequenceValue[] };

/** `[schema, name, last_value as text, is_called]` */
export type SequenceValue = [string, string, string, boolean];

export function headerLine(): string {
  return `${JSON.stringify({ format: CHANGE_LOG_FORMAT, version: CHANGE_LOG_VERSION })}\n`;
}

const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/;
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const INTEGER = /^-?\d{1,20}$/;

/** The error for a change-log part that is not as dbbackup writes it (`what` says how). */
export function unsafeChangeLog(where: string, what: string): DbBackupError {
  return new DbBackupError('E_UNSAFE_BACKUP', `The change log ${where} is not as dbbackup writes it (${what}): the backup was altered or damaged.`, { details: { found: what } });
}

/** Parses and validates one line of a change-log part; E_UNSAFE_BACKUP for anything dbbackup does not write. */
export function checkLine(text: string, where: string): ChangeLine {
  const bad = (what: string): never => {
    throw unsafeChangeLog(where, what);
  };
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return bad('a line is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('a line is not an object');
  if (v.format !== undefined) {
    if (v.format !== CHANGE_LOG_FORMAT || v.version !== CHANGE_LOG_VERSION) bad(`format ${String(v.format)} version ${String(v.version)}`);
    return { kind: 'header' };
  }
  if (v.begin !== undefined) {
    const b = v.begin as Record<string, unknown>;
    if (!isObject(b) || typeof b.xid !== 'number' || !isLsn(b.lsn) || !isTime(b.time)) bad('a bad begin');
    return { kind: 'begin', xid: b.xid as number, lsn: b.lsn as string, time: b.time as string };
  }
  if (v.commit !== undefined) {
    const c = v.commit as Record<string, unknown>;
    if (!isObject(c) || !isLsn(c.lsn) || !isLsn(c.end) || !isTime(c.time)) bad('a bad commit');
    return { kind: 'commit', lsn: c.lsn as string, end: c.end as string, time: c.time as string };
  }
  if (v.sequences !== undefined) return { kind: 'sequences', sequences: checkSequences(v.sequences, where) };
  return { kind: 'change', change: checkChange(v, bad) };
}

/** Validates sequence values read back (`[[schema, name, value, is_called], …]`); E_UNSAFE_BACKUP otherwise. */
export function checkSequences(s: unknown, where: string): SequenceValue[] {
  const ok = Array.isArray(s) && s.every((e) => Array.isArray(e) && e.length === 4 && isName(e[0]) && isName(e[1]) && typeof e[2] === 'string' && INTEGER.test(e[2]) && typeof e[3] === 'boolean');
  if (!ok) throw unsafeChangeLog(where, 'bad sequence values');
  return s as SequenceValue[];
}

function checkChange(v: Record<string, unknown>, bad: (what: string) => never): Change {
  switch (v.op) {
    case 'I':
      if (!isRel(v.rel) || !isColumns(v.new)) bad('a bad insert');
      return { op: 'I', rel: v.rel as [string, string], new: v.new as Column[] };
    case 'U':
      if (!isRel(v.rel) || !isColumns(v.new) || !isColumns(v.key) || (v.key as Column[]).length === 0) bad('a bad update');
      return { op: 'U', rel: v.rel as [string, string], key: v.key as Column[], new: v.new as Column[] };
    case 'D':
      if (!isRel(v.rel) || !isColumns(v.key) || (v.key as Column[]).length === 0) bad('a bad delete');
      return { op: 'D', rel: v.rel as [string, string], key: v.key as Column[] };
    case 'R':
      if (!isRel(v.rel)) bad('a bad replace');
      return { op: 'R', rel: v.rel as [string, string] };
    case 'T':
      if (!Array.isArray(v.rels) || !v.rels.every(isRel) || typeof v.cascade !== 'boolean' || typeof v.restartIdentity !== 'boolean') bad('a bad truncate');
      return { op: 'T', rels: v.rels as [string, string][], cascade: v.cascade as boolean, restartIdentity: v.restartIdentity as boolean };
    default:
      return bad(`an unknown operation ${JSON.stringify(v.op)?.slice(0, 20)}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isLsn(v: unknown): boolean {
  return typeof v === 'string' && LSN.test(v);
}

function isTime(v: unknown): boolean {
  return typeof v === 'string' && TIME.test(v);
}

/** A PostgreSQL identifier: 1–63 bytes… we accept up to 128 characters, no NUL; it is always quoted. */
function isName(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 128 && !v.includes('\0');
}

function isRel(v: unknown): boolean {
  return Array.isArray(v) && v.length === 2 && isName(v[0]) && isName(v[1]);
}

function isColumns(v: unknown): boolean {
  if (!Array.isArray(v)) return false;
  for (const c of v) {
    if (!Array.isArray(c) || c.length !== 2 || !isName(c[0]) || (c[1] !== null && typeof c[1] !== 'string')) return false;
  }
  return uniqueNames(v as [string, unknown][]);
}

/** No column twice (a pairwise scan below 32 columns: this runs for every line of a restore). */
function uniqueNames(cols: [string, unknown][]): boolean {
  if (cols.length >= 32) return new Set(cols.map((c) => c[0])).size === cols.length;
  for (let i = 1; i < cols.length; i++) for (let j = 0; j < i; j++) if (cols[i]![0] === cols[j]![0]) return false;
  return true;
}
