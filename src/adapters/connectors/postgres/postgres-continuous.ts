import type pg from 'pg';
import type { LogPosition } from '../../../application/ports/change-capture.js';
import type { ContinuousCapture, FollowStart, LogBatch } from '../../../application/ports/continuous-capture.js';
import type { DumpRequest, DumpResult } from '../../../application/ports/dump.js';
import type { PartSink } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import { type PgEndpoint, openClient } from './connection.js';
import { type CapturePosition, capturePosition, sequenceValues } from './postgres-change-read.js';
import { schemaFingerprint } from './postgres-change-tables.js';
import { trimDdlLog } from './postgres-ddl-capture.js';
import { type CaptureConsent, dumpWithCapture, keylessRefusal, unfollowedTables } from './postgres-changes.js';
import type { DumpOptions } from './postgres-dump.js';
import { SlotFollower } from './postgres-continuous-reader.js';
import type { Relation } from './postgres-pgoutput.js';
import { lsnToBigInt, lsnToString, openReplication, slotState } from './postgres-replication.js';

/** How often the tables' shape is compared with the generation's while nothing else calls for it (ms). */
const SCHEMA_CHECK_MS = 5000;
/** How often, with --capture-ddl, the DDL log is trimmed of what every capture slot consumed (ms). */
const DDL_TRIM_MS = 10_000;

/**
 * Continuous capture of a PostgreSQL database (what `replicate` ships): the logical slot of a full
 * with capture (postgres-changes.ts, EXPORT_SNAPSHOT) streamed without end (START_REPLICATION).
 * Each source transaction becomes one commit of a log segment whose payload is its pgoutput records
 * in change-log format 2, as an incremental's parts hold them (SlotFollower, PgoRecorder: begin,
 * changes, commit, the commit time with microseconds), so a segment restores through the same
 * apply path as an incremental (postgres-stream-segment.ts, which also reads the format 1 segments
 * of older versions).
 *
 * Acknowledgements: the slot is confirmed (the standby status update's flush LSN) only by
 * release(), the end of a segment listed in every target, always a commit's end; and, when
 * nothing waits to be shipped and no transaction is half read, at an idle keepalive's WAL end, so
 * an idle source (or one writing only to tables outside the publication) retains no WAL. Resuming
 * asks for the last shipped commit's end: the server skips every transaction committed before it
 * (a crash between a segment's listing and its acknowledgement repeats nothing).
 *
 * Sequences (logical decoding carries none) are read after each poll that brought commits, and
 * appended to the last of them: a restore sets them to values at least those of that commit.
 * A table's shape changing under the stream (a relation message with other columns, without
 * --capture-ddl) ends the generation: E_CHAIN_BROKEN, and replicate starts a new one.
 */
export class PostgresContinuousCapture implements ContinuousCapture {
  private sql?: pg.Client;
  private follower?: SlotFollower;
  private position?: CapturePosition;
  private identity = '';
  private failure?: Error;
  /** Set when the generation cannot go on (its slot is then dropped at close). */
  private broken = false;
  /** The tables' shapes the stream described (checkShape). */
  private shapes = new Map<number, string>();
  private schemaCheckedAt = 0;
  private trimmedAt = Date.now();
  /** An older generation's slot, dropped once the new generation's snapshot is listed (the first poll after it). */
  private retire?: string;

  constructor(
    private readonly endpoint: PgEndpoint,
    private readonly source: string,
    private readonly dumpOptions: DumpOptions,
    private readonly consent: CaptureConsent,
  ) {}

  async start(resumeFrom: LogPosition | undefined, identity: string | undefined): Promise<FollowStart> {
    this.sql = await openClient(this.endpoint);
    this.identity = await this.systemIdentity();
    const started = await this.resume(resumeFrom, identity);
    if (!started.resumable && !this.consent.replicaIdentityFull) {
      // A snapshot follows: refused up front, before it creates anything, when a table cannot be followed.
      const left = await unfollowedTables(this.sql);
      if (left.length) throw keylessRefusal(left, false);
    }
    return started;
  }

