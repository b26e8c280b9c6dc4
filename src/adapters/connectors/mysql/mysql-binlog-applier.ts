import { crc32 } from 'node:zlib';
import { DbBackupError } from '../../../domain/errors.js';
import {
  EventType,
  type FormatDescription,
  HEADER_LENGTH,
  inflateRowsEvent,
  isCompressedRowsEvent,
  isRowsEvent,
  readFormatDescription,
  readGtid,
  readHeader,
  readQuery,
  readRowsHeader,
  readTableMap,
  STMT_END_FLAG,
} from './mysql-binlog-events.js';
import { BinlogBatch } from './mysql-binlog-batch.js';
import { GtidCarry } from './mysql-binlog-carry.js';
import { gtidOf, type TargetGtids } from './mysql-binlog-gtids.js';
import { payloadEvents } from './mysql-binlog-payload.js';
import { encodeBinlogStatement, sendBinlogStatement } from './mysql-binlog-statement.js';
import { qualifyingDatabases, renameDatabases, statementAction } from './mysql-sql-names.js';
import { type MysqlConnection, qi } from './mysql-connection.js';

/** Source transactions replayed into one target transaction until it holds this many bytes of events (one commit's flush per group, not per transaction). */
const GROUP_BYTES = 32 << 20;
/** …or this many source transactions. */
const GROUP_TRANSACTIONS = 2000;
/** Row events of consecutive statements (and transactions) go in one BINLOG statement up to this many bytes of base64 (and half the target's max_allowed_packet). */
const BATCH_BYTES = 8 << 20;
/** The savepoint before a source transaction whose events reached the server while earlier ones wait in the target transaction. */
const SAVEPOINT = 'dbbackup_tx';

/**
 * The replay's transactions: the source's transactions are applied in their order, but several go in
 * one target transaction (committed every GROUP_BYTES / GROUP_TRANSACTIONS, before any statement
 * outside a transaction such as DDL, and at the end), and their row events in one BINLOG statement
 * per BATCH_BYTES. The target's state after each commit is the source's after its last transaction.
 * A source transaction left incomplete at the end of the log (or rolled back in it) is undone alone:
 * its events are held back until its end, or, once too big to hold, a savepoint precedes them.
 */
export class BinlogApplier {
  readonly tables = new Set<string>();
  private fd: FormatDescription = { serverVersion: '', checksumLength: 0 };
  /** Row events not yet sent, in log order; those from byte `txStart` on belong to the open source transaction. */
  private batch = new BinlogBatch(2 * BATCH_BYTES);
  private txStart = 0;
  /** The last event put in the batch ended its statement (a BINLOG statement must end at a statement's end). */
  private statementEnded = true;
  /** A target transaction is open (BEGIN sent) … */
  private targetOpen = false;
  /** … holding this many complete source transactions (sent or in the batch) and about this many bytes of events. */
  private groupTransactions = 0;
  private groupBytes = 0;
  /** A source transaction is open (its BEGIN or GTID seen, its end not yet). */
  private sourceOpen = false;
  /** Some of the open source transaction's events were sent to the server (with a savepoint before them when `savepoint`). */
  private spilled = false;
  private savepoint = false;
  private batchLimit = BATCH_BYTES;
  /** Statements left out: server-level (accounts, grants, plugins) or not a statement a replay runs. */
  skipped = 0;
  private readonly collations = new Map<number, { name: string; charset: string }>();
  /** Table id → whether its rows are replayed (its database is one of the backup's), for the statement being read. */
  private readonly mapped = new Map<number, boolean>();
  /** `carry`: the statements that make a source transaction carry its GTID. */
  private readonly carrier: GtidCarry | undefined;
  /**
   * The last BINLOG statement, sent but not yet answered: the next batch is read, framed and encoded
   * while the server applies it (client and server work at once, as a `mariadb-binlog | mariadb`
   * pipeline does); one at a time, so memory stays two batches.
   */
  private inflight: Promise<void> | undefined;

