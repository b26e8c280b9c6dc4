import { crc32, inflateSync } from 'node:zlib';

/**
 * The little of the binary log format the connector reads (MariaDB's and MySQL's
 * log_event.h): the 19-byte event header, and from a few events only what the change index and
 * the replay need. Row images are never decoded: events are stored and replayed as raw bytes.
 * Every reader is bounded by the event's own length, so damaged bytes give an error, not a read
 * past the buffer.
 */

export const BINLOG_MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]);
export const HEADER_LENGTH = 19;

export const EventType = {
  QUERY: 2,
  STOP: 3,
  ROTATE: 4,
  FORMAT_DESCRIPTION: 15,
  XID: 16,
  TABLE_MAP: 19,
  WRITE_ROWS_V1: 23,
  UPDATE_ROWS_V1: 24,
  DELETE_ROWS_V1: 25,
  HEARTBEAT: 27,
  WRITE_ROWS_V2: 30,
  UPDATE_ROWS_V2: 31,
  DELETE_ROWS_V2: 32,
  MYSQL_GTID: 33,
  MYSQL_ANONYMOUS_GTID: 34,
  TRANSACTION_PAYLOAD: 40,
  ANNOTATE_ROWS: 160,
  MARIADB_GTID: 162,
  QUERY_COMPRESSED: 165,
} as const;

/** LOG_EVENT_ARTIFICIAL_F: an event the server made up for the stream (the fake ROTATE), not in any file. */
export const ARTIFICIAL_FLAG = 0x20;
/** Rows event flag: the last rows event of a statement. */
export const STMT_END_FLAG = 0x01;

export interface EventHeader {
  /** Seconds since the epoch when the statement started (a commit's own time for GTID/XID/COMMIT events). */
  timestamp: number;
  type: number;
  serverId: number;
  size: number;
  /** The position after this event in the server's file (0 for events made up for the stream). */
  logPos: number;
  flags: number;
}

export function readHeader(event: Buffer): EventHeader {
  if (event.length < HEADER_LENGTH) throw new BinlogFormatError(`an event of ${event.length} bytes is shorter than its header`);
  const h = {
    timestamp: event.readUInt32LE(0),
    type: event[4]!,
    serverId: event.readUInt32LE(5),
    size: event.readUInt32LE(9),
    logPos: event.readUInt32LE(13),
    flags: event.readUInt16LE(17),
  };
  if (h.size !== event.length) throw new BinlogFormatError(`an event declares ${h.size} bytes but holds ${event.length}`);
  return h;
}

export class BinlogFormatError extends Error {}

/** Rows events, whose table id maps them to the preceding TABLE_MAP. */
export function isRowsEvent(type: number): boolean {
  return (type >= 23 && type <= 25) || (type >= 30 && type <= 32) || (type >= 166 && type <= 171);
}

export function isGtidEvent(type: number): boolean {
  return type === EventType.MARIADB_GTID || type === EventType.MYSQL_GTID || type === EventType.MYSQL_ANONYMOUS_GTID;
}

/** What a FORMAT_DESCRIPTION says about the events after it. */
export interface FormatDescription {
  serverVersion: string;
  /** Bytes of checksum at the end of every event (4 with CRC32, else 0). */
  checksumLength: number;
}

export function readFormatDescription(event: Buffer): FormatDescription {
  const body = event.subarray(HEADER_LENGTH);
  if (body.length < 2 + 50 + 4 + 1) throw new BinlogFormatError('a FORMAT_DESCRIPTION event is too short');
  const serverVersion = body.subarray(2, 52).toString('latin1').replace(/\0.*$/s, '');
  // Servers since MySQL 5.6.1 / MariaDB 5.3 end the event with the checksum algorithm (1 byte) and a CRC32.
  const alg = event[event.length - 5]!;
  return { serverVersion, checksumLength: alg === 1 ? 4 : 0 };
}

