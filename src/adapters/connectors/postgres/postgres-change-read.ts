import { Readable } from 'node:stream';
import type pg from 'pg';
import type { ChangeBatch, LogPosition } from '../../../application/ports/change-capture.js';
import type { PartSink } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import { type PgEndpoint, quoteIdent } from './connection.js';
import { type SequenceValue, headerLine } from './postgres-change-log.js';
import { type EndSnapshot, endSnapshot, schemaFingerprint, serverTime, tableImageLines, unpublishedTables } from './postgres-change-tables.js';
import { ddlCaptureActive } from './postgres-ddl-capture.js';
import { largeObjectsDigest, largeObjectsWarning } from './postgres-large-objects.js';
import { type SlotState, catchUpRestart, isoToMicros, lsnToBigInt, lsnToString, openReplication, slotState } from './postgres-replication.js';
import { type ReadState, partName, streamRecords } from './postgres-slot-records.js';
import type { SlotStream } from './postgres-slot-stream.js';
import { SessionClient } from './postgres-session-client.js';

/** Where a capture stands: the slot and publication a full created, and an LSN with the time it was reached. */
export interface CapturePosition {
  slot: string;
  publication: string;
  lsn: string;
  time?: string;
  /** The tables' fingerprint at `lsn` (schemaFingerprint); absent in positions of older versions. */
  schema?: string;
  /** The full captured DDL (--capture-ddl): the change log holds the DDL log's rows, so a schema change is followed. */
  ddl?: boolean;
  /** The large objects' digest at the chain's full (largeObjectsDigest), carried along unchanged. */
  largeObjects?: string;
}

/** Validates a LogPosition this connector wrote (the manifest is authenticated, but say clearly what is wrong). */
export function capturePosition(p: LogPosition | null | undefined, what: string): CapturePosition {
  const ok = p && typeof p.slot === 'string' && typeof p.publication === 'string' && typeof p.lsn === 'string' && /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i.test(p.lsn);
  if (!ok) {
    throw new DbBackupError('E_UNSUPPORTED', `The ${what} has no change-capture position (slot, publication, lsn): take a full backup with --capture changes first.`);
  }
  return {
    slot: p.slot as string,
    publication: p.publication as string,
    lsn: p.lsn as string,
    ...(typeof p.time === 'string' ? { time: p.time } : {}),
    ...(typeof p.schema === 'string' ? { schema: p.schema } : {}),
    ...(p.ddl === true ? { ddl: true } : {}),
    ...(typeof p.largeObjects === 'string' ? { largeObjects: p.largeObjects } : {}),
  };
}

/**
 * Reads the slot from `since` up to the WAL inserted when the call starts (not the flushed WAL: a
 * commit made with synchronous_commit = off is visible before its WAL is flushed, and the WAL
 * writer flushes it within a moment), writing change-log parts of about `partSize` bytes into
 * `sink`: the slot's pgoutput messages as they came (format 2, postgres-slot-records.ts), then
 * the whole tables and the sequences as JSON lines (format 1, postgres-change-log.ts). Tables the publication leaves
 * out are read whole at the end (postgres-change-tables.ts), and the read then ends at the
 * snapshot they were read in. Nothing is confirmed to the server: the slot keeps every change
 * until confirm(), after the manifest is stored everywhere. With `keep`, a read that ends well
 * hands its replication stream on, held open, with the slot and the LSN the batch ends at: the
 * caller confirms the slot over it once the batch is stored everywhere (SlotStream.confirmAndEnd),
 * or ends it.
 */
export async function readChanges(endpoint: PgEndpoint, sinceRaw: LogPosition, sink: PartSink, signal: AbortSignal, partSize: number, client = new SessionClient(endpoint, false), keep?: KeepStream): Promise<ChangeBatch> {
  const since = capturePosition(sinceRaw, "parent backup's log position");
  return client.use((sql) => readWith(endpoint, sql, since, sink, signal, partSize, keep));
}

/** Takes a read's replication stream, held open, for a confirmation over it (see readChanges). */
export type KeepStream = (stream: SlotStream, slot: string, lsn: bigint) => void;