  constructor(
    private readonly conn: MysqlConnection,
    private readonly dbMap: Map<string, string>,
    /** `--tables`: only these tables' rows (`db.table`, source names); any DDL of the databases stops the replay. */
    private readonly only?: Set<string>,
    /** Connections replaying at once: the batch limit is shared among them, so that memory stays that of one. */
    private readonly sharedBy = 1,
    /**
     * `--replay-gtids keep` where allowed: the target's GTIDs. Each source transaction whose GTID
     * (of the target's kind) it does not hold is committed alone with that GTID, so the target
     * records it (mysql-binlog-carry.ts).
     */
    carry?: TargetGtids,
  ) {
    this.carrier = carry ? new GtidCarry(carry) : undefined;
  }

  /**
   * Reads the target's max_allowed_packet, which bounds a batch. The replay stays in the target's
   * binary log, as the full restore's statements do, so a replica of the target follows the whole
   * restore (leaving it out saved no measurable server time: about 0.07 CPU s either way).
   * But without the statement annotations: MariaDB (binlog_annotate_row_events, on by default)
   * writes the text of the statement before each of its row events, and a batch is one BINLOG
   * statement of up to 8 MB holding thousands of them — the log grew by the batch's size times its
   * events (GBs for a few MB replayed). MySQL's binlog_rows_query_log_events is the same, off by default.
   */
  async start(): Promise<string | undefined> {
    const [rows] = await this.conn.query('SELECT @@max_allowed_packet AS m');
    const max = Number((rows as { m: number | string }[])[0]?.m ?? 0);
    const limit = Number.isFinite(max) && max > 0 ? Math.min(BATCH_BYTES, Math.floor(max / 2)) : BATCH_BYTES;
    this.batchLimit = Math.max(64 << 10, Math.floor(limit / this.sharedBy));
    this.batch = new BinlogBatch(2 * this.batchLimit);
    for (const v of ['binlog_annotate_row_events', 'binlog_rows_query_log_events']) {
      await this.conn.query(`SET SESSION ${v} = OFF`).catch(() => undefined); // unknown on the other server kind
    }
    return undefined;
  }

  /** Applies the log's next event (whole events, in log order). */
  async event(event: Buffer, where: string): Promise<void> {
    this.groupBytes += event.length;
    await this.apply(event, where);
  }

  /** Commits the target transaction now, between source transactions (a parallel replay's dependency waits on it). */
  async commit(): Promise<void> {
    if (this.sourceOpen) throw new Error('commit inside a source transaction');
    await this.commitGroup();
  }

  /** Commits what the log completed; a source transaction the log left open is undone alone. */
  async finish(): Promise<void> {
    if (this.sourceOpen && !this.spilled) {
      this.batch.truncate(this.txStart);
      this.sourceOpen = false;
    }
    if (this.sourceOpen) {
      await this.sendBatch();
      await this.sql(this.savepoint ? `ROLLBACK TO SAVEPOINT ${SAVEPOINT}` : 'ROLLBACK');
      if (!this.savepoint) this.targetOpen = false;
      this.sourceOpen = false;
    }
    await this.sendBatch();
    if (this.targetOpen) await this.sql('COMMIT');
    this.targetOpen = false;
    await this.flush();
  }

