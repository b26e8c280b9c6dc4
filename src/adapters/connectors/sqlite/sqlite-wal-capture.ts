import { open, rm, stat, type FileHandle } from 'node:fs/promises';
import { makeScratchDir } from '../../../infrastructure/scratch.js';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type { LogPosition } from '../../../application/ports/change-capture.js';
import type { ContinuousCapture, FollowStart, LogBatch } from '../../../application/ports/continuous-capture.js';
import type { DumpResult } from '../../../application/ports/dump.js';
import type { PartSink } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import { type LogCommit, oldestCommits } from '../../../domain/log-segment.js';
import { openSource } from './sqlite-file.js';
import { cursorAtStart, cursorToPosition, positionToCursor, readCommits, readWalHeader, type WalCursor, type WalHeader } from './sqlite-wal.js';
import { encodeCommit } from './sqlite-wal-replay.js';

export interface SqliteFollowOptions {
  /** Once the log holds this many bytes of frames, all shipped, it is checkpointed and starts over. */
  checkpointBytes: number;
  /** Writes the parts of a snapshot file (the connector's own full-backup format). */
  writeSnapshot(snapshot: string, sink: PartSink): Promise<Omit<DumpResult, 'serverVersion' | 'consistentAt'>>;
}

const EMPTY: WalCursor = { salt1: 0, salt2: 0, frame: 0, cksum: [0, 0] };

/**
 * Follows a SQLite database's write-ahead log, as Litestream does, without writing anything into
 * the database (no lock table): it reads the -wal file itself and validates every frame the way
 * SQLite's recovery does.
 *
 * The pin: a read transaction is always open (two connections take turns, the new one begun
 * before the old one ends). While a reader uses the log, SQLite never restarts it, and no
 * checkpoint copies frames past that reader's snapshot, so no frame is lost before it is read.
 * A reader that began when every frame was already copied into the database ("read mark 0")
 * allows one restart but blocks every later copy, so a second restart, the only way frames could
 * vanish, cannot happen while it is held; before the old reader ends, the log is read to its last
 * commit. Hence a restart seen in the log's header (salt-1 one higher) always
 * continues what was read; any other change means the file was replaced.
 *
 * Checkpoints are the capture's own: PASSIVE only (never RESTART, whose wait on readers hung
 * Litestream's users). Once the log holds checkpointBytes of shipped frames, a PASSIVE checkpoint
 * runs, then, with writers held off by an empty BEGIN IMMEDIATE for just the remainder, the reader
 * lets go, a second PASSIVE copies the few frames left, and a fresh reader (mark 0) lets the next
 * writer restart the log from its beginning: the file stops growing without a TRUNCATE (which
 * could not be told apart from losing frames committed between the last read and its lock).
 * The write lock is never held while the database itself is read (the snapshot reads under a
 * reader only).
 */
export class SqliteWalCapture implements ContinuousCapture {
  private readers: BetterSqlite3.Database[] = [];
  private active = 0;
  private ctl?: BetterSqlite3.Database;
  private wal?: FileHandle;
  private header?: WalHeader;
  private cursor: WalCursor = EMPTY;
  private waiting: { commit: LogCommit; end: WalCursor }[] = [];
  private waitingBytes = 0;
  private lastTime = 0;
  private identity = '';

  constructor(
    private readonly path: string,
    private readonly options: SqliteFollowOptions,
  ) {}

  async start(resumeFrom: LogPosition | undefined, identity: string | undefined): Promise<FollowStart> {
    // Nothing here opens the database file outside SQLite: closing such a descriptor would drop the
    // process's POSIX locks on it, the SHARED lock by which a connection closing elsewhere sees it
    // is not the last one (it would checkpoint and delete the WAL under us). See openSource.
    const first = await openSource(this.path);
    this.readers.push(first, await openSource(this.path));
    this.ctl = await openSource(this.path);
    const mode = String(first.pragma('journal_mode', { simple: true }));
    if (mode !== 'wal') {
      await this.close();
      throw new DbBackupError(
        'E_JOURNAL_MODE',
        `${this.path} uses a rollback journal (journal_mode=${mode}); replicate follows the write-ahead log. ` +
          `Switch the database to WAL once (it stays so; applications keep working): sqlite3 ${this.path} "PRAGMA journal_mode=WAL;" — then run replicate again.`,
        { details: { journalMode: mode } },
      );
    }
    this.ctl.pragma('busy_timeout = 1000');
    this.identity = await this.fileIdentity();
    // Pinned and read to its end (skipping it): a snapshot starts here unless the resume point is still in the log.
    await this.pin(false);
    const header = this.header;
    const resumable = resumeFrom !== undefined && identity === this.identity && (await this.resume(resumeFrom, header));
    return { identity: this.identity, resumable };
  }