/** The event's body without header and checksum. */
function bodyOf(event: Buffer, fd: FormatDescription): Buffer {
  const end = event.length - fd.checksumLength;
  if (end < HEADER_LENGTH) throw new BinlogFormatError('an event is shorter than its header and checksum');
  return event.subarray(HEADER_LENGTH, end);
}

/** A ROTATE event: the next file's name and position. */
export function readRotate(event: Buffer, fd: FormatDescription | undefined): { file: string; position: number } {
  // The fake ROTATE that opens a stream comes before any FORMAT_DESCRIPTION: it carries a checksum when the
  // stream has them, which a name never ends with NUL-free bytes to tell; the caller passes the current fd.
  const body = bodyOf(event, fd ?? { serverVersion: '', checksumLength: 0 });
  if (body.length < 9) throw new BinlogFormatError('a ROTATE event is too short');
  return { position: Number(body.readBigUInt64LE(0)), file: body.subarray(8).toString('utf8') };
}

/**
 * An artificial ROTATE (no checksum, log position 0) naming the server's binlog file, as the
 * stream's own fake ROTATE does: replicate puts one before each transaction of a log segment so a
 * restore knows the file of every position it holds. Never replayed.
 */
export function fileMarker(file: string): Buffer {
  const name = Buffer.from(file, 'utf8');
  const event = Buffer.alloc(HEADER_LENGTH + 8 + name.length);
  event[4] = EventType.ROTATE;
  event.writeUInt32LE(event.length, 9);
  event.writeUInt16LE(ARTIFICIAL_FLAG, 17);
  event.writeBigUInt64LE(4n, HEADER_LENGTH);
  name.copy(event, HEADER_LENGTH + 8);
  return event;
}

/**
 * The GTID of a GTID event: MariaDB `domain-server-seq`, MySQL `uuid:gno`. standalone: the next
 * statement ends the group unless a BEGIN query comes first (MariaDB's FL_STANDALONE; always on
 * MySQL, whose transactions start with a BEGIN query).
 */
export function readGtid(event: Buffer, header: EventHeader, fd: FormatDescription): { gtid?: string; standalone: boolean; commitMicros?: number } {
  const body = bodyOf(event, fd);
  if (header.type === EventType.MARIADB_GTID) {
    if (body.length < 13) throw new BinlogFormatError('a GTID event is too short');
    const seq = body.readBigUInt64LE(0);
    const domain = body.readUInt32LE(8);
    const flags = body[12]!;
    return { gtid: `${domain}-${header.serverId}-${seq}`, standalone: (flags & 1) !== 0 };
  }
  if (body.length < 25) throw new BinlogFormatError('a GTID event is too short');
  // MySQL: flags(1) sid(16) gno(8) [lt_type(1) last_committed(8) sequence_number(8) immediate_commit_ts(7) …]
  const sid = body.subarray(1, 17).toString('hex');
  const uuid = `${sid.slice(0, 8)}-${sid.slice(8, 12)}-${sid.slice(12, 16)}-${sid.slice(16, 20)}-${sid.slice(20)}`;
  const gno = body.readBigUInt64LE(17);
  let commitMicros: number | undefined;
  if (body.length >= 42 + 7) {
    const raw = body.readUIntLE(42, 6) + (body[48]! & 0x7f) * 2 ** 48;
    if (raw > 0) commitMicros = raw;
  }
  const gtid = header.type === EventType.MYSQL_GTID ? `${uuid}:${gno}` : undefined;
  // MySQL marks no standalone statements: a BEGIN query follows for a transaction, a DDL comes alone.
  return { ...(gtid ? { gtid } : {}), standalone: true, ...(commitMicros ? { commitMicros } : {}) };
}

/** The session state a QUERY event ran with, as far as replaying its text needs it. */
export interface QueryEvent {
  db: string;
  query: string;
  sqlMode?: bigint;
  /** character_set_client, collation_connection, collation_server (collation ids). */
  charset?: [number, number, number];
  timeZone?: string;
}