  private async apply(event: Buffer, where: string): Promise<void> {
    const h = readHeader(event);
    switch (h.type) {
      case EventType.FORMAT_DESCRIPTION:
        await this.sendBatch();
        this.fd = readFormatDescription(event);
        await this.binlog(event);
        return;
      case EventType.TABLE_MAP: {
        const t = readTableMap(event, this.fd);
        const target = this.only && !this.only.has(`${t.db}.${t.table}`) ? undefined : this.dbMap.get(t.db);
        this.mapped.set(t.tableId, target !== undefined);
        if (target === undefined) return;
        this.tables.add(`${target}.${t.table}`);
        this.push(target === t.db ? event : renameTableMapDb(event, this.fd, target), false);
        return;
      }
      case EventType.MARIADB_GTID:
        if (this.carrier) await this.carryGtid(event);
        // A MariaDB transaction has no BEGIN query: its GTID event opens it (a MySQL one's BEGIN query follows).
        if (!readGtid(event, h, this.fd).standalone) await this.begin();
        return;
      case EventType.MYSQL_GTID:
        if (this.carrier) await this.carryGtid(event);
        return;
      case EventType.XID:
        await this.end('COMMIT');
        return;
      case EventType.QUERY:
      case EventType.QUERY_COMPRESSED: // MariaDB's log_bin_compress: the same event with its text deflated
        await this.query(event);
        return;
      case EventType.TRANSACTION_PAYLOAD:
        // MySQL 8's compressed transaction: its events, decoded one at a time, replay as the log's own.
        for (const inner of payloadEvents(event, this.fd, where)) {
          if (readHeader(inner).type === EventType.TRANSACTION_PAYLOAD) throw new DbBackupError('E_FOREIGN_ARCHIVE', `${where} holds a compressed transaction inside another.`);
          await this.apply(inner, where);
        }
        return;
      default:
        if (isRowsEvent(h.type)) {
          // A statement's rows events go in one BINLOG statement: the server forgets its table maps after each.
          const rows = readRowsHeader(event, this.fd);
          const ends = (rows.flags & STMT_END_FLAG) !== 0;
          if (this.mapped.get(rows.tableId)) this.push(isCompressedRowsEvent(h.type) ? inflateRowsEvent(event, this.fd) : event, ends);
          // The next statement maps its tables again (as the server does): a long log's new table ids do not pile up.
          if (ends) this.mapped.clear();
          // A statement whose last rows event is not replayed ends with its BINLOG statement.
          if (ends && !this.statementEnded) await this.sendBatch();
          else if (ends && this.batchBytes() >= this.batchLimit) await this.sendBatch();
        }
      // Everything else (ROTATE, GTID lists, checkpoints, annotations, MySQL GTIDs) changes no data.
    }
  }

  private async query(event: Buffer): Promise<void> {
    const q = readQuery(event, this.fd);
    const text = q.query.trim();
    const upper = text.toUpperCase();
    if (upper === 'BEGIN') return this.begin();
    if (upper === 'COMMIT' || upper === 'ROLLBACK') return this.end(upper);
    const ran = await this.statement(event, q, text);
    // A carried statement alone (DDL) is its transaction: it ended, or (not replayed) must still be recorded.
    if (!this.sourceOpen && this.carrier?.carrying) for (const s of this.carrier.after(ran)) await this.sql(s);
  }

