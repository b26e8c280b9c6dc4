import { setTimeout as sleep } from 'node:timers/promises';
import { isDbBackupError } from '../../../domain/errors.js';
import { ARTIFICIAL_FLAG, EventType, readHeader } from './mysql-binlog-events.js';
import { binlogEvents, prepareDumpSession } from './mysql-binlog-stream.js';
import type { FilePosition } from './mysql-binlog-transactions.js';
import { closeConnection, type MysqlConnection, type MysqlEndpoint, openConnection } from './mysql-connection.js';

/** Failed reconnects in a row (no event between them) before the read gives up. */
const MAX_ATTEMPTS = 5;

/**
 * A binlog dump that reconnects by itself: when the connection drops (a killed dump thread, a
 * server restart, a network cut, a stall) it opens a new one and asks for the log again from
 * `position()`, the place after the last event it handed out (the reader's splitter keeps it), so
 * what was stored stays valid and nothing is read twice. A purged log, refused privileges or an
 * abort end the read at once; so do MAX_ATTEMPTS failures in a row.
 */
export class ResumingDump {
  /** How many times the dump was resumed on a new connection. */
  reconnects = 0;
  /** Where a resumed dump starts; set by the reader to its splitter's position. */
  position: () => FilePosition;

  private constructor(
    private readonly e: MysqlEndpoint,
    private readonly mariadb: boolean,
    private readonly signal: AbortSignal,
    private conn: MysqlConnection | undefined,
    readonly checksum: string,
    start: FilePosition,
  ) {
    this.position = () => start;
  }

  /** Opens the first connection and prepares it (the checksum comes from there). */
  static async open(e: MysqlEndpoint, mariadb: boolean, start: FilePosition, signal: AbortSignal): Promise<ResumingDump> {
    const conn = await openConnection(e);
    try {
      const { checksum } = await prepareDumpSession(conn, mariadb);
      return new ResumingDump(e, mariadb, signal, conn, checksum, { ...start });
    } catch (err) {
      await closeConnection(conn);
      throw err;
    }
  }

  /** Raw events from the start on, across reconnects; ends only when the caller stops reading, or fails. */
  async *events(): AsyncGenerator<Buffer> {
    let failures = 0;
    let resumeAt: FilePosition | undefined;
    for (;;) {
      try {
        const conn = this.conn ?? (await this.reopen());
        this.conn = undefined;
        const from = resumeAt ?? this.position();
        for await (const event of binlogEvents(conn, { ...from, mariadb: this.mariadb }, this.signal)) {
          // A resumed dump starts again with the fake ROTATE and the file's FORMAT_DESCRIPTION: the stored part already has them.
          if (resumeAt && isReplayedHead(event, resumeAt)) continue;
          resumeAt = undefined;
          failures = 0;
          yield event;
        }
        throw new Error('the server ended the binary log dump');
      } catch (err) {
        if (!resumable(err) || this.signal.aborted || ++failures > MAX_ATTEMPTS) throw err;
        this.reconnects++;
        resumeAt = this.position();
        await sleep(100 * 2 ** (failures - 1), undefined, { signal: this.signal });
      }
    }
  }

  private async reopen(): Promise<MysqlConnection> {
    const conn = await openConnection(this.e);
    try {
      await prepareDumpSession(conn, this.mariadb);
      return conn;
    } catch (err) {
      await closeConnection(conn);
      throw err;
    }
  }

  /** Closes the first connection when events() was never read. */
  async close(): Promise<void> {
    if (this.conn) await closeConnection(this.conn);
    this.conn = undefined;
  }
}

/** The server's preamble of a dump, or an event before `from` (already stored). */
function isReplayedHead(event: Buffer, from: FilePosition): boolean {
  const h = readHeader(event);
  if ((h.flags & ARTIFICIAL_FLAG) !== 0) return true;
  // At a file's start (position 4) its FORMAT_DESCRIPTION is new to the stored log; mid-file it is a repeat.
  if (h.type === EventType.FORMAT_DESCRIPTION) return from.position > 4;
  return h.logPos !== 0 && h.logPos <= from.position;
}

/** Everything but what another connection would not change: a purged log, refused rights, a bad request. */
function resumable(err: unknown): boolean {
  if (isDbBackupError(err)) return err.code === 'E_BACKUP_FAILED' || err.code === 'E_CONN_REFUSED';
  const code = (err as { code?: string }).code ?? '';
  return !/^ER_(?!CONNECTION_KILLED|SERVER_SHUTDOWN|NET_)/.test(code);
}
