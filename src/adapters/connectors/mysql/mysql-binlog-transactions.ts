import {
  ARTIFICIAL_FLAG,
  EventType,
  type FormatDescription,
  isGtidEvent,
  readFormatDescription,
  readGtid,
  readHeader,
  readQuery,
  readRotate,
  readTableMap,
} from './mysql-binlog-events.js';
import { payloadEvents } from './mysql-binlog-payload.js';

/** A binlog position: a file of the server and the offset after an event in it. */
export interface FilePosition {
  file: string;
  position: number;
}

/** One committed transaction (or statement outside one), as the change index records it. */
export interface TransactionEntry {
  /** The server's position after its last event. */
  file: string;
  pos: number;
  gtid?: string;
  /** Commit time, seconds since the epoch (the binlog's resolution), or microseconds from MySQL 8's GTID event. */
  time: number;
  timeMicros?: number;
  /** db.table of every row event, and the database of every other statement (DDL), sorted. */
  tables: string[];
  ddl?: boolean;
}

/** An event as the splitter classified it. */
export type Unit =
  | { kind: 'format'; event: Buffer }
  | { kind: 'event'; event: Buffer; first: boolean; commit?: TransactionEntry };

const MAX_TABLES = 1000;

/**
 * Turns the raw event stream of a dump into units: FORMAT_DESCRIPTIONs (a stored file starts at
 * each) and events, marking the first event of each transaction and, on the event that ends it,
 * its index entry. Events outside any transaction (GTID lists, checkpoints, rotations) are their
 * own units, first and committing at once without an entry. The fake ROTATE is dropped.
 */
export class TransactionSplitter {
  private fd: FormatDescription;
  private open: { gtid?: string; standalone: boolean; tables: Set<string>; ddl: boolean; micros?: number } | undefined;

  constructor(
    public at: FilePosition,
    checksumLength: number,
  ) {
    this.fd = { serverVersion: '', checksumLength };
  }

  /** The units of one event (none for the fake ROTATE). */
  push(event: Buffer): Unit | undefined {
    const h = readHeader(event);
    if (h.type === EventType.ROTATE) {
      const next = readRotate(event, this.fd);
      if ((h.flags & ARTIFICIAL_FLAG) !== 0 || h.logPos === 0) {
        this.at = { file: next.file, position: Math.max(next.position, 4) };
        return undefined;
      }
      this.at = { file: next.file, position: next.position };
      return { kind: 'event', event, first: true, commit: undefined };
    }
    if (h.logPos > this.at.position) this.at = { file: this.at.file, position: h.logPos };
    if (h.type === EventType.FORMAT_DESCRIPTION) {
      this.fd = readFormatDescription(event);
      return { kind: 'format', event };
    }
    const first = this.open === undefined;
    if (isGtidEvent(h.type)) {
      const g = readGtid(event, h, this.fd);
      this.open = { gtid: g.gtid, standalone: g.standalone, tables: new Set(), ddl: false, micros: g.commitMicros };
      return { kind: 'event', event, first };
    }
    if (h.type === EventType.QUERY || h.type === EventType.QUERY_COMPRESSED) {
      const q = readQuery(event, this.fd);
      const text = q.query.trim().toUpperCase();
      if (text === 'BEGIN') {
        this.open ??= { standalone: false, tables: new Set(), ddl: false };
        this.open.standalone = false;
        return { kind: 'event', event, first };
      }
      if (text === 'COMMIT' || text === 'ROLLBACK') return this.commit(event, h.timestamp, first);
      const tx = (this.open ??= { standalone: true, tables: new Set(), ddl: false });
      tx.ddl = true;
      for (const db of statementDatabases(q)) this.addTable(tx.tables, db);
      return tx.standalone ? this.commit(event, h.timestamp, first) : { kind: 'event', event, first };
    }
    if (h.type === EventType.XID) return this.commit(event, h.timestamp, first);
    if (h.type === EventType.TRANSACTION_PAYLOAD) return this.payload(event, h.timestamp, first);
    if (h.type === EventType.TABLE_MAP && this.open) {
      const t = readTableMap(event, this.fd);
      this.addTable(this.open.tables, `${t.db}.${t.table}`);
    }
    if (this.open) return { kind: 'event', event, first };
    // Outside a transaction: GTID_LIST, BINLOG_CHECKPOINT, STOP, … are boundaries of their own.
    return { kind: 'event', event, first: true, commit: undefined };
  }