  /** A QUERY event's statement other than BEGIN/COMMIT/ROLLBACK; false when it is not replayed. */
  private async statement(event: Buffer, q: ReturnType<typeof readQuery>, text: string): Promise<boolean> {
    // A statement is the backup's when its default database is, or when it names one of the backup's
    // databases as a qualifier (`ALTER TABLE shop.t` run from anywhere); others (GRANT, CREATE USER,
    // other databases' DDL) are not replayed. Qualifiers are renamed as the databases are.
    const named = qualifyingDatabases(text);
    if (!this.dbMap.has(q.db) && ![...named].some((d) => this.dbMap.has(d))) return false;
    const action = statementAction(text);
    if (action.action === 'database' && this.dbMap.has(action.name)) {
      throw new DbBackupError('E_UNSUPPORTED', `The binary log creates, alters or drops the database ${action.name} of the backup (${text.slice(0, 80)}); such a chain cannot be replayed past it: restore to a point before it, or take a full backup after it.`);
    }
    if (action.action !== 'replay') {
      this.skipped++;
      return false;
    }
    if (this.only) {
      throw new DbBackupError('E_UNSUPPORTED', `The binary log holds a DDL statement of the backup's databases (${text.slice(0, 80)}), which cannot be limited to chosen tables: restore the chain without --tables (or to a point before it).`);
    }
    const sql = renameDatabases(text, this.dbMap);
    // What came before runs first; a statement outside a transaction (DDL) also commits the group, as the server would.
    await this.sendBatch();
    if (!this.sourceOpen) await this.commitGroup();
    const sets = [`SET TIMESTAMP = ${readHeader(event).timestamp}`];
    if (q.sqlMode !== undefined) sets.push(`SET SESSION sql_mode = ${q.sqlMode.toString()}`);
    if (q.charset) {
      const [client, connection, server] = await Promise.all(q.charset.map((id) => this.collation(id)));
      sets.push(`SET SESSION character_set_client = ${client.charset}, SESSION collation_connection = ${connection.name}, SESSION collation_server = ${server.name}`);
    }
    if (q.timeZone) sets.push(`SET SESSION time_zone = '${q.timeZone.replace(/'/g, "''")}'`);
    for (const s of sets) await this.sql(s);
    // A default database outside the backup stays as it was on the source: the target must have it.
    const use = this.dbMap.get(q.db) ?? q.db;
    if (use !== '') {
      await this.sql(`USE ${qi(use)}`).catch((err: unknown) => {
        throw new DbBackupError('E_UNSUPPORTED', `A statement in the binary log changes the backup's databases from the database ${use}, which the target lacks (${(err as Error).message}); create it (empty) on the target and restore again.`, { cause: err });
      });
    }
    await this.sql(sql);
    await this.sql('SET TIMESTAMP = DEFAULT, SESSION character_set_client = utf8mb4, SESSION collation_connection = utf8mb4_general_ci');
    return true;
  }

  /**
   * Before a source transaction (its GTID event): what the target transactions hold so far is
   * committed, then the session takes the source's GTID when the target does not hold it yet (the
   * transaction then commits alone), else the target's own again.
   */
  private async carryGtid(event: Buffer): Promise<void> {
    const g = gtidOf(event, this.fd);
    if (!g) return;
    if (this.sourceOpen) await this.end('COMMIT'); // the previous one never said it ended: it ran to its end
    await this.commitGroup();
    for (const s of this.carrier!.after(false)) await this.sql(s); // a MySQL GTID whose statement never came
    for (const s of this.carrier!.before(g.gtid)) await this.sql(s);
  }

  /** A collation id of a QUERY event's status, by name (MariaDB takes no ids for character_set_client). */
  private async collation(id: number): Promise<{ name: string; charset: string }> {
    let c = this.collations.get(id);
    if (!c) {
      const [rows] = await this.sql('SELECT COLLATION_NAME AS name, CHARACTER_SET_NAME AS charset FROM information_schema.COLLATIONS WHERE ID = ?', [id]);
      const row = (rows as { name: string; charset: string }[])[0];
      if (!row || !/^\w+$/.test(row.name) || !/^\w+$/.test(row.charset)) throw new DbBackupError('E_UNSUPPORTED', `The target server has no collation with id ${id}, which a statement in the binary log ran with.`);
      c = row;
      this.collations.set(id, c);
    }
    return c;
  }

  /** A source transaction opens: the target's is opened when none is, else the events join it. */
  private async begin(): Promise<void> {
    if (this.sourceOpen) await this.end('COMMIT'); // the previous one never said it ended: it ran to its end
    if (!this.targetOpen) {
      await this.sendBatch();
      await this.sql('BEGIN');
      this.targetOpen = true;
    }
    this.sourceOpen = true;
    this.spilled = false;
    this.savepoint = false;
    this.txStart = this.batch.length;
  }