  /** True (and the cursor set) when the log still holds `position` with the same checksum. */
  private async resume(position: LogPosition, header: WalHeader | undefined): Promise<boolean> {
    const c = positionToCursor(position);
    if (!c) return false;
    if (!header) return c.salt1 === 0 && c.salt2 === 0 && c.frame === 0;
    if (c.salt1 !== header.salt1 || c.salt2 !== header.salt2) return false;
    let found = c.frame === 0 && c.cksum[0] === header.cksum[0] && c.cksum[1] === header.cksum[1];
    await readCommits(this.wal!, header, cursorAtStart(header), (_commit, end) => {
      if (end.frame === c.frame && end.cksum[0] === c.cksum[0] && end.cksum[1] === c.cksum[1]) found = true;
    });
    if (found) {
      this.header = header;
      this.cursor = c;
    }
    return found;
  }

  async snapshot(sink: PartSink, signal: AbortSignal): Promise<DumpResult & { at: LogPosition }> {
    // Read the log up to its end outside the lock, then only the tail under it.
    await this.readTail(false);
    const consistentAt = await this.underWriteLock(async () => {
      await this.pin(false);
      return new Date();
    });
    this.waiting = [];
    this.waitingBytes = 0;
    signal.throwIfAborted();
    const dir = await makeScratchDir('dbbackup-sqlite-');
    try {
      const file = join(dir, 'snapshot.db');
      const reader = this.readers[this.active]!;
      // The backup API reads within the pinned read transaction: exactly the state at the cursor.
      await reader.backup(file, { progress: () => 0x7fffffff });
      signal.throwIfAborted();
      const serverVersion = (reader.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
      const written = await this.options.writeSnapshot(file, sink);
      return { serverVersion, consistentAt, ...written, engineInfo: { ...written.engineInfo, identity: this.identity }, at: cursorToPosition(this.cursor) };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async poll(maxBytes: number): Promise<number> {
    if ((await this.fileIdentity()) !== this.identity) throw this.replaced('its file was replaced');
    if (this.wal && (await this.walMoved())) throw this.replaced('its write-ahead log was deleted and created anew (by a connection that believed it was the last one)');
    if (this.waitingBytes < maxBytes) await this.readTail(true, maxBytes - this.waitingBytes);
    return this.waitingBytes;
  }

  take(from: LogPosition, maxBytes: number): LogBatch | null {
    const taken = oldestCommits(this.waiting, maxBytes);
    return taken ? { from, to: cursorToPosition(taken.last.end), commits: taken.commits, bytes: taken.bytes } : null;
  }


  async release(position: LogPosition): Promise<void> {
    const key = JSON.stringify(position);
    const i = this.waiting.findIndex((w) => JSON.stringify(cursorToPosition(w.end)) === key);
    if (i >= 0) {
      for (const w of this.waiting.splice(0, i + 1)) this.waitingBytes -= w.commit.payload.length;
    }
    if (this.header && this.cursor.frame * (24 + this.header.pageSize) >= this.options.checkpointBytes) await this.checkpoint();
  }

  async close(): Promise<void> {
    for (const db of [...this.readers, ...(this.ctl ? [this.ctl] : [])]) {
      try {
        if (db.inTransaction) db.exec('ROLLBACK');
      } catch {
        // closing anyway
      }
      db.close();
    }
    this.readers = [];
    this.ctl = undefined;
    await this.wal?.close().catch(() => undefined);
    this.wal = undefined;
  }

  /**
   * PASSIVE checkpoint, then (writers held off for the remainder) let the log start over. Commits
   * read but not yet shipped are in memory already: the log need not keep them (only a crash
   * before they ship then costs a resume: the next run starts a new generation). See the class comment.
   */
  private async checkpoint(): Promise<void> {
    await this.pin(true);
    this.ctl!.pragma('wal_checkpoint(PASSIVE)');
    await this.underWriteLock(async () => {
      await this.readTail(true);
      for (const r of this.readers) if (r.inTransaction) r.exec('COMMIT');
      // ctl holds the write lock in a transaction, so the checkpoint runs on an idle reader.
      this.readers[this.active]!.pragma('wal_checkpoint(PASSIVE)');
      await this.pin(true);
    }).catch(async (err: unknown) => {
      if (!this.readers[this.active]!.inTransaction) await this.pin(true);
      // A long write held the lock: the log keeps growing until a later release tries again.
      if (!String((err as { code?: unknown }).code).startsWith('SQLITE_BUSY')) throw err;
    });
  }

  /** Runs `work` while an empty BEGIN IMMEDIATE keeps writers out (nothing is written; it rolls back). */
  private async underWriteLock<T>(work: () => Promise<T>): Promise<T> {
    this.ctl!.exec('BEGIN IMMEDIATE');
    try {
      return await work();
    } finally {
      this.ctl!.exec('ROLLBACK');
    }
  }

  /**
   * Begins a read transaction on the idle reader, reads the log to its last commit (`keep` as in
   * readTail), then ends the other reader's: the log is never unpinned, and a log that may restart
   * once the old reader ends has been read to its end first (see the class comment).
   */
  private async pin(keep: boolean): Promise<void> {
    const next = this.readers.length > 1 && this.readers[this.active]!.inTransaction ? 1 - this.active : this.active;
    const db = this.readers[next]!;
    db.exec('BEGIN');
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    await this.readTail(keep);
    if (next !== this.active) {
      const old = this.readers[this.active]!;
      this.active = next;
      if (old.inTransaction) old.exec('COMMIT');
    }
  }

  /**
   * Reads the commits after the cursor; `keep` stores them (timed now) for take(), else they are
   * skipped (a snapshot covers them). A restart of the log continues the cursor at its start.
   */
  private async readTail(keep: boolean, maxBytes = Number.POSITIVE_INFINITY): Promise<void> {
    if (!this.wal) {
      this.wal = await open(`${this.path}-wal`, 'r').catch(() => undefined);
      if (!this.wal) return;
    }
    const header = await readWalHeader(this.wal);
    if (!header) return;
    const h = this.header;
    if (!h || header.salt1 !== h.salt1 || header.salt2 !== h.salt2) {
      // A restart sets salt-1 to one more than before (from the shared WAL index); the checkpoint
      // sequence is each connection's own count and says nothing across processes.
      const restarted = h !== undefined && header.salt1 === ((h.salt1 + 1) >>> 0);
      if (h !== undefined && !restarted) throw this.replaced('its write-ahead log was rewritten by another program');
      this.header = header;
      this.cursor = cursorAtStart(header);
    }
    const pageSize = header.pageSize;
    this.cursor = await readCommits(
      this.wal,
      header,
      this.cursor,
      (commit, end) => {
        if (!keep) return;
        this.lastTime = Math.max(Date.now(), this.lastTime);
        const payload = encodeCommit(pageSize, commit);
        this.waiting.push({ commit: { time: this.lastTime, payload }, end });
        this.waitingBytes += payload.length;
      },
      maxBytes,
    );
  }

  /** True when the -wal path no longer names the file this capture reads. */
  private async walMoved(): Promise<boolean> {
    const [held, named] = await Promise.all([this.wal!.stat(), stat(`${this.path}-wal`).catch(() => undefined)]);
    return named !== undefined && (named.ino !== held.ino || named.dev !== held.dev);
  }

  private async fileIdentity(): Promise<string> {
    const s = await stat(this.path).catch(() => undefined);
    return s ? `${s.dev}:${s.ino}` : 'missing';
  }

  private replaced(why: string): DbBackupError {
    return new DbBackupError('E_CHAIN_BROKEN', `${this.path} cannot be followed on: ${why}; a new generation starts with a snapshot.`, { details: { reason: 'replaced' } });
  }
}
