import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import type { ChangeBatch, LogPosition } from '../../../application/ports/change-capture.js';
import type { PartSink, PartSource } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import { BINLOG_MAGIC, comparePositions } from './mysql-binlog-events.js';
import { INDEX_FORMAT, INDEX_PART, type IndexLine } from './mysql-binlog-index.js';
import { ResumingDump } from './mysql-binlog-resume.js';
import { copySegments, segmentsToCopy } from './mysql-binlog-segments.js';
import { type FilePosition, TransactionSplitter, type Unit } from './mysql-binlog-transactions.js';
import { binlogPositionOf, checkBinlogSettings, serverNow } from './mysql-binlog-settings.js';
import { closeConnection, type MysqlEndpoint, openConnection } from './mysql-connection.js';
import { detectFlavor } from './mysql-flavor.js';

/**
 * Reads the binary log from `since` (the parent's end) to the position the server reports when the
 * read starts, over the replication protocol, into parts that are binlog files as the server
 * writes them (`changes/NNNNNN.binlog`: the magic, a FORMAT_DESCRIPTION, whole transactions; a new
 * part at each server file and after `partSize` bytes) and the index part. The log is the whole
 * server's, so the parts hold every database's events (a restore replays only the backup's
 * `databases`, which the counts and objects here are limited to). A log that no longer holds
 * `since` ends the chain (E_LOG_PURGED).
 */
export async function readBinlogChanges(
  e: MysqlEndpoint,
  sinceRaw: LogPosition,
  sink: PartSink,
  signal: AbortSignal,
  partSize: number,
  databases: string[] | undefined,
  segments: readonly PartSource[] = [],
): Promise<ChangeBatch> {
  const since = binlogPositionOf(sinceRaw, "parent backup's log position");
  const conn = await openConnection(e);
  try {
    const flavor = await detectFlavor(conn);
    const warnings = await checkBinlogSettings(conn, flavor);
    // The time first: every commit up to it is before the end position read next.
    const at = await serverNow(conn);
    const end = await flavor.binlogPosition(conn);
    if (!end) throw new DbBackupError('E_UNSUPPORTED', 'Binary logging is off on the server (log_bin = OFF): start it with --log-bin (and --server-id) to take incremental backups.');
    // A differential whose start was purged begins with the stored incrementals since the full.
    const copy = await checkNotPurged(conn, since, segments);
    const fromServer = copy ? binlogPositionOf(copy.at(-1)!.manifest.logPosition, 'log position of the last stored incremental') : since;
    if (comparePositions(fromServer, end) > 0) {
      throw new DbBackupError('E_LOG_PURGED', `The server's binary log ends at ${end.file}:${end.position}, before the parent's end ${since.file}:${since.position} (RESET MASTER, or another server): the chain ends here; take a full backup.`);
    }
    const read = await writeParts({ e, mariadb: flavor.name === 'mariadb', since, fromServer, end, copy, sink, signal, partSize, ours: oursOf(databases) });
    if (copy) {
      warnings.push(
        `The server no longer has the binary log since the full (purged): this differential holds the ${copy.length} stored incremental(s) since it (${copy.map((c) => c.manifest.id).join(', ')}) and the server's log from ${fromServer.file}:${fromServer.position}.`,
      );
    }
    const to = { ...end };
    return {
      from: { ...sinceRaw },
      to,
      consistentAt: at,
      changes: read.transactions,
      objects: [...read.tables].sort().map((name) => ({ name, type: 'table' })),
      warnings: read.dump?.reconnects
        ? [...warnings, `The binary log connection dropped ${read.dump.reconnects} time(s) during the read; it was resumed each time from the last event read.`]
        : warnings,
      serverVersion: `${flavor.name === 'mariadb' ? 'MariaDB' : 'MySQL'} ${flavor.version}`,
      engineInfo: { flavor: flavor.name, binlog: { from: `${since.file}:${since.position}`, to: `${end.file}:${end.position}` } },
    };
  } finally {
    await closeConnection(conn);
  }
}