export function readQuery(event: Buffer, fd: FormatDescription): QueryEvent {
  const body = bodyOf(event, fd);
  if (body.length < 13) throw new BinlogFormatError('a QUERY event is too short');
  const dbLength = body[8]!;
  const varsLength = body.readUInt16LE(11);
  const varsEnd = 13 + varsLength;
  if (varsEnd + dbLength + 1 > body.length) throw new BinlogFormatError('a QUERY event is shorter than its fields');
  const text = body.subarray(varsEnd + dbLength + 1);
  const query = event[4] === EventType.QUERY_COMPRESSED ? inflateQuery(text) : text;
  const out: QueryEvent = { db: body.subarray(varsEnd, varsEnd + dbLength).toString('utf8'), query: query.toString('utf8') };
  readStatusVars(body.subarray(13, varsEnd), out);
  return out;
}

/** A compressed statement's text is at most this long (the server's max_allowed_packet limit). */
const MAX_QUERY = 1 << 30;

/**
 * The text of MariaDB's QUERY_COMPRESSED event (log_bin_compress): one byte 0x80 | n (the
 * algorithm in bits 4–6, 0 = zlib), the text's length in n big-endian bytes, then the zlib stream.
 * Bounded by the declared length, which must be met exactly.
 */
export function inflateQuery(data: Buffer, what = 'statement'): Buffer {
  const head = data[0] ?? 0;
  const n = head & 0x07;
  if ((head & 0x80) === 0 || (head & 0x70) !== 0 || n < 1 || n > 4 || data.length < 1 + n) throw new BinlogFormatError(`a compressed ${what} has an unknown header`);
  const length = data.readUIntBE(1, n);
  if (length > MAX_QUERY) throw new BinlogFormatError(`a compressed ${what} declares ${length} bytes`);
  let text: Buffer;
  try {
    text = inflateSync(data.subarray(1 + n), { maxOutputLength: Math.max(1, length) });
  } catch (err) {
    throw new BinlogFormatError(`a compressed ${what} does not inflate to its declared ${length} bytes (${(err as Error).message})`);
  }
  if (text.length !== length) throw new BinlogFormatError(`a compressed ${what} inflates to ${text.length} bytes, not its declared ${length}`);
  return text;
}

/** MariaDB's compressed rows events (log_bin_compress): WRITE/UPDATE/DELETE _V1 (166–168) and V2 (169–171). */
export function isCompressedRowsEvent(type: number): boolean {
  return type >= 166 && type <= 171;
}

/**
 * A compressed rows event as the plain one it stands for (a BINLOG statement takes only these):
 * post-header, column count and bitmaps as they are, the row images inflated (inflateQuery's
 * framing), the type and length set and the CRC32 recomputed.
 */
export function inflateRowsEvent(event: Buffer, fd: FormatDescription): Buffer {
  const type = event[4]!;
  const v2 = type >= 169;
  const body = bodyOf(event, fd);
  let at = 8;
  if (v2) {
    if (body.length < 10) throw new BinlogFormatError('a compressed rows event is too short');
    at = 8 + body.readUInt16LE(8);
  }
  if (body.length < at + 1) throw new BinlogFormatError('a compressed rows event is too short');
  const first = body[at]!;
  const [width, size] = first < 251 ? [first, 1] : first === 252 ? [body.readUInt16LE(at + 1), 3] : first === 253 ? [body.readUIntLE(at + 1, 3), 4] : [Number.NaN, 0];
  if (!Number.isFinite(width) || at + size > body.length) throw new BinlogFormatError('a compressed rows event has a bad column count');
  at += size + Math.ceil(width / 8) * (type === 167 || type === 170 ? 2 : 1);
  if (at >= body.length) throw new BinlogFormatError('a compressed rows event is shorter than its column bitmaps');
  const rows = inflateQuery(body.subarray(at), 'rows event');
  const out = Buffer.concat([event.subarray(0, HEADER_LENGTH), body.subarray(0, at), rows, Buffer.alloc(fd.checksumLength)]);
  out[4] = (v2 ? EventType.WRITE_ROWS_V2 : EventType.WRITE_ROWS_V1) + ((type - 166) % 3);
  out.writeUInt32LE(out.length, 9);
  if (fd.checksumLength === 4) out.writeUInt32LE(crc32(out.subarray(0, out.length - 4)), out.length - 4);
  return out;
}