  /** True while events of an unfinished transaction were seen. */
  get inTransaction(): boolean {
    return this.open !== undefined;
  }

  /** MySQL 8's compressed transaction (after its GTID event) holds the whole transaction: its tables are read from inside, and it ends it. */
  private payload(event: Buffer, timestamp: number, first: boolean): Unit {
    const tx = (this.open ??= { standalone: true, tables: new Set(), ddl: false });
    for (const inner of payloadEvents(event, this.fd, 'the binary log stream')) {
      const type = readHeader(inner).type;
      if (type === EventType.TABLE_MAP) {
        const t = readTableMap(inner, this.fd);
        this.addTable(tx.tables, `${t.db}.${t.table}`);
      } else if (type === EventType.QUERY || type === EventType.QUERY_COMPRESSED) {
        const q = readQuery(inner, this.fd);
        if (!/^(BEGIN|COMMIT|ROLLBACK)$/i.test(q.query.trim())) {
          tx.ddl = true;
          for (const db of statementDatabases(q)) this.addTable(tx.tables, db);
        }
      }
    }
    return this.commit(event, timestamp, first);
  }

  private commit(event: Buffer, timestamp: number, first: boolean): Unit {
    const tx = this.open ?? { standalone: true, tables: new Set<string>(), ddl: false };
    this.open = undefined;
    const entry: TransactionEntry = {
      file: this.at.file,
      pos: this.at.position,
      ...(tx.gtid ? { gtid: tx.gtid } : {}),
      time: tx.micros ? Math.floor(tx.micros / 1e6) : timestamp,
      ...(tx.micros ? { timeMicros: tx.micros } : {}),
      tables: [...tx.tables].sort(),
      ...(tx.ddl ? { ddl: true } : {}),
    };
    return { kind: 'event', event, first, commit: entry };
  }

  private addTable(tables: Set<string>, name: string): void {
    if (tables.size < MAX_TABLES) tables.add(name);
  }
}

const IDENT = String.raw`(?:\`(?:[^\`]|\`\`)+\`|[A-Za-z0-9_$]+)`;
const DATABASE_STATEMENT = new RegExp(String.raw`(?:^|;)\s*(?:CREATE|DROP|ALTER)\s+(?:DATABASE|SCHEMA)\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?(${IDENT})`, 'gi');
const QUALIFIED = new RegExp(String.raw`(${IDENT})\s*\.\s*(?:${IDENT}|\*)`, 'g');
const unquote = (name: string) => (name.startsWith('`') ? name.slice(1, -1).replaceAll('``', '`') : name);

/**
 * The databases a statement is about: its default database when it ran with one; else (no `USE`:
 * every table named must be qualified) the databases its CREATE/DROP/ALTER DATABASE name and the
 * qualifiers of the names in it (outside its strings). None found: [] (the statement is then shipped to be safe).
 * Without this, another database's DDL run without a default database (a restore's CREATE
 * DATABASE, an operator's DROP DATABASE) was shipped in the source's segments and counted as one
 * of its commits.
 */
export function statementDatabases(q: { db: string; query: string }): string[] {
  if (q.db !== '') return [q.db];
  // A statement past 64 KiB is not searched (bounded work): shipped.
  if (q.query.length > 65_536) return [];
  const text = q.query.replace(/'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"/g, "''");
  // A USE inside makes names after it unqualified: not told apart, shipped.
  if (/(?:^|;)\s*USE\s/i.test(text)) return [];
  const names = [...text.matchAll(DATABASE_STATEMENT), ...text.matchAll(QUALIFIED)].map((m) => unquote(m[1]!));
  return [...new Set(names.filter((n) => !/^\d+$/.test(n)))];
}
