import { StringDecoder } from 'node:string_decoder';
import { DbBackupError } from '../../../domain/errors.js';
import { CHANGE_LOG_FORMAT, CHANGE_LOG_VERSION, type ChangeLine, type SequenceValue, checkLine, checkSequences, unsafeChangeLog } from './postgres-change-log.js';
import { PgOutputDecoder } from './postgres-pgoutput.js';
import { lsnToString } from './postgres-replication.js';

/**
 * Change-log parts, format version 2 (`changes/NNNN.pgo`): the slot's pgoutput messages kept as
 * the server sent them, so a backup copies bytes instead of decoding every row into objects and
 * encoding it again as JSON (that was most of an incremental's client time); decoding happens once,
 * at restore. A header line, then length-prefixed records, then an end record:
 *
 *   {"format":"dbbackup-pg-changes","version":2,"encoding":"pgoutput-1"}\n
 *   per record: u32 length (big-endian, > 0) | one pgoutput protocol-1 message (tag byte first)
 *   u32 0                                      (the end: a part without it was cut off)
 *
 * Records are Relation ('R'), Begin ('B'), Insert/Update/Delete/Truncate ('I' 'U' 'D' 'T') and
 * Commit ('C'), in commit order; parts are cut only after a commit, and each part starts with the
 * Relation messages of the relations described before it, so a part decodes on its own. One record
 * is dbbackup's own, in pgoutput's shape: the sequences' values as a logical message ('M', prefix
 * `dbbackup.sequences`, sequencesRecord), which replicate's segments end a poll's commits with (the
 * same records make up their commits, without header or end record: postgres-stream-segment.ts). Begin
 * carries the commit's LSN and time (microseconds), Commit its LSN, end LSN and time: the index a
 * restore --at needs, per transaction. Values are the server's text output. Read back they are
 * untrusted: every record is bounded and decoded strictly (PgOutputDecoder's `stored` mode).
 */
export const RECORDS_VERSION = 2;
export const RECORDS_EXTENSION = 'pgo';
/** A record larger than this is not one dbbackup writes (a row is at most 1 GiB). */
const MAX_RECORD = (1 << 30) + (1 << 20);
/** The header line is short: a first line longer than this is not a change log. */
const MAX_HEADER = 256;

export function recordsHeader(): Buffer {
  return Buffer.from(`${JSON.stringify({ format: CHANGE_LOG_FORMAT, version: RECORDS_VERSION, encoding: 'pgoutput-1' })}\n`);
}

export const END_RECORD: Buffer = Buffer.alloc(4);

/**
 * The lines of a change-log part of either version, validated (E_UNSAFE_BACKUP for anything
 * dbbackup does not write, E_TRUNCATED for a version 2 part cut off): the header first, then
 * begin, change, commit (and, in version 1 parts, sequences) lines as checkLine returns them.
 */
export async function* changeLines(body: AsyncIterable<unknown>, where: string): AsyncGenerator<ChangeLine> {
  for await (const batch of changeBatches(body, where)) yield* batch;
}

/**
 * changeLines in runs: the lines of what one read of the body brought, decoded at once (an await
 * per run, not two per record: the apply's reading cost that much per row). The body is read only
 * as the consumer asks, so nothing is pending on it when the consumer stops early and destroys it
 * (as the apply does at `--at`).
 */
export async function* changeBatches(body: AsyncIterable<unknown>, where: string): AsyncGenerator<ChangeLine[]> {
  const it = body[Symbol.asyncIterator]();
  const { line, rest } = await headerLine(it, where);
  const version = headerVersion(line, where);
  if (version === CHANGE_LOG_VERSION) {
    yield [checkLine(line, where)];
    yield* jsonLines(rest, it, where);
    return;
  }
  yield [{ kind: 'header' }];
  yield* recordBatches(rest, it, where);
}

/** Longest line read (V8's longest string): a longer one is not a line dbbackup wrote. */
const MAX_LINE = (1 << 29) - 24;

