import { Readable } from 'node:stream';
import { activeProfiler, timeSync } from '../../../application/services/profiling.js';
import type { PartSink } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import { dataPartName } from '../../../domain/repository-layout.js';
import type { TableInfo } from './mysql-catalog.js';
import { closeReason, type MysqlConnection, qi, qn } from './mysql-connection.js';
import { rawQuery, rawQueryAvailable } from './mysql-raw-query.js';
import { TsvEncoder } from './mysql-tsv.js';
import { LineDigest } from '../table-digest.js';

export interface TableDumpResult {
  rows: number;
  bytes: number;
  parts: number;
  /** The rows' content digest (each TSV line hashed as it is encoded), hex; absent if it did not count every row. */
  contentHash?: string;
}

/** mysql2's callback-style connection under the promise wrapper (streaming and pause/resume live there). */
interface CoreConnection {
  query(options: Record<string, unknown>): NodeJS.EventEmitter;
  pause(): void;
  resume(): void;
  /** The socket. */
  stream: NodeJS.EventEmitter;
}

/** The object name a table's parts and manifest entry carry. */
export function tableObjectName(t: { db: string; name: string }): string {
  return `${t.db}.${t.name}`;
}

/**
 * The SELECT list: stored columns only (generated ones are recomputed on load), then a versioned
 * table's row start/end. FLOAT goes out as DOUBLE because the server prints FLOAT with 6
 * significant digits; the DOUBLE text of a FLOAT value converts back to exactly the same FLOAT.
 */
export function selectList(table: TableInfo): string {
  const list = table.columns.map((c) => (c.dataType.toLowerCase() === 'float' ? `${qi(c.name)} * 1e0` : qi(c.name)));
  if (table.history) list.push(qi(table.history.start), qi(table.history.end));
  return list.join(', ');
}

/** The FROM clause: a system-versioned table with its history rows too. */
function fromClause(table: TableInfo): string {
  return `${qn(table.db, table.name)}${table.history ? ' FOR SYSTEM_TIME ALL' : ''}`;
}

/**
 * Streams one table through `conn` (inside the shared snapshot) into parts `data/db.table.N.tsv`,
 * starting a new part after `partSize` raw bytes at a row boundary. Nothing is buffered beyond a
 * chunk or two: when the sink is slow the connection is paused, so the server waits.
 */
export async function dumpTable(conn: MysqlConnection, table: TableInfo, sink: PartSink, partSize: number): Promise<TableDumpResult> {
  const core = (conn as unknown as { connection: CoreConnection }).connection;
  const object = tableObjectName(table);
  const writes: Promise<unknown>[] = [];
  let part: Readable | undefined;
  let partIndex = 0;
  let partStart = 0;
  let rows = 0;

  // How the rows' flow is paused and resumed: the socket under a raw query, else mysql2's connection.
  let flow: { pause(): void; resume(): void } = core;
  let fail: (err: unknown) => void = () => undefined;
  // Settles (rejects) only when the table must stop early: a part write failed, or the connection closed.
  const failed = new Promise<never>((_resolve, reject) => (fail = reject));
  failed.catch(() => undefined);
  const openPart = () => {
    part = new Readable({ highWaterMark: 1 << 20, read: () => flow.resume() });
    const write = sink.write({ name: dataPartName(object, partIndex++, 'tsv'), role: 'data', object }, part);
    // A failed part write must stop the table: otherwise the paused query would wait forever.
    write.catch((err: unknown) => fail(err));
    writes.push(write);
  };
  const lines = new LineDigest();
  const encoder = new TsvEncoder((chunk) => {
    lines.push(chunk);
    if (!part!.push(chunk)) flow.pause();
  });
  // mysql2 settles no running query when its connection is destroyed (by another worker's failure,
  // an abort, or a close that timed out): without this the part would wait forever, and so would
  // everything waiting for it.
  const onClose = () => fail(closeReason(core.stream) ?? new DbBackupError('E_BACKUP_FAILED', `The connection to the MySQL server closed while ${object} was read; try again.`));
  core.stream.once('close', onClose);

  const sql = `SELECT ${selectList(table)} FROM ${fromClause(table)}`;
  const columns = table.columns.length + (table.history ? 2 : 0);
  const rowDone = () => {
    rows++;
    if (encoder.bytes >= partStart + partSize) {
      encoder.flush();
      partStart = encoder.bytes;
      part!.push(null);
      openPart();
    }
  };
  try {
    openPart();
    if (rawQueryAvailable(conn)) {
      const q = rawQuery(conn, sql, { row: rowEncoder(encoder, rowDone) }, { columns });
      flow = q;
      await Promise.race([q.done, failed]);
    } else {
      await new Promise<void>((resolve, reject) => {
        // typeCast false: every value as the raw bytes the server sent (null for NULL), no decoding.
        const query = core.query({ sql, rowsAsArray: true, typeCast: false });
        query.on('result', (row: (Buffer | null)[]) => {
          encoder.row(row);
          rowDone();
        });
        query.on('error', reject);
        query.on('end', resolve);
        failed.catch(reject);
      });
    }
    encoder.flush();
    part!.push(null);
  } catch (err) {
    part!.destroy(err as Error);
    throw err;
  } finally {
    // The last push may have paused the connection; nothing will read again to resume it, and a
    // paused connection would hang the next query (or the final QUIT).
    flow.resume();
    core.stream.off('close', onClose);
  }
  await Promise.all(writes);
  const digest = lines.end();
  return { rows, bytes: encoder.bytes, parts: partIndex, ...(digest.rows === rows ? { contentHash: digest.hash } : {}) };
}

/** The raw reader's row handler: encode the packet (timed as 'parse' under --profile-stages), then count it. */
function rowEncoder(encoder: TsvEncoder, rowDone: () => void): (b: Buffer, start: number, end: number) => boolean {
  const profiler = activeProfiler();
  if (!profiler.enabled) {
    return (b, start, end) => {
      if (!encoder.packetRow(b, start, end)) return false;
      rowDone();
      return true;
    };
  }
  return (b, start, end) => {
    if (!timeSync('parse', end - start, () => encoder.packetRow(b, start, end), profiler)) return false;
    rowDone();
    return true;
  };
}