interface ReadPlan {
  e: MysqlEndpoint;
  mariadb: boolean;
  since: FilePosition;
  /** Where the server's log is read from: `since`, or the end of the last stored link copied. */
  fromServer: FilePosition;
  end: FilePosition;
  copy: readonly PartSource[] | undefined;
  sink: PartSink;
  signal: AbortSignal;
  partSize: number;
  ours: (table: string) => boolean;
}

/**
 * The binlog parts (copied links first, then the server's log) and the index. The index is spooled
 * to a private temp file and stored after the binlog parts: one part at a time into the sink (a
 * single-file archive takes its parts one by one), in constant memory.
 */
async function writeParts(p: ReadPlan): Promise<{ transactions: number; tables: Set<string>; dump?: ResumingDump }> {
  const spool = await mkdtemp(join(tmpdir(), 'dbbackup-binlog-'));
  try {
    const index = createWriteStream(join(spool, 'index.jsonl'), { mode: 0o600 });
    let read: { transactions: number; tables: Set<string>; dump?: ResumingDump };
    try {
      await writeLine(index, { format: INDEX_FORMAT, version: 1, from: p.since, to: { file: p.end.file, position: p.end.position } });
      const copied = p.copy ? await copySegments(p.copy, p.since, p.sink, index, p.ours, p.signal) : { parts: 0, transactions: 0, tables: new Set<string>() };
      read =
        comparePositions(p.fromServer, p.end) === 0
          ? { transactions: 0, tables: new Set() }
          : await streamParts(p.e, p.mariadb, p.fromServer, p.end, p.sink, index, p.signal, p.partSize, p.ours, copied.parts);
      read.transactions += copied.transactions;
      for (const t of copied.tables) read.tables.add(t);
    } finally {
      await new Promise<void>((resolve, reject) => index.end((err?: Error | null) => (err ? reject(err) : resolve())));
    }
    await p.sink.write({ name: INDEX_PART, role: 'changes' }, createReadStream(join(spool, 'index.jsonl')));
    return read;
  } finally {
    await rm(spool, { recursive: true, force: true });
  }
}

/** The log is the whole server's: the counts and objects are the backup's databases' only. */
function oursOf(databases: string[] | undefined): (table: string) => boolean {
  const set = databases ? new Set(databases) : undefined;
  return (t) => !set || set.has(t.includes('.') ? t.slice(0, t.indexOf('.')) : t);
}

/**
 * SHOW BINARY LOGS must still list the parent's file; else the stored `segments` since it that
 * reach a file the server has are returned (to be copied), or E_LOG_PURGED.
 */
async function checkNotPurged(conn: Awaited<ReturnType<typeof openConnection>>, since: FilePosition, segments: readonly PartSource[]): Promise<readonly PartSource[] | undefined> {
  const [rows] = await conn.query('SHOW BINARY LOGS');
  const files = (rows as { Log_name: string }[]).map((r) => r.Log_name);
  if (files.includes(since.file)) return undefined;
  const copy = segmentsToCopy(segments, files);
  if (copy) return copy;
  throw new DbBackupError(
    'E_LOG_PURGED',
    `The binary log file ${since.file} where the parent ends was purged from the server (it has ${files[0] ?? 'none'} … ${files.at(-1) ?? ''}): the chain ends here. Take a full backup (--type full, or --auto-full), and keep binlogs longer than the time between backups (binlog_expire_logs_seconds / expire_logs_days).`,
    { details: { file: since.file } },
  );
}

