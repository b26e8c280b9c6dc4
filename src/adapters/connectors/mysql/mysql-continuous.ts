import type { LogPosition } from '../../../application/ports/change-capture.js';
import type { ContinuousCapture, FollowStart, LogBatch } from '../../../application/ports/continuous-capture.js';
import type { DumpResult } from '../../../application/ports/dump.js';
import type { PartSink } from '../../../application/ports/parts.js';
import { DbBackupError, isDbBackupError } from '../../../domain/errors.js';
import { type LogCommit, MAX_COMMIT_BYTES, oldestCommits } from '../../../domain/log-segment.js';
import { comparePositions, fileMarker } from './mysql-binlog-events.js';
import { addGtid } from './mysql-binlog-locate.js';
import { ResumingDump } from './mysql-binlog-resume.js';
import { binlogPositionOf, checkBinlogSettings } from './mysql-binlog-settings.js';
import { type FilePosition, TransactionSplitter } from './mysql-binlog-transactions.js';
import { closeConnection, type MysqlConnection, type MysqlEndpoint, openConnection } from './mysql-connection.js';
import { chooseDatabases, runDump } from './mysql-dump.js';
import { detectFlavor } from './mysql-flavor.js';

/** A transaction read from the binary log, waiting to be shipped: its payload and the position after it. */
interface Waiting {
  commit: LogCommit;
  end: FilePosition;
  /** The GTID state after it (gtid_binlog_pos / GTID set), when the start's was known. */
  gtid?: string;
}

/**
 * Continuous capture of a MySQL/MariaDB server's binary log (what `replicate` ships): a binlog dump
 * over the replication protocol (mysql-binlog-resume.ts: heartbeats, reconnects from the last event
 * read) that never stops at "now". Each committed transaction becomes one commit of a log segment
 * whose payload is an artificial ROTATE naming its binlog file (fileMarker), the
 * FORMAT_DESCRIPTION of that file and the transaction's raw events (GTID/BEGIN … XID/COMMIT), timed by its commit (see commitTime); a restore replays segments through the same BINLOG path as an
 * incremental (mysql-binlog-segment.ts). Transactions touching none of the source's databases are
 * not shipped (the log is the whole server's).
 *
 * The server keeps its log by its own retention (binlog_expire_logs_seconds): nothing is pinned,
 * release() only drops what waits. Resuming asks for the log from the last shipped transaction's
 * end; when the server no longer has that file (purged while replicate was stopped, or during a
 * reconnect) the generation ends and a new one starts with a full, the reason said.
 */
export class MysqlContinuousCapture implements ContinuousCapture {
  private conn?: MysqlConnection;
  private mariadb = false;
  private identity = '';
  private databases?: Set<string>;
  private waiting: Waiting[] = [];
  private waitingBytes = 0;
  /** The pump reads no further while this many bytes wait (poll's maxBytes). */
  private limit = 16 << 20;
  private wake?: () => void;
  private failure?: Error;
  private lastTime = 0;
  /** The GTID state after the last transaction read (segments' `to` carry it: --at-gtid finds its segment). */
  private gtidState?: string;
  private following?: { stop: AbortController; done: Promise<void> };

  constructor(private readonly endpoint: MysqlEndpoint) {}

  async start(resumeFrom: LogPosition | undefined, identity: string | undefined): Promise<FollowStart> {
    this.conn = await openConnection(this.endpoint);
    const flavor = await detectFlavor(this.conn);
    this.mariadb = flavor.name === 'mariadb';
    await checkBinlogSettings(this.conn, flavor);
    if (!(await flavor.binlogPosition(this.conn))) {
      throw new DbBackupError('E_UNSUPPORTED', 'Binary logging is off on the server (log_bin = OFF): start it with --log-bin --server-id=N --binlog-format=ROW to replicate.');
    }
    this.databases = this.endpoint.allDatabases ? undefined : new Set(await chooseDatabases(this.conn, this.endpoint));
    this.identity = await serverIdentity(this.conn);
    if (resumeFrom === undefined) return { identity: this.identity, resumable: false };
    if (identity !== this.identity) return { identity: this.identity, resumable: false, reason: 'the server is another one than the generation’s (its server id or binary log name differ)' };
    const from = binlogPositionOf(resumeFrom, 'last segment shipped');
    const missing = await missingFrom(this.conn, from);
    if (missing) return { identity: this.identity, resumable: false, reason: missing };
    this.gtidState = typeof resumeFrom.gtid === 'string' ? resumeFrom.gtid : undefined;
    this.follow(from);
    return { identity: this.identity, resumable: true };
  }