async function readWith(endpoint: PgEndpoint, sql: pg.Client, since: CapturePosition, sink: PartSink, signal: AbortSignal, partSize: number, keep?: KeepStream): Promise<ChangeBatch> {
  let end: EndSnapshot | undefined;
  const held: { stream?: SlotStream } | undefined = keep ? {} : undefined;
  let kept = false;
  // The stream's connection is opened while the checks run (its errors surface where it is used).
  const replication = openReplication(endpoint);
  replication.catch(() => undefined);
  try {
    const slot = await checkSlot(sql, since);
    // While the checks below run, the slot's restart point catches up on the replication connection
    // (before START_REPLICATION; a connection that failed to open fails the read where it is used).
    const caughtUp = replication.then((c) => catchUpRestart(c, since.slot, slot.confirmedFlush, slot.restartLsn), () => false);
    // With DDL captured (and its trigger still firing) a schema change is in the log: only record the new shape.
    const followsDdl = since.ddl === true && (await ddlCaptureActive(sql));
    const schema = await checkSchema(sql, followsDdl ? undefined : since.schema);
    const whole = await unpublishedTables(sql, since.publication);
    end = whole.length > 0 ? await endSnapshot(endpoint, sql) : undefined;
    const now = end ?? (await currentPoint(sql));
    await flushPast(sql);
    const start = lsnToBigInt(since.lsn);
    const state: ReadState = { changes: 0, objects: new Map(), reached: start };
    const stop = lsnToBigInt(now.lsn);
    if (stop > start) await caughtUp;
    let parts = stop > start ? await streamRecords(await replication, since.slot, since.publication, stop, state, sink, partSize, signal, 0, held) : 0;
    if (end) {
      const image = tableImageLines(endpoint, end, whole, (rel, rows) => count(state, rel, rows));
      await sink.write({ name: `changes/${partName(parts++)}.jsonl`, role: 'changes' }, Readable.from(prepend(headerLine(), image)));
    }
    const endSchema = await checkSchema(sql, followsDdl ? undefined : schema, ' while the changes were read');
    const largeObjectsChanged = since.largeObjects !== undefined && (await largeObjectsDigest(sql)) !== since.largeObjects;
    const last = headerLine() + sequencesLine(await sequenceValues(sql));
    await sink.write({ name: `changes/${partName(parts)}.jsonl`, role: 'changes' }, Readable.from([Buffer.from(last)]));
    const batch: ChangeBatch = {
      from: { ...since },
      to: { slot: since.slot, publication: since.publication, lsn: lsnToString(state.reached), time: now.time, schema: endSchema, ...(since.ddl ? { ddl: true } : {}), ...(since.largeObjects !== undefined ? { largeObjects: since.largeObjects } : {}) },
      // Rounded up to the millisecond, so that a restore to this instant includes the batch's end.
      consistentAt: new Date(Number((isoToMicros(now.time) + 999n) / 1000n)),
      changes: state.changes,
      objects: [...state.objects.keys()].sort().map((name) => ({ name, type: 'table' })),
      warnings: [
        ...(since.ddl && !followsDdl ? ['The DDL capture trigger dbbackup_ddl is missing or disabled: schema changes are no longer followed (a later one fails the incremental with E_SCHEMA_CHANGED).'] : []),
        ...(largeObjectsChanged ? [largeObjectsWarning()] : []),
        ...(whole.length
          ? [`${whole.map((r) => `${r[0]}.${r[1]}`).join(', ')} ${whole.length > 1 ? 'have' : 'has'} no primary key or replica identity: read whole at this backup's end, so a restore to an instant before that end has ${whole.length > 1 ? 'them' : 'it'} as of the parent backup.`]
          : []),
      ],
      serverVersion: ((await sql.query(`SELECT current_setting('server_version') AS v`)).rows[0] as { v: string }).v,
      engineInfo: { database: endpoint.database, capture: { slot: since.slot, publication: since.publication }, wholeTables: whole.map((r) => `${r[0]}.${r[1]}`) },
    };
    if (held?.stream) {
      keep!(held.stream, since.slot, state.reached);
      kept = true;
    }
    return batch;
  } finally {
    await end?.client.end().catch(() => undefined);
    if (!kept) {
      held?.stream?.stop();
      await replication.then((c) => c.end(), () => undefined).catch(() => undefined);
    }
  }
}

/**
 * Makes the server flush its WAL past the read's stop point: the WAL sender decodes only flushed
 * WAL, and a commit made with synchronous_commit = off may wait for the WAL writer for seconds
 * (long enough for the stream to look idle and end before it). A synchronous commit of an empty
 * logical message flushes everything before it; pgoutput (without `messages`) sends nothing for
 * it. When it is refused the read goes on, relying on the WAL writer as before.
 */
