import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DbBackupError } from '../../../domain/errors.js';
import { closeReason, type MysqlConnection, qi, qn } from './mysql-connection.js';
import type { ServerFlavor } from './mysql-flavor.js';
import { LOAD_DATA_OPTIONS, TsvDecoder } from './mysql-tsv.js';

export interface LoadColumn {
  name: string;
  type: string;
}

export interface LoadTarget {
  db: string;
  table: string;
  columns: LoadColumn[];
}

/** Error codes meaning "LOAD DATA LOCAL is not allowed here" (MariaDB/MySQL 5.7, MySQL 8). */
const LOCAL_INFILE_REFUSED = new Set(['ER_NOT_ALLOWED_COMMAND', 'ER_CLIENT_LOCAL_FILES_DISABLED', 'ER_LOAD_INFILE_CAPABILITY_DISABLED']);

export function isLocalInfileRefused(err: unknown): boolean {
  return LOCAL_INFILE_REFUSED.has((err as { code?: string }).code ?? '');
}

/**
 * Loads one data part with LOAD DATA LOCAL INFILE fed from `body`, inside the caller's transaction
 * (a stream that errors, e.g. on a bad checksum, fails the statement; the caller rolls back).
 * Returns the rows loaded. Any warning (a value the server changed) fails the load: the restore
 * must be exact.
 */
export async function loadDataPart(conn: MysqlConnection, body: Readable, target: LoadTarget, flavor: ServerFlavor): Promise<number> {
  const socket = (conn as unknown as { connection: { stream: Writable } }).connection.stream;
  const vars: string[] = [];
  const sets: string[] = [];
  target.columns.forEach((c, i) => {
    const expr = flavor.loadExpression(c.type);
    if (expr) {
      vars.push(`@dbb${i}`);
      sets.push(`${qi(c.name)} = ${expr.replace('?', `@dbb${i}`)}`);
    } else {
      vars.push(qi(c.name));
    }
  });
  const sql =
    `LOAD DATA LOCAL INFILE 'dbbackup-part' INTO TABLE ${qn(target.db, target.table)} ${LOAD_DATA_OPTIONS} (${vars.join(', ')})` +
    (sets.length ? ` SET ${sets.join(', ')}` : '');
  const paced = socketPaced(socket);
  // The body flows only once mysql2 asks for the file and listens on `paced`: a body that failed
  // before (a damaged or unreadable first chunk) would otherwise destroy `paced` unheard, mysql2 would
  // never end the file, and the server would wait out net_read_timeout and drop the connection.
  const infileStreamFactory = () => {
    pipeline(body, paced).catch(() => {
      /* the error reaches mysql2 through `paced`: it ends the file and fails the query with it */
    });
    return paced;
  };
  try {
    const [result] = await conn.query({ sql, infileStreamFactory } as unknown as string);
    const header = result as { affectedRows: number; warningStatus: number };
    if (header.warningStatus > 0) await failOnWarnings(conn, target);
    return header.affectedRows;
  } catch (err) {
    body.destroy();
    throw err;
  }
}

/**
 * mysql2 writes every chunk of a LOCAL INFILE stream to the socket without waiting for it to drain,
 * so a fast source would pile up in memory. This stage passes a chunk on only when the socket has
 * room again, and fails once the socket closed or failed instead (a closed socket never drains).
 */
export function socketPaced(socket: Writable): Transform {
  return new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc, callback) {
      this.push(chunk);
      setImmediate(() => whenRoom(socket, callback));
    },
  });
}

function whenRoom(socket: Writable, done: (err?: Error) => void): void {
  if (socket.destroyed) return done(socketGone(socket));
  if (!socket.writableNeedDrain) return done();
  const settle = (err?: Error) => {
    socket.off('drain', settle);
    socket.off('close', onClose);
    socket.off('error', onClose);
    done(err);
  };
  const onClose = () => settle(socketGone(socket));
  socket.on('drain', settle);
  socket.on('close', onClose);
  socket.on('error', onClose);
}

function socketGone(socket: Writable): Error {
  return closeReason(socket) ?? Object.assign(new Error('Connection lost: the connection closed while the data was sent.'), { code: 'PROTOCOL_CONNECTION_LOST' });
}

/**
 * The INSERT fallback for servers that forbid LOAD DATA LOCAL: the same data as multi-row
 * prepared INSERTs, values sent as raw bytes (so charsets and binary data stay exact), inside the
 * caller's transaction.
 */
export async function insertPart(conn: MysqlConnection, body: Readable, target: LoadTarget, flavor: ServerFlavor): Promise<number> {
  const width = Math.max(1, target.columns.length);
  const rowsPerBatch = Math.max(1, Math.min(1000, Math.floor(60_000 / width)));
  const maxBytes = 4 * 1024 * 1024;
  const placeholders = `(${target.columns.map((c) => flavor.loadExpression(c.type) ?? '?').join(', ')})`;
  const head = `INSERT INTO ${qn(target.db, target.table)} (${target.columns.map((c) => qi(c.name)).join(', ')}) VALUES `;
  const decoder = new TsvDecoder();
  let batch: (Buffer | null)[][] = [];
  let bytes = 0;
  let loaded = 0;
  const prepared = new Set<string>();
  const send = async () => {
    if (!batch.length) return;
    const sql = head + new Array(batch.length).fill(placeholders).join(', ');
    prepared.add(sql);
    const [result] = await conn.execute(sql, batch.flat());
    const header = result as { affectedRows: number; warningStatus: number };
    if (header.warningStatus > 0) await failOnWarnings(conn, target);
    loaded += header.affectedRows;
    batch = [];
    bytes = 0;
  };
  try {
    const collect = (row: (Buffer | null)[]) => {
      batch.push(row);
      bytes += row.reduce((n, v) => n + (v?.length ?? 0), 0);
    };
    for await (const chunk of body) {
      decoder.push(chunk as Buffer, collect);
      if (batch.length >= rowsPerBatch || bytes >= maxBytes) {
        while (batch.length > rowsPerBatch) {
          const rest = batch.splice(rowsPerBatch);
          await send();
          batch = rest;
        }
        await send();
      }
    }
    decoder.end(collect);
    while (batch.length) {
      const rest = batch.splice(rowsPerBatch);
      await send();
      batch = rest;
    }
    return loaded;
  } finally {
    for (const sql of prepared) conn.unprepare(sql);
  }
}

async function failOnWarnings(conn: MysqlConnection, target: LoadTarget): Promise<never> {
  const [rows] = await conn.query('SHOW WARNINGS LIMIT 5');
  const text = (rows as { Level: string; Code: number; Message: string }[]).map((w) => `${w.Level} ${w.Code}: ${w.Message}`).join('; ');
  throw new DbBackupError(
    'E_RESTORE_FAILED',
    `Loading ${target.db}.${target.table} changed some values (${text}); the target table's definition or the server's settings differ from the backup's.`,
  );
}