/**
 * Lines decoded before they are handed on: a read may bring megabytes, and decoding all of it at
 * once held every row of it as objects (a restore's peak RSS went from ~165 to ~255 MB).
 */
const RUN = 256;

/** Format 1's lines after the header. */
async function* jsonLines(first: Buffer, it: AsyncIterator<unknown>, where: string): AsyncGenerator<ChangeLine[]> {
  const decoder = new StringDecoder('utf8');
  let pending = decoder.write(first);
  for (;;) {
    let start = 0;
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      const out: ChangeLine[] = [];
      for (; nl >= 0 && out.length < RUN; nl = pending.indexOf('\n', start)) {
        const text = pending.slice(start, nl);
        start = nl + 1;
        if (text !== '') out.push(checkLine(text, where));
      }
      if (out.length) yield out;
    }
    pending = pending.slice(start);
    const next = await it.next();
    if (next.done) break;
    const chunk = asBuffer(next.value);
    if (pending.length + chunk.length > MAX_LINE) throw unsafeChangeLog(where, 'a line longer than any dbbackup writes');
    pending += decoder.write(chunk);
  }
  pending += decoder.end();
  if (pending !== '') yield [checkLine(pending, where)];
}

/** Format 2's records after the header: every whole record of a read decoded at once. */
async function* recordBatches(first: Buffer, it: AsyncIterator<unknown>, where: string): AsyncGenerator<ChangeLine[]> {
  const decoder = new PgOutputDecoder((what) => unsafeChangeLog(where, what), true);
  let buf = first;
  let ended = false;
  let at = 0;
  for (;;) {
    const out: ChangeLine[] = [];
    /** Bytes the record cut by the end of `buf` still needs. */
    let wanted = 0;
    while (!ended && buf.length - at >= 4 && out.length < RUN) {
      const length = buf.readUInt32BE(at);
      if (length === 0) {
        ended = true;
        at += 4;
        break;
      }
      if (length > MAX_RECORD) throw unsafeChangeLog(where, `a record of ${length} bytes`);
      if (buf.length - at - 4 < length) {
        wanted = length + 4 - (buf.length - at);
        break;
      }
      const line = recordLine(decoder, buf, at + 4, at + 4 + length, where);
      at += 4 + length;
      if (line) out.push(line);
    }
    if (ended && at < buf.length) throw unsafeChangeLog(where, 'bytes after its end record');
    if (out.length) yield out;
    // A full run: the rest of this read first.
    if (out.length === RUN && !ended && wanted === 0) continue;
    buf = buf.subarray(at);
    at = 0;
    // One read more, or as many as the cut record needs (gathered, then joined once).
    const more = buf.length > 0 ? [buf] : [];
    let have = buf.length;
    do {
      const next = await it.next();
      if (next.done) {
        if (ended) return;
        throw new DbBackupError('E_TRUNCATED', `The change log ${where} ${have === 0 ? 'has no end record' : 'ends in the middle of a record'}: the backup is incomplete.`);
      }
      const chunk = asBuffer(next.value);
      if (ended && chunk.length > 0) throw unsafeChangeLog(where, 'bytes after its end record');
      more.push(chunk);
      have += chunk.length;
    } while (have - buf.length < wanted);
    buf = more.length === 1 ? more[0]! : Buffer.concat(more, have);
  }
}

/**
 * One record's message `buf[start, end)` as the line the apply reads; undefined for a Relation
 * (kept by the decoder). A logical message is dbbackup's own: the sequences (sequencesRecord).
 */
function recordLine(decoder: PgOutputDecoder, buf: Buffer, start: number, end: number, where: string): ChangeLine | undefined {
  const m = decoder.decode(buf, start, end);
  switch (m.tag) {
    case 'begin':
      return { kind: 'begin', xid: m.xid, lsn: lsnToString(m.finalLsn), time: m.time };
    case 'commit':
      return { kind: 'commit', lsn: lsnToString(m.commitLsn), end: lsnToString(m.endLsn), time: m.time };
    case 'change':
      return { kind: 'change', change: m.change };
    case 'message':
      if (m.prefix !== SEQUENCES_PREFIX || m.content.length > MAX_SEQUENCES) throw unsafeChangeLog(where, 'a logical message dbbackup does not write');
      return { kind: 'sequences', sequences: checkSequences(parseJson(m.content, where), where) };
    default:
      return undefined;
  }
}