async function flushPast(sql: pg.Client): Promise<void> {
  try {
    // One round trip (the simple protocol runs the statements in order and stops at an error).
    await sql.query(`BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_catalog.pg_logical_emit_message(true, 'dbbackup', ''); COMMIT`);
  } catch {
    await sql.query('ROLLBACK').catch(() => undefined);
  }
}

async function currentPoint(sql: pg.Client): Promise<{ lsn: string; time: string }> {
  const lsn = ((await sql.query('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0] as { lsn: string }).lsn;
  return { lsn, time: await serverTime(sql) };
}

async function* prepend(first: string, rest: AsyncIterable<string>): AsyncGenerator<Buffer> {
  yield Buffer.from(first);
  for await (const s of rest) yield Buffer.from(s);
}

/**
 * The slot exists, is valid, is free, and has not been confirmed past `since` (so no change since is
 * gone). A slot that is gone, invalidated or confirmed past the parent ends the chain: E_SLOT_LOST.
 */
async function checkSlot(sql: pg.Client, since: CapturePosition): Promise<SlotState> {
  const state = await slotState(sql, since.slot);
  const lost = (why: string) => new DbBackupError('E_SLOT_LOST', `${why} ${TAKE_FULL}`, { details: { slot: since.slot, reason: 'slot-lost' } });
  if (!state) throw lost(`The replication slot ${since.slot} of the parent backup no longer exists, so the changes since it are gone: the chain ends here.`);
  if (state.walStatus === 'lost') {
    throw lost(
      `The server invalidated the replication slot ${since.slot} (wal_status = lost: it kept more WAL than max_slot_wal_keep_size allows), so the changes since the parent are gone and the chain ends here; drop the slot (dbbackup slot drop SOURCE).`,
    );
  }
  if (state.active) throw new DbBackupError('E_BACKUP_FAILED', `The replication slot ${since.slot} is in use by another connection (another backup of this source running?); try again when it ends.`);
  if (state.confirmedFlush && lsnToBigInt(state.confirmedFlush) > lsnToBigInt(since.lsn)) {
    throw lost(`The replication slot ${since.slot} was confirmed up to ${state.confirmedFlush}, past the parent's end ${since.lsn}: the changes in between are gone from the server.`);
  }
  return state;
}

const TAKE_FULL = 'Take a full backup instead (`--type full`), or pass `--auto-full` to take a full whenever the chain cannot go on.';

/**
 * The tables' fingerprint now, after checking it is `expected` (when known): logical decoding
 * carries no DDL, so changes after a schema change would not apply to the parent's tables.
 */
async function checkSchema(sql: pg.Client, expected: string | undefined, when = ' since the parent backup'): Promise<string> {
  const now = await schemaFingerprint(sql);
  if (expected !== undefined && now !== expected) {
    throw new DbBackupError(
      'E_SCHEMA_CHANGED',
      `The tables of the database changed shape${when} (a table or column was created, altered or dropped): the change log carries no DDL, so this backup cannot follow its parent (a full with --capture-ddl records DDL so that later incrementals can). ${TAKE_FULL}`,
      { details: { reason: 'schema-changed' } },
    );
  }
  return now;
}

function count(state: ReadState, rel: [string, string], n: number): void {
  state.changes += n;
  const name = `${rel[0]}.${rel[1]}`;
  state.objects.set(name, (state.objects.get(name) ?? 0) + n);
}

function sequencesLine(values: SequenceValue[]): string {
  return `${JSON.stringify({ sequences: values })}\n`;
}

/** Every readable sequence's value now (sequences are not transactional, so "now" is the best there is). */
export async function sequenceValues(sql: pg.Client): Promise<SequenceValue[]> {
  const seqs = (
    await sql.query(`SELECT n.nspname AS schema, c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_temp\\_%'
      AND CASE WHEN c.relkind = 'S' THEN pg_catalog.has_sequence_privilege(c.oid, 'SELECT') END ORDER BY 1, 2`)
  ).rows as { schema: string; name: string }[];
  const out: SequenceValue[] = [];
  for (let i = 0; i < seqs.length; i += 200) {
    const batch = seqs.slice(i, i + 200);
    const text = batch.map((s, j) => `SELECT ${j} AS j, last_value::text AS v, is_called FROM ${quoteIdent(s.schema)}.${quoteIdent(s.name)}`).join(' UNION ALL ');
    for (const row of (await sql.query(text)).rows as { j: number; v: string; is_called: boolean }[]) {
      const s = batch[row.j]!;
      out.push([s.schema, s.name, row.v, row.is_called]);
    }
  }
  return out;
}