  async snapshot(sink: PartSink, signal: AbortSignal): Promise<DumpResult & { at: LogPosition }> {
    await this.stopFollowing();
    const result = await runDump(this.endpoint, { kind: 'full', parallel: 2 }, sink, signal);
    if (!result.logPosition) throw new DbBackupError('E_UNSUPPORTED', 'The full did not record a binary log position (binary logging off?); replicate needs --log-bin.');
    const at = { ...result.logPosition } as LogPosition;
    this.gtidState = typeof at.gtid === 'string' ? at.gtid : undefined;
    this.follow(binlogPositionOf(at, 'snapshot'));
    return { ...result, engineInfo: { ...result.engineInfo, identity: this.identity }, at };
  }

  async poll(maxBytes: number): Promise<number> {
    if (this.failure) throw this.failure;
    this.limit = Math.max(1, maxBytes);
    if (this.waitingBytes < this.limit) this.wake?.();
    return this.waitingBytes;
  }

  take(from: LogPosition, maxBytes: number): LogBatch | null {
    const taken = oldestCommits(this.waiting, maxBytes);
    if (!taken) return null;
    const last = taken.last;
    const to = { file: last.end.file, position: last.end.position, ...(last.gtid ? { gtid: last.gtid } : {}), flavor: this.mariadb ? 'mariadb' : 'mysql' };
    return { from, to, commits: taken.commits, bytes: taken.bytes };
  }

  async release(position: LogPosition): Promise<void> {
    const p = binlogPositionOf(position, 'released position');
    let n = 0;
    while (n < this.waiting.length && comparePositions(this.waiting[n]!.end, p) <= 0) this.waitingBytes -= this.waiting[n++]!.commit.payload.length;
    this.waiting.splice(0, n);
    if (this.waitingBytes < this.limit) this.wake?.();
  }

  async close(): Promise<void> {
    await this.stopFollowing();
    if (this.conn) await closeConnection(this.conn);
    this.conn = undefined;
  }

  private follow(from: FilePosition): void {
    const stop = new AbortController();
    const done = this.pump(from, stop.signal).catch((err: unknown) => {
      if (!stop.signal.aborted) this.failure = failed(err);
    });
    this.following = { stop, done };
  }

  private async stopFollowing(): Promise<void> {
    const f = this.following;
    this.following = undefined;
    if (!f) return;
    f.stop.abort();
    this.wake?.();
    await f.done;
  }

  /** Reads the dump into `waiting`, one entry per committed transaction, pausing while `limit` bytes wait. */
  private async pump(from: FilePosition, stop: AbortSignal): Promise<void> {
    const dump = await ResumingDump.open(this.endpoint, this.mariadb, from, stop);
    const splitter = new TransactionSplitter({ ...from }, dump.checksum === 'CRC32' ? 4 : 0);
    // A dropped connection resumes after the last event read (a transaction half read goes on).
    dump.position = () => ({ ...splitter.at });
    let format: Buffer | undefined;
    let txn: Buffer[] | undefined;
    let bytes = 0;
    try {
      for await (const event of dump.events()) {
        if (stop.aborted) return;
        const unit = splitter.push(event);
        if (!unit) continue;
        if (unit.kind === 'format') {
          format = unit.event;
          continue;
        }
        if (unit.first) [txn, bytes] = [[], 0];
        if (!txn) continue;
        txn.push(unit.event);
        bytes += unit.event.length;
        if (bytes > MAX_COMMIT_BYTES - (1 << 20)) {
          throw new DbBackupError('E_BACKUP_FAILED', `A transaction of more than ${MAX_COMMIT_BYTES >> 20} MiB of binary log cannot be one commit of a log segment; back it up with a full (or incrementals) instead.`);
        }
        if (!unit.commit) {
          // Events outside any transaction (GTID lists, checkpoints, rotations) are not shipped.
          if (!splitter.inTransaction) txn = undefined;
          continue;
        }
        const events = txn;
        txn = undefined;
        if (unit.commit.gtid && this.gtidState !== undefined) this.gtidState = addGtid(this.gtidState, unit.commit.gtid);
        if (!this.ours(unit.commit.tables)) continue;
        if (!format) throw new DbBackupError('E_BACKUP_FAILED', 'The binary log stream sent events before its FORMAT_DESCRIPTION; the server is not one this version reads.');
        const t = commitTime(unit.commit.time, unit.commit.timeMicros, Date.now());
        // Commit times need not grow in log order (a clock step); a segment's must.
        this.lastTime = Math.max(this.lastTime, t);
        const payload = Buffer.concat([fileMarker(unit.commit.file), format, ...events]);
        const end = { file: unit.commit.file, position: unit.commit.pos };
        this.waiting.push({ commit: { time: this.lastTime, payload }, end, ...(this.gtidState !== undefined ? { gtid: this.gtidState } : {}) });
        this.waitingBytes += payload.length;
        while (this.waitingBytes >= this.limit && !stop.aborted) await new Promise<void>((resolve) => (this.wake = resolve));
        if (stop.aborted) return;
      }
    } finally {
      await dump.close();
    }
  }

