import { DbBackupError } from '../../../domain/errors.js';
import { closeReason, type MysqlConnection, runningOutsideDriver } from './mysql-connection.js';

/**
 * Reads one text-protocol result set straight off a mysql2 connection's socket: the client sends
 * COM_QUERY itself, then every row packet's payload goes to `onRow` as a slice of the socket's own
 * chunk (or of one copy, for a packet that spans chunks), with no per-row objects. mysql2 builds a
 * Packet, dispatches it through its command and, for rows, an array of values per row: that was a
 * third of the client's CPU in a MariaDB backup.
 *
 * It borrows the connection: mysql2's packet parser is swapped out for this reader while the query
 * runs (the socket's 'data' listener calls `connection.packetParser.execute`) and put back after;
 * mysql2 resets its sequence ids when its next command starts. `rawQueryAvailable` says whether the
 * connection has that shape (no compressed protocol); otherwise use mysql2's query.
 */

/** mysql2's core connection, the parts this reader touches. */
export interface CoreConnection extends NodeJS.EventEmitter {
  packetParser?: { execute(chunk: Buffer): void };
  stream: NodeJS.EventEmitter & { write(b: Buffer): boolean; pause(): void; resume(): void; destroy(): void };
  destroy(): void;
  config: { compress?: boolean; clientFlags: number };
  serverCapabilityFlags?: number;
  _command?: unknown;
  addCommand?(cmd: unknown): void;
}

const CLIENT_QUERY_ATTRIBUTES = 0x08000000;
const COM_QUERY = 0x03;
const MAX_PAYLOAD = 0xffffff;
/** SERVER_MORE_RESULTS_EXISTS in an EOF/OK status: another result set follows (never for one SELECT). */
const MORE_RESULTS = 0x0008;

export interface RawRowHandler {
  /** One row's payload, `buf[start, end)`: per column a length-encoded string, or 0xFB for NULL. Returns false if malformed. */
  row(buf: Buffer, start: number, end: number): boolean;
}

export interface RawQueryOptions {
  /** The number of columns the result must have (checked against the server's column count). */
  columns: number;
}

/** mysql2's core connection under a promise wrapper's connection (the replay's BINLOG statements use it too). */
export function coreConnection(conn: MysqlConnection): CoreConnection {
  return (conn as unknown as { connection: CoreConnection }).connection;
}

/** True when rawQuery can run on this connection: mysql2's parser is where expected, no compression, nothing running. */
export function rawQueryAvailable(conn: MysqlConnection): boolean {
  const c = coreConnection(conn);
  return typeof c.packetParser?.execute === 'function' && !c.config.compress && !c._command && typeof c.stream?.write === 'function';
}

/**
 * Runs `sql` (a query that returns one result set) and hands each row to `handler`; resolves with
 * the row count after the final EOF/OK packet. Pause and resume the socket (`pause`/`resume` on the
 * returned control) for backpressure. On an error from the server it rejects with an Error carrying
 * `errno`, `sqlState` and mysql2's `code` name where known, and the connection stays usable; on any
 * other failure (protocol, a throwing handler, a lost connection) it rejects and closes the connection.
 */
export function rawQuery(conn: MysqlConnection, sql: string, handler: RawRowHandler, options: RawQueryOptions): { done: Promise<number>; pause(): void; resume(): void } {
  const c = coreConnection(conn);
  const stream = c.stream;
  const saved = c.packetParser!;
  let settle!: { resolve(n: number): void; reject(e: unknown): void };
  const done = new Promise<number>((resolve, reject) => (settle = { resolve, reject }));
  const reader = new ResultReader(
    handler,
    options.columns,
    (err, rows) => {
      runningOutsideDriver(conn, undefined);
      stream.off('close', onClose);
      c.off('error', swallow);
      if (err && !serverErrors.has(err)) {
        // The result did not end (a protocol error, a handler that threw, a lost connection): where
        // the next packet starts is unknown, so the connection is closed, this reader discarding what still comes.
        c.destroy();
        stream.destroy();
      } else {
        c.packetParser = saved;
      }
      if (err) settle.reject(err);
      else settle.resolve(rows);
    },
    (rest) => saved.execute(rest),
  );
  const onClose = () => reader.fail(closeReason(stream) ?? new DbBackupError('E_BACKUP_FAILED', 'The connection to the MySQL server closed during a query; try again.'));
  // mysql2 sees no command running, so a lost connection would be an 'error' event nobody listens to
  // (an uncaught exception): it is reported by onClose instead.
  const swallow = () => undefined;
  c.on('error', swallow);
  stream.once('close', onClose);
  c.packetParser = reader;
  runningOutsideDriver(conn, sql);
  stream.write(queryPacket(sql, (c.config.clientFlags & (c.serverCapabilityFlags ?? 0) & CLIENT_QUERY_ATTRIBUTES) !== 0));
  return { done, pause: () => stream.pause(), resume: () => stream.resume() };
}