  /** A source transaction ends: committed ones stay in the group until it is full. */
  private async end(what: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    if (what === 'ROLLBACK') {
      // Its non-transactional changes stay, as on the source: its events run, then what they did in a transaction is undone.
      await this.sendBatch();
      if (this.savepoint) await this.sql(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
      else if (this.targetOpen) {
        await this.sql('ROLLBACK');
        this.targetOpen = false;
        this.groupTransactions = 0;
        this.groupBytes = 0;
      }
    } else if (this.sourceOpen || this.targetOpen) {
      this.groupTransactions++;
    }
    this.sourceOpen = false;
    this.txStart = this.batch.length;
    if (this.carrier?.carrying) {
      await this.commitGroup();
      for (const s of this.carrier.after(what === 'COMMIT')) await this.sql(s);
    } else if (this.groupBytes >= GROUP_BYTES || this.groupTransactions >= GROUP_TRANSACTIONS) await this.commitGroup();
    else if (this.batchBytes() >= this.batchLimit) await this.sendBatch();
  }

  private async commitGroup(): Promise<void> {
    await this.sendBatch();
    if (this.targetOpen) await this.sql('COMMIT');
    else await this.flush();
    this.targetOpen = false;
    this.groupTransactions = 0;
    this.groupBytes = 0;
  }

  private push(event: Buffer, endsStatement: boolean): void {
    this.batch.push(event);
    this.statementEnded = endsStatement;
  }

  /** The batch's size in its statement's base64. */
  private batchBytes(): number {
    return Math.ceil(this.batch.length / 3) * 4;
  }

  /**
   * Sends the batch's events. When they include the open source transaction's and complete ones wait
   * in the target transaction, a savepoint goes between, so that the open one can be undone alone.
   */
  private async sendBatch(): Promise<void> {
    const length = this.batch.length;
    if (length === 0) return;
    // The views stay valid until the next push, which waits for this to return (the events come one at a time).
    const events = this.batch.bytes();
    this.batch.clear();
    this.statementEnded = true;
    const split = this.sourceOpen && !this.spilled ? this.txStart : length;
    this.txStart = 0;
    if (split < length) {
      this.spilled = true;
      if (this.groupTransactions > 0) {
        if (split > 0) await this.binlog(events.subarray(0, split));
        await this.sql(`SAVEPOINT ${SAVEPOINT}`);
        this.savepoint = true;
        await this.binlog(events.subarray(split));
        return;
      }
    }
    await this.binlog(events);
  }

  /**
   * One BINLOG statement: the events' bytes back to back in one base64 string (the server decodes
   * it whole and walks the events by their lengths, as it does mariadb-binlog's one string per event
   * joined by newlines; one encoding and no join saved a third of the client's CPU). Encoded before
   * anything is awaited: `events` may be the batch's reused buffer.
   */
  private async binlog(events: Buffer): Promise<void> {
    const statement = encodeBinlogStatement(this.conn, events);
    await this.flush();
    this.inflight = sendBinlogStatement(this.conn, statement);
    this.inflight.catch(() => undefined); // seen by the next flush
  }

  /**
   * Any other statement: after the BINLOG statement in flight ended (its error surfaces here, before
   * anything that would commit after it).
   */
  private async sql(statement: string, values?: unknown[]): ReturnType<MysqlConnection['query']> {
    await this.flush();
    return values ? this.conn.query(statement, values) : this.conn.query(statement);
  }

  /** Waits for the BINLOG statement in flight; throws its error. */
  private async flush(): Promise<void> {
    const running = this.inflight;
    this.inflight = undefined;
    await running;
  }
}

/** A TABLE_MAP with another database name, its length and checksum fixed up (its log position stays the server's). */
export function renameTableMapDb(event: Buffer, fd: FormatDescription, db: string): Buffer {
  const body = event.subarray(HEADER_LENGTH, event.length - fd.checksumLength);
  const oldLength = body[8]!;
  const name = Buffer.from(db, 'utf8');
  if (name.length > 64) throw new DbBackupError('E_USAGE', `The database name ${db} is too long.`);
  const newBody = Buffer.concat([body.subarray(0, 8), Buffer.from([name.length]), name, body.subarray(9 + oldLength)]);
  const out = Buffer.concat([event.subarray(0, HEADER_LENGTH), newBody, Buffer.alloc(fd.checksumLength)]);
  out.writeUInt32LE(out.length, 9);
  if (fd.checksumLength === 4) out.writeUInt32LE(crc32(out.subarray(0, out.length - 4)), out.length - 4);
  return out;
}