/** The status variables replay needs; stops at the first code it does not know (their lengths differ). */
function readStatusVars(vars: Buffer, out: QueryEvent): void {
  let i = 0;
  const need = (n: number) => {
    if (i + n > vars.length) throw new BinlogFormatError('a QUERY event status variable runs past its end');
  };
  while (i < vars.length) {
    const code = vars[i++]!;
    switch (code) {
      case 0: // Q_FLAGS2_CODE
        need(4);
        i += 4;
        break;
      case 1: // Q_SQL_MODE_CODE
        need(8);
        out.sqlMode = vars.readBigUInt64LE(i);
        i += 8;
        break;
      case 2: // Q_CATALOG_CODE (old servers): length, name, NUL
        need(1);
        i += 1 + vars[i]! + 1;
        break;
      case 3: // Q_AUTO_INCREMENT
        need(4);
        i += 4;
        break;
      case 4: // Q_CHARSET_CODE
        need(6);
        out.charset = [vars.readUInt16LE(i), vars.readUInt16LE(i + 2), vars.readUInt16LE(i + 4)];
        i += 6;
        break;
      case 5: {
        // Q_TIME_ZONE_CODE
        need(1);
        const n = vars[i]!;
        need(1 + n);
        out.timeZone = vars.subarray(i + 1, i + 1 + n).toString('latin1');
        i += 1 + n;
        break;
      }
      case 6: // Q_CATALOG_NZ_CODE
        need(1);
        i += 1 + vars[i]!;
        break;
      case 7: // Q_LC_TIME_NAMES_CODE
      case 8: // Q_CHARSET_DATABASE_CODE
        need(2);
        i += 2;
        break;
      case 9: // Q_TABLE_MAP_FOR_UPDATE_CODE
        need(8);
        i += 8;
        break;
      default:
        return;
    }
  }
}

/** A TABLE_MAP event's table id and names. */
export function readTableMap(event: Buffer, fd: FormatDescription): { tableId: number; db: string; table: string } {
  const body = bodyOf(event, fd);
  if (body.length < 10) throw new BinlogFormatError('a TABLE_MAP event is too short');
  const tableId = body.readUIntLE(0, 6);
  const dbLength = body[8]!;
  const tableAt = 9 + dbLength + 1;
  if (tableAt + 1 > body.length) throw new BinlogFormatError('a TABLE_MAP event is shorter than its names');
  const tableLength = body[tableAt]!;
  if (tableAt + 1 + tableLength > body.length) throw new BinlogFormatError('a TABLE_MAP event is shorter than its names');
  return { tableId, db: body.subarray(9, 9 + dbLength).toString('utf8'), table: body.subarray(tableAt + 1, tableAt + 1 + tableLength).toString('utf8') };
}

/** A rows event's table id and flags (STMT_END_FLAG). */
export function readRowsHeader(event: Buffer, fd: FormatDescription): { tableId: number; flags: number } {
  const body = bodyOf(event, fd);
  if (body.length < 8) throw new BinlogFormatError('a rows event is too short');
  return { tableId: body.readUIntLE(0, 6), flags: body.readUInt16LE(6) };
}

/** A binlog file name's sequence number (`binlog.000012` → 12), for ordering positions across files. */
export function fileSequence(file: string): number {
  const m = /\.(\d+)$/.exec(file);
  if (!m) throw new BinlogFormatError(`"${file}" is not a binary log file name`);
  return Number(m[1]);
}

/** a < b (-1), a = b (0), a > b (1) for binlog positions. */
export function comparePositions(a: { file: string; position: number }, b: { file: string; position: number }): number {
  const fa = fileSequence(a.file);
  const fb = fileSequence(b.file);
  if (fa !== fb) return fa < fb ? -1 : 1;
  return a.position === b.position ? 0 : a.position < b.position ? -1 : 1;
}