  /** Follows the generation from `resumeFrom` when its slot still can; else says why not. */
  private async resume(resumeFrom: LogPosition | undefined, identity: string | undefined): Promise<FollowStart> {
    const sql = this.sql!;
    if (resumeFrom === undefined) return { identity: this.identity, resumable: false };
    if (identity !== this.identity) return { identity: this.identity, resumable: false, reason: 'the database is another one than the generation’s (another cluster, or dropped and created anew)' };
    const p = capturePosition(resumeFrom, 'last segment shipped');
    const state = await slotState(sql, p.slot);
    if (!state) return { identity: this.identity, resumable: false, reason: `the generation's replication slot ${p.slot} no longer exists` };
    if (!p.ddl && p.schema !== undefined && (await schemaFingerprint(sql)) !== p.schema) {
      // Tables changed shape while replicate was not running: the slot's changes may not apply to the generation's tables.
      if (!state.active) this.retire = p.slot;
      return { identity: this.identity, resumable: false, reason: 'the tables changed shape while replicate was not running (logical decoding carries no DDL)' };
    }
    if (state.walStatus === 'lost') {
      // The server invalidated it (max_slot_wal_keep_size): useless, and the chain ends; a new generation starts.
      await dropWhenFree(sql, p.slot);
      return { identity: this.identity, resumable: false, reason: `the server invalidated the replication slot ${p.slot} (wal_status = lost: it kept more WAL than max_slot_wal_keep_size allows), so the changes since the last segment are gone` };
    }
    if (state.active) {
      throw new DbBackupError('E_BACKUP_FAILED', `The replication slot ${p.slot} is in use by another connection (is another replicate of this source running?); stop it first.`, {
        details: { slot: p.slot },
      });
    }
    await this.follow(p);
    return { identity: this.identity, resumable: true };
  }

  async snapshot(sink: PartSink, signal: AbortSignal, hooks: Pick<DumpRequest, 'beforeSlot'> = {}): Promise<DumpResult & { at: LogPosition }> {
    await this.stop();
    // Every table must be followed (E_KEYLESS_TABLES otherwise): nothing re-reads a table between segments.
    const result = await dumpWithCapture(this.endpoint, { kind: 'full', parallel: 2, source: this.source, ...hooks }, this.source, sink, signal, this.dumpOptions, { ...this.consent, everyTable: true });
    const at = result.logPosition!;
    await this.follow(capturePosition(at, 'snapshot'));
    return { ...result, engineInfo: { ...result.engineInfo, identity: this.identity }, at };
  }

  async poll(maxBytes: number): Promise<number> {
    this.failure ??= this.follower?.failure;
    if (this.failure) throw this.failure;
    if (this.retire) {
      const slot = this.retire;
      this.retire = undefined;
      await dropWhenFree(this.sql!, slot);
    }
    await this.watchSchema();
    if (this.failure) throw this.failure;
    if (this.position?.ddl && Date.now() - this.trimmedAt >= DDL_TRIM_MS) {
      this.trimmedAt = Date.now();
      // Best effort (the next try is DDL_TRIM_MS later); its DELETE reaches the stream like any change.
      await trimDdlLog(this.sql!).catch(() => 0);
    }
    const f = this.follower;
    if (!f) return 0;
    f.limit = Math.max(1, maxBytes);
    f.flow();
    // Read after the commits arrived: at least their values (sequences are not transactional).
    if (f.fresh && f.waitingBytes > 0) {
      const to = f.sequencesFor();
      f.appendSequences(to, await sequenceValues(this.sql!));
    }
    return f.waitingBytes;
  }

  take(from: LogPosition, maxBytes: number): LogBatch | null {
    const taken = this.follower?.take(maxBytes);
    return taken ? { from, to: this.positionAt(taken.end), commits: taken.commits, bytes: taken.bytes } : null;
  }

  async release(position: LogPosition): Promise<void> {
    this.follower?.release(lsnToBigInt(capturePosition(position, 'released position').lsn));
  }

  async close(): Promise<void> {
    await this.stop();
    if (this.broken && this.position && this.sql) {
      // The generation ended (its tables changed shape): its slot would only keep WAL.
      await dropWhenFree(this.sql, this.position.slot);
    }
    await this.sql?.end().catch(() => undefined);
    this.sql = undefined;
  }

  /** `${system identifier}:${database oid}`: another cluster, or the database dropped and created anew, is another source. */
  private async systemIdentity(): Promise<string> {
    const repl = await openReplication(this.endpoint);
    try {
      const id = (await repl.query('IDENTIFY_SYSTEM')).rows[0] as { systemid: string };
      const oid = ((await this.sql!.query('SELECT oid::text AS oid FROM pg_catalog.pg_database WHERE datname = current_database()')).rows[0] as { oid: string }).oid;
      return `${id.systemid}:${oid}`;
    } finally {
      await repl.end().catch(() => undefined);
    }
  }

  private positionAt(lsn: bigint): LogPosition {
    const p = this.position!;
    return { slot: p.slot, publication: p.publication, lsn: lsnToString(lsn), ...(p.schema !== undefined ? { schema: p.schema } : {}), ...(p.ddl ? { ddl: true } : {}) };
  }