/** COM_QUERY in one packet (sequence 0); with query attributes on, an empty attribute set first. */
function queryPacket(sql: string, attributes: boolean): Buffer {
  const head = attributes ? 7 : 5;
  const length = Buffer.byteLength(sql, 'utf8');
  if (head - 4 + length > MAX_PAYLOAD) throw new DbBackupError('E_INTERNAL', 'A query text over 16 MiB cannot be sent in one packet.');
  const b = Buffer.allocUnsafe(head + length);
  b.writeUIntLE(head - 4 + length, 0, 3);
  b[3] = 0;
  b[4] = COM_QUERY;
  if (attributes) {
    b[5] = 0; // parameter_count
    b[6] = 1; // parameter_set_count
  }
  b.write(sql, head, 'utf8');
  return b;
}

type State = 'header' | 'columns' | 'rows' | 'done';

/**
 * The packet framing and the result-set states. Packets wholly inside a chunk are handled in place;
 * a packet cut by a chunk boundary is gathered into `partial` first; a payload of 16 MiB or more
 * (split by the protocol into 0xFFFFFF-byte packets) is joined in `long` before it is handled.
 */
class ResultReader {
  private state: State = 'header';
  private columnsLeft = 0;
  private rows = 0;
  /** A packet cut by the end of a chunk: its bytes so far (header included) and its full size once known. */
  private partial: Buffer | undefined;
  private partialLength = 0;
  private partialNeed = 0;
  /** The payloads of a multi-packet payload so far. */
  private long: Buffer[] | undefined;
  private longBytes = 0;
  /** Ended by an error: whatever still arrives is discarded. */
  private failed = false;

  constructor(
    private readonly handler: RawRowHandler,
    private readonly columns: number,
    private readonly finish: (err: unknown, rows: number) => void,
    /** Bytes after the result's last packet (mysql2's again: it reports a packet nobody asked for). */
    private readonly leftover: (rest: Buffer) => void,
  ) {}

  execute(chunk: Buffer): void {
    if (this.state === 'done') return this.failed ? undefined : this.leftover(chunk);
    try {
      let i = 0;
      if (this.partial) i = this.fillPartial(chunk);
      const n = chunk.length;
      while (i < n && !this.finished()) {
        if (i + 4 > n) {
          this.keep(chunk, i, 4);
          return;
        }
        const len = chunk[i]! | (chunk[i + 1]! << 8) | (chunk[i + 2]! << 16);
        if (i + 4 + len > n) {
          this.keep(chunk, i, 4 + len);
          return;
        }
        this.packet(chunk, i + 4, i + 4 + len, len);
        i += 4 + len;
      }
      if (i < n) this.leftover(chunk.subarray(i));
    } catch (err) {
      this.fail(err);
    }
  }

  finished(): boolean {
    return this.state === 'done';
  }

  fail(err: unknown): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.failed = true;
    this.partial = undefined;
    this.long = undefined;
    this.finish(err, this.rows);
  }

  /** Starts gathering a packet cut by the chunk's end (`need` = header + payload when known, else 4). */
  private keep(chunk: Buffer, from: number, need: number): void {
    const have = chunk.length - from;
    this.partial = Buffer.allocUnsafe(Math.max(need, 64));
    chunk.copy(this.partial, 0, from);
    this.partialLength = have;
    this.partialNeed = need;
  }

  /** Adds the start of `chunk` to the cut packet; handles it once complete. Returns where the chunk's unread bytes start. */
  private fillPartial(chunk: Buffer): number {
    let i = 0;
    for (;;) {
      const take = Math.min(this.partialNeed - this.partialLength, chunk.length - i);
      chunk.copy(this.partial!, this.partialLength, i, i + take);
      this.partialLength += take;
      i += take;
      if (this.partialLength < this.partialNeed) return i;
      const p = this.partial!;
      const len = p[0]! | (p[1]! << 8) | (p[2]! << 16);
      if (this.partialNeed === 4 && len > 0) {
        // The header is complete: now gather the payload.
        const grown = Buffer.allocUnsafe(4 + len);
        p.copy(grown, 0, 0, 4);
        this.partial = grown;
        this.partialNeed = 4 + len;
        continue;
      }
      this.partial = undefined;
      this.packet(p, 4, 4 + len, len);
      return i;
    }
  }

  /** One packet's payload `b[start, end)`; `len` is the packet's length field. */
  private packet(b: Buffer, start: number, end: number, len: number): void {
    if (this.long || len === MAX_PAYLOAD) {
      this.long ??= [];
      this.long.push(Buffer.from(b.subarray(start, end)));
      this.longBytes += end - start;
      if (len === MAX_PAYLOAD) return;
      const whole = Buffer.concat(this.long, this.longBytes);
      this.long = undefined;
      this.longBytes = 0;
      return this.payload(whole, 0, whole.length, true);
    }
    this.payload(b, start, end, false);
  }

  private payload(b: Buffer, start: number, end: number, long: boolean): void {
    const first = end > start ? b[start]! : -1;
    if (first === 0xff) throw serverError(b, start, end);
    switch (this.state) {
      case 'header': {
        if (first === 0x00 || first === 0xfb) throw protocolError(first === 0 ? 'the query returned no result set' : 'the server asked for a local file');
        const count = lengthEncoded(b, start, end);
        if (count !== this.columns) throw protocolError(`the result has ${count} columns, ${this.columns} expected`);
        this.columnsLeft = count;
        this.state = 'columns';
        return;
      }
      case 'columns':
        if (this.columnsLeft > 0) {
          this.columnsLeft--;
          return;
        }
        // The EOF after the column definitions (absent with CLIENT_DEPRECATE_EOF: then this is a row).
        this.state = 'rows';
        if (first === 0xfe && end - start < 9) return;
        return this.row(b, start, end);
      case 'rows':
        // A row starting 0xFE holds a value of 16 MiB or more, so its payload came in several packets.
        if (first === 0xfe && !long) return this.end(b, start, end);
        return this.row(b, start, end);
      default:
        throw protocolError('a packet after the end of the result');
    }
  }

  private row(b: Buffer, start: number, end: number): void {
    if (!this.handler.row(b, start, end)) throw protocolError('a result row that is not in the text protocol format');
    this.rows++;
  }

  /** EOF (0xFE, warnings, status) or, with CLIENT_DEPRECATE_EOF, an OK packet with the 0xFE header. */
  private end(b: Buffer, start: number, end: number): void {
    let status = 0;
    if (end - start === 5) status = b.readUInt16LE(start + 3);
    else if (end - start >= 3) {
      // OK packet: header, affected rows, last insert id (length-encoded), then the status flags.
      let i = start + 1;
      for (let k = 0; k < 2; k++) i += lengthEncodedSize(b[i]!);
      status = i + 2 <= end ? b.readUInt16LE(i) : 0;
    }
    if (status & MORE_RESULTS) throw protocolError('more than one result set');
    this.state = 'done';
    this.finish(undefined, this.rows);
  }
}