  /** A transaction is the source's when it touched one of its databases (or names none: shipped to be safe, the replay filters it). */
  private ours(tables: string[]): boolean {
    if (!this.databases || tables.length === 0) return true;
    return tables.some((t) => this.databases!.has(t.includes('.') ? t.slice(0, t.indexOf('.')) : t));
  }
}

/**
 * A commit's time in ms: MySQL 8's GTID event microseconds; else (MariaDB) the binlog's whole
 * second, refined by when replicate read it, kept within that second. Two segments cut in the same
 * second then still end at distinct instants, and a commit is never timed before its second.
 */
export function commitTime(seconds: number, micros: number | undefined, seen: number): number {
  if (Number.isSafeInteger(micros)) return Math.floor(micros! / 1000);
  const start = seconds * 1000;
  return Math.min(Math.max(seen, start), start + 999);
}

/** The server and its log: another server, or one whose log was renamed, is another source. */
async function serverIdentity(conn: MysqlConnection): Promise<string> {
  const [rows] = await conn.query('SELECT @@GLOBAL.server_id AS id, @@GLOBAL.log_bin_basename AS base');
  const r = (rows as { id: number | string; base: string | null }[])[0]!;
  const uuid = await conn.query('SELECT @@GLOBAL.server_uuid AS u').then(
    ([u]) => String((u as { u: string }[])[0]?.u ?? ''),
    () => '',
  );
  return [String(r.id), String(r.base ?? ''), uuid].filter((s) => s !== '').join(':');
}

/** Why the server cannot send its log from `from` (the file purged, or the log reset), or undefined when it can. */
async function missingFrom(conn: MysqlConnection, from: FilePosition): Promise<string | undefined> {
  const [rows] = await conn.query('SHOW BINARY LOGS');
  const files = rows as { Log_name: string; File_size: number | string }[];
  const file = files.find((f) => f.Log_name === from.file);
  if (!file) {
    return `the binary log file ${from.file} where the last segment ends was purged while replicate was not running (the server has ${files[0]?.Log_name ?? 'none'} … ${files.at(-1)?.Log_name ?? ''}); keep binlogs longer (binlog_expire_logs_seconds)`;
  }
  if (Number(file.File_size) < from.position) return `the binary log file ${from.file} is shorter than the last segment's end (${from.position}): the log was reset (RESET MASTER)`;
  return undefined;
}

/** A purged log (seen on a reconnect) ends the generation; anything else stops replicate. */
function failed(err: unknown): Error {
  if (isDbBackupError(err, 'E_LOG_PURGED')) {
    return new DbBackupError('E_CHAIN_BROKEN', `The server purged the binary log replicate was reading (${err.message}); a new generation starts with a full.`, { details: { reason: 'log-purged' }, cause: err });
  }
  if (isDbBackupError(err)) return err;
  return new DbBackupError('E_BACKUP_FAILED', `Following the binary log failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