  /**
   * Logical decoding carries no DDL, and a table created later is not in the publication: the
   * tables' fingerprint is compared with the generation's (its snapshot's) whenever the stream
   * brought a relation message (the pump waits there, so no change of a new shape is queued), and
   * every SCHEMA_CHECK_MS. A difference ends the generation (E_CHAIN_BROKEN): what waits is shipped,
   * then a new snapshot starts one. With --capture-ddl the DDL replays in order: no check.
   */
  private async watchSchema(): Promise<void> {
    const p = this.position;
    if (!p || !this.sql) return;
    if (p.ddl) return this.watchFollowed();
    // A position of an older version has no fingerprint: nothing to compare with.
    if (p.schema === undefined) return this.follower?.checked();
    const checking = this.follower?.checking;
    if (checking === undefined && Date.now() - this.schemaCheckedAt < SCHEMA_CHECK_MS) return;
    this.schemaCheckedAt = Date.now();
    if ((await schemaFingerprint(this.sql)) !== p.schema) {
      this.broken = true;
      this.failure = new DbBackupError(
        'E_CHAIN_BROKEN',
        'The tables of the database changed shape (a table or column was created, altered or dropped; logical decoding does not carry DDL): a new generation starts with a snapshot (capture-ddl in the source’s options follows schema changes).',
        { details: { reason: 'schema-changed' } },
      );
      return;
    }
    if (checking !== undefined) this.follower?.checked(checking);
  }

  /**
   * With --capture-ddl the DDL replays in order, but a table created (or that lost its primary key)
   * without a replica identity is not in the publication, so its rows would be missing from every
   * instant: checked every SCHEMA_CHECK_MS, such a table ends the generation (E_CHAIN_BROKEN), and
   * the next snapshot either gives it REPLICA IDENTITY FULL (--replica-identity-full) or refuses it
   * (E_KEYLESS_TABLES). Its rows of the few seconds before are in that snapshot, not in this generation.
   */
  private async watchFollowed(): Promise<void> {
    if (Date.now() - this.schemaCheckedAt < SCHEMA_CHECK_MS) return;
    this.schemaCheckedAt = Date.now();
    const left = await unfollowedTables(this.sql!);
    if (left.length === 0) return;
    this.broken = true;
    this.failure = new DbBackupError(
      'E_CHAIN_BROKEN',
      `${left.join(', ')} ${left.length > 1 ? 'have' : 'has'} no primary key or replica identity, so the stream cannot follow ${left.length > 1 ? 'them' : 'it'}: a new generation starts with a snapshot.`,
      { details: { reason: 'keyless-table', tables: left } },
    );
  }

  /** Starts streaming the slot from `p.lsn` (the server skips the transactions committed before it). */
  private async follow(p: CapturePosition): Promise<void> {
    this.position = p;
    this.shapes = new Map();
    this.follower = new SlotFollower(await openReplication(this.endpoint), p, {
      followsDdl: p.ddl === true,
      described: (r) => this.checkShape(r),
      failed: (err) => this.failed(err),
    });
  }

  private async stop(): Promise<void> {
    const follower = this.follower;
    this.follower = undefined;
    await follower?.stop();
  }

  /** A table's columns changing under the stream ends the generation, unless DDL is captured (it then replays in order). */
  private checkShape(r: Relation): void {
    const shape = JSON.stringify([r.schema, r.table, r.columns.map((c) => [c.name, c.typeOid])]);
    const before = this.shapes.get(r.id);
    this.shapes.set(r.id, shape);
    if (before === undefined || before === shape || this.position?.ddl) return;
    this.broken = true;
    throw new DbBackupError(
      'E_CHAIN_BROKEN',
      `The table ${r.schema}.${r.table} changed shape (DDL, which logical decoding does not carry): a new generation starts with a snapshot (capture-ddl in the source's options follows schema changes).`,
      { details: { reason: 'schema-changed' } },
    );
  }

  private failed(err: unknown): Error {
    if (err instanceof DbBackupError) return err;
    const message = (err as Error)?.message ?? String(err);
    if (/can no longer get changes|has been invalidated|does not exist/i.test(message)) {
      this.broken = true;
      return new DbBackupError('E_CHAIN_BROKEN', `The replication slot ${this.position?.slot} can no longer be followed (${message}); a new generation starts with a snapshot.`, {
        details: { reason: 'slot-lost' },
        cause: err,
      });
    }
    return new DbBackupError('E_BACKUP_FAILED', `Streaming the replication slot failed: ${message}`, { cause: err });
  }
}

/**
 * Drops a slot of this capture's that nothing will follow again, waiting up to 10 s for the server
 * to see our own stream gone (a walsender outlives its connection briefly); best effort: a slot
 * still in use then stays (`dbbackup slot drop SOURCE` lists and drops it).
 */
async function dropWhenFree(sql: pg.Client, slot: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const state = await slotState(sql, slot).catch(() => undefined);
    if (!state) return;
    if (!state.active) {
      await sql.query('SELECT pg_catalog.pg_drop_replication_slot($1)', [slot]).catch(() => undefined);
      if (!(await slotState(sql, slot).catch(() => undefined))) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