function parseJson(content: Buffer, where: string): unknown {
  try {
    return JSON.parse(content.toString('utf8'));
  } catch {
    throw unsafeChangeLog(where, 'sequence values that are not JSON');
  }
}

/**
 * The records of one commit of a replicate segment (postgres-stream-segment.ts), all of
 * `buf[start, end)` (a payload has no header and no end record: the segment frames it), decoded
 * with `decoder`, which keeps the relations described by the segment's earlier records.
 */
export function payloadLines(decoder: PgOutputDecoder, buf: Buffer, start: number, end: number, where: string, out: ChangeLine[]): void {
  let at = start;
  while (at < end) {
    if (end - at < 4) throw unsafeChangeLog(where, 'a commit cut in the middle of a record');
    const length = buf.readUInt32BE(at);
    if (length === 0 || length > end - at - 4) throw unsafeChangeLog(where, `a record of ${length} bytes in a commit`);
    const line = recordLine(decoder, buf, at + 4, at + 4 + length, where);
    at += 4 + length;
    if (line) out.push(line);
  }
}

/** The prefix of the logical message that holds the sequences' values (a record of format 2). */
const SEQUENCES_PREFIX = 'dbbackup.sequences';
/** Sequence values longer than this are not ours (200 bytes per sequence: a million sequences). */
const MAX_SEQUENCES = 200 << 20;

/**
 * The sequences' values as a record of format 2: a pgoutput logical message (non-transactional,
 * LSN 0) with the prefix `dbbackup.sequences` and the JSON `[[schema, name, last_value, is_called], …]`
 * as its content (the same values a format 1 `sequences` line holds).
 */
export function sequencesRecord(values: SequenceValue[]): Buffer {
  const content = Buffer.from(JSON.stringify(values));
  const prefix = Buffer.from(`${SEQUENCES_PREFIX}\0`);
  const head = Buffer.alloc(4 + 1 + 1 + 8);
  head.writeUInt32BE(1 + 1 + 8 + prefix.length + 4 + content.length, 0);
  head[4] = 0x4d; /* M */
  const length = Buffer.alloc(4);
  length.writeUInt32BE(content.length, 0);
  return Buffer.concat([head, prefix, length, content]);
}

/** The part's first line (without its newline) and the bytes read after it. */
async function headerLine(it: AsyncIterator<unknown>, where: string): Promise<{ line: string; rest: Buffer }> {
  let buf = Buffer.alloc(0);
  for (;;) {
    const end = buf.indexOf(0x0a);
    if (end >= 0) return { line: buf.toString('utf8', 0, end), rest: buf.subarray(end + 1) };
    if (buf.length > MAX_HEADER) throw unsafeChangeLog(where, 'no header line');
    const next = await it.next();
    if (next.done) {
      if (buf.length === 0) throw unsafeChangeLog(where, 'an empty part');
      return { line: buf.toString('utf8'), rest: Buffer.alloc(0) };
    }
    buf = Buffer.concat([buf, asBuffer(next.value)]);
  }
}

function headerVersion(line: string, where: string): number {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw unsafeChangeLog(where, 'a header that is not JSON');
  }
  const h = v as { format?: unknown; version?: unknown; encoding?: unknown } | null;
  if (h?.format === CHANGE_LOG_FORMAT && h.version === RECORDS_VERSION && h.encoding === 'pgoutput-1') return RECORDS_VERSION;
  if (h?.format === CHANGE_LOG_FORMAT && h.version === CHANGE_LOG_VERSION) return CHANGE_LOG_VERSION;
  throw unsafeChangeLog(where, `format ${String(h?.format)} version ${String(h?.version)}`);
}

/** A chunk of the body as a Buffer (not copied when it is one). */
function asBuffer(v: unknown): Buffer {
  return Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array);
}