async function streamParts(
  e: MysqlEndpoint,
  mariadb: boolean,
  since: FilePosition,
  end: FilePosition,
  sink: PartSink,
  index: Writable,
  signal: AbortSignal,
  partSize: number,
  ours: (table: string) => boolean,
  firstPart: number,
): Promise<{ transactions: number; tables: Set<string>; dump?: ResumingDump }> {
  const dump = await ResumingDump.open(e, mariadb, since, signal);
  const splitter = new TransactionSplitter({ ...since }, dump.checksum === 'CRC32' ? 4 : 0);
  // A dropped connection resumes after the last event handed to the splitter (already in a stored part).
  dump.position = () => ({ ...splitter.at });
  const units = new UnitReader(dump.events(), splitter, end);
  const state = { transactions: 0, tables: new Set<string>(), dump };
  const onCommit = async (line: IndexLine) => {
    const mine = line.tables.filter(ours);
    if (mine.length > 0) state.transactions++;
    for (const t of mine) if (t.includes('.')) state.tables.add(t);
    await writeLine(index, line);
  };
  try {
    let format: Buffer | undefined;
    for (let n = firstPart, unit = await units.next(); unit; unit = await units.next()) {
      if (unit.kind === 'format') format = unit.event;
      else units.pushBack(unit);
      if (!format) throw new DbBackupError('E_BACKUP_FAILED', 'The binary log stream sent events before its FORMAT_DESCRIPTION; the server is not one this version reads.');
      const name = `changes/${String(n++).padStart(6, '0')}.binlog`;
      await sink.write({ name, role: 'changes' }, Readable.from(partBody(units, format, name, partSize, onCommit)));
    }
    return state;
  } finally {
    await units.close();
    await dump.close();
  }
}

/**
 * One stored binlog file: the magic, `format`, then whole transactions until the server starts a
 * new file (its FORMAT_DESCRIPTION is pushed back for the next part) or `partSize` bytes are
 * passed at a transaction's end. Each committed transaction's index line goes to `onCommit`.
 */
async function* partBody(units: UnitReader, format: Buffer, name: string, partSize: number, onCommit: (line: IndexLine) => Promise<void>): AsyncGenerator<Buffer> {
  const head = BINLOG_MAGIC.length + format.length;
  let offset = head;
  let txStart = offset;
  yield Buffer.concat([BINLOG_MAGIC, format]);
  for (let u = await units.next(); u; u = await units.next()) {
    if (u.kind === 'format') {
      // A new server file starts a new stored file (a repeat right after the one written changes nothing).
      if (offset > head) return units.pushBack(u);
      continue;
    }
    if (u.first) txStart = offset;
    yield u.event;
    offset += u.event.length;
    if (u.commit) await onCommit({ part: name, offset: txStart, end: offset, ...u.commit });
    if (!units.inTransaction && offset >= partSize) return;
  }
}

/** The dump's events as units (see TransactionSplitter), ending at the first transaction boundary at or past `end`. */
class UnitReader {
  private pending: Unit | undefined;
  private done = false;

  constructor(
    private readonly events: AsyncGenerator<Buffer>,
    private readonly splitter: TransactionSplitter,
    private readonly end: FilePosition,
  ) {}

  get inTransaction(): boolean {
    return this.splitter.inTransaction;
  }

  async next(): Promise<Unit | undefined> {
    if (this.pending) {
      const u = this.pending;
      this.pending = undefined;
      return u;
    }
    while (!this.done) {
      const r = await this.events.next();
      if (r.done) throw new DbBackupError('E_BACKUP_FAILED', 'The server ended the binary log stream before the end position; try again.');
      const unit = this.splitter.push(r.value);
      if (!this.splitter.inTransaction && comparePositions(this.splitter.at, this.end) >= 0) this.done = true;
      if (unit) return unit;
    }
    return undefined;
  }

  pushBack(unit: Unit): void {
    this.pending = unit;
  }

  async close(): Promise<void> {
    await this.events.return(undefined);
  }
}

async function writeLine(stream: Writable, value: unknown): Promise<void> {
  if (!stream.write(`${JSON.stringify(value)}\n`)) await once(stream, 'drain');
}