function lengthEncodedSize(first: number): number {
  return first < 0xfb ? 1 : first === 0xfc ? 3 : first === 0xfd ? 4 : first === 0xfe ? 9 : 1;
}

function lengthEncoded(b: Buffer, i: number, end: number): number {
  const first = b[i]!;
  const size = lengthEncodedSize(first);
  if (first === 0xfb || first === 0xff || i + size > end) throw protocolError('a malformed column count');
  return size === 1 ? first : size === 9 ? Number(b.readBigUInt64LE(i + 1)) : b.readUIntLE(i + 1, size - 1);
}

/** Errors made from an ERR packet: the server ended the command, the connection stays usable. */
const serverErrors = new WeakSet<object>();

/**
 * Runs `sql`, a statement that returns no rows, exactly as given. mysql2's query() first formats
 * the text against its values, and with none it still scans the whole text for a `?` placeholder
 * (sql-escaper 1.9's format, character by character through quoted strings): for the replay's
 * BINLOG statements, megabytes of base64 each, that scan was most of the client's CPU (0.5 s of
 * 0.57 s replaying 28 MB of row events). This hands mysql2 the query command without that step,
 * through the same static createQuery and addCommand its query() uses; without them, query().
 */
export function verbatimQuery(conn: MysqlConnection, sql: string): Promise<void> {
  const c = coreConnection(conn);
  const createQuery = (c.constructor as { createQuery?: (sql: string, values: undefined, cb: (err: Error | null) => void, config: unknown) => unknown }).createQuery;
  if (typeof createQuery !== 'function' || typeof c.addCommand !== 'function') return conn.query(sql).then(() => undefined);
  return new Promise<void>((resolve, reject) => {
    c.addCommand!(createQuery(sql, undefined, (err) => (err ? reject(err) : resolve()), c.config));
  });
}

/** mysql2's names for the server errors the dump's callers tell apart (see asDumpError). */
const CODES: Record<number, string> = {
  1044: 'ER_DBACCESS_DENIED_ERROR',
  1142: 'ER_TABLEACCESS_DENIED_ERROR',
  1143: 'ER_COLUMNACCESS_DENIED_ERROR',
  1146: 'ER_NO_SUCH_TABLE',
  1227: 'ER_SPECIFIC_ACCESS_DENIED_ERROR',
  1317: 'ER_QUERY_INTERRUPTED',
  3024: 'ER_QUERY_TIMEOUT',
  1969: 'ER_STATEMENT_TIMEOUT',
};

/** An ERR packet: 0xFF, error code (2 bytes), '#' and a 5-character SQL state, the message. */
function serverError(b: Buffer, start: number, end: number): Error {
  const errno = end - start >= 3 ? b.readUInt16LE(start + 1) : 0;
  let i = start + 3;
  let sqlState = '';
  if (b[i] === 0x23 && i + 6 <= end) {
    sqlState = b.toString('latin1', i + 1, i + 6);
    i += 6;
  }
  const message = b.toString('utf8', i, end);
  const err = Object.assign(new Error(message), { errno, sqlState, sqlMessage: message, code: CODES[errno] ?? `ER_${errno}` });
  serverErrors.add(err);
  return err;
}

function protocolError(what: string): DbBackupError {
  return new DbBackupError('E_BACKUP_FAILED', `Unexpected reply from the MySQL server (${what}); try again, and report it if it persists.`);
}
