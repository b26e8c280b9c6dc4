import type pg from 'pg';
import type { ChangeBatch, ChangeCapture, ChangeLimit, LogPosition, StoredChain } from '../../../application/ports/change-capture.js';
import type { DumpRequest, DumpResult } from '../../../application/ports/dump.js';
import type { PartSink, PartSource } from '../../../application/ports/parts.js';
import type { RestoreOutcome } from '../../../application/ports/restore-plan.js';
import { DbBackupError } from '../../../domain/errors.js';
import { type PgEndpoint, openClient, quoteIdent } from './connection.js';
import { applyChanges } from './postgres-change-apply.js';
import { capturePosition, readChanges } from './postgres-change-read.js';
import { readDifferential } from './postgres-differential.js';
import { type DumpOptions, dumpDatabase } from './postgres-dump.js';
import { schemaFingerprint, snapshotFingerprint } from './postgres-change-tables.js';
import { type CreatedSlot, confirmSlot, createSlot, dropSlot, lsnToBigInt, openReplication, slotState, waitSlotFree } from './postgres-replication.js';
import type { SlotStream } from './postgres-slot-stream.js';
import { captureNames, requireCapture } from './postgres-slots.js';
import { installDdlCapture, trimDdlLog } from './postgres-ddl-capture.js';
import { SessionClient } from './postgres-session-client.js';

export { captureNames };

/**
 * Change capture for PostgreSQL by logical decoding (pgoutput): a full backup with `capture:
 * changes` creates a publication and a logical slot and dumps in the slot's exported snapshot, so
 * the slot's changes start exactly where the full ends; readChanges streams them into change-log
 * parts; applyChanges replays them. The slot keeps the server's WAL until confirm() (after the
 * manifest is complete in every target); retire() drops the slot of a full a newer one replaced.
 */

/** True when the connection target asks for change capture (`--capture changes`, `capture: changes`). */
export function wantsCapture(options: Record<string, unknown> | undefined): boolean {
  const v = options?.capture;
  if (v === undefined || v === null || v === '' || v === 'none') return false;
  if (v !== 'changes') throw new DbBackupError('E_USAGE', `--capture takes "changes" (or "none"); got "${String(v)}".`);
  return true;
}

/**
 * A full backup whose snapshot is a new logical slot's: checks the server's settings, brings the
 * publication up to date, creates the slot (it waits for the transactions running now to end), and
 * dumps in its snapshot. A failed dump drops the new slot; the previous full's slot stays until
 * retire(). logPosition: { slot, publication, lsn (the slot's consistent point), time, schema
 * (the tables' fingerprint in that snapshot, see schemaFingerprint) }.
 */
/** What the user consented to change on the source for capture (each its own flag). */
export interface CaptureConsent {
  /** --capture-ddl: install the DDL log and its event trigger (postgres-ddl-capture.ts). */
  captureDdl?: boolean;
  /** --replica-identity-full: give tables without a primary key REPLICA IDENTITY FULL, so their changes are captured. */
  replicaIdentityFull?: boolean;
  /**
   * replicate: every table must be followed by decoding (nothing re-reads a table whole between
   * segments), so a table still without a replica identity is refused (E_KEYLESS_TABLES) before
   * the publication or a slot is touched.
   */
  everyTable?: boolean;
}

/** Reads the consent flags of a connection target's options. */
export function captureConsent(options: Record<string, unknown> | undefined): CaptureConsent {
  return { captureDdl: options?.captureDdl === true, replicaIdentityFull: options?.replicaIdentityFull === true };
}

export async function dumpWithCapture(endpoint: PgEndpoint, request: DumpRequest, source: string, sink: PartSink, signal: AbortSignal, options: DumpOptions, consent: CaptureConsent = {}): Promise<DumpResult> {
  const names = captureNames(source);
  const sql = await openClient(endpoint);
  let repl: pg.Client | undefined;
  let slot: string | undefined;
  try {
    const advice = await requireCapture(sql, endpoint.user);
    if (consent.captureDdl) await installDdlCapture(sql);
    if (consent.replicaIdentityFull) advice.push(...(await replicaIdentityFull(sql)));
    if (consent.everyTable) {
      const left = await unfollowedTables(sql);
      if (left.length) throw keylessRefusal(left, consent.replicaIdentityFull === true);
    }
    const published = await syncPublication(sql, names.publication);
    repl = await openReplication(endpoint);
    const name = `${names.slotPrefix}${Date.now().toString(36)}`;
    // Recorded before it exists: a run killed from here on leaves a slot the next run can tell as its own.
    await request.beforeSlot?.(name);
    slot = name;
    const created = await createSlotTelling(repl, slot, request.status);
    const { schema, largeObjects } = await snapshotFingerprint(endpoint, created.snapshotName);
    const result = await dumpDatabase(endpoint, request, sink, signal, options, { id: created.snapshotName, lsn: created.consistentPoint });
    const warnings = [...result.warnings, ...advice, ...published.unpublished.map(unpublishedWarning)];
    const logPosition = { slot, publication: names.publication, lsn: created.consistentPoint, time: result.consistentAt.toISOString(), schema, largeObjects, ...(consent.captureDdl ? { ddl: true } : {}) };
    slot = undefined;
    return { ...result, logPosition, warnings, engineInfo: { ...result.engineInfo, capture: { slot: logPosition.slot, publication: names.publication, published: published.published.length, unpublished: published.unpublished, ddl: consent.captureDdl === true } } };
  } finally {
    await repl?.end().catch(() => undefined);
    if (slot) await dropSlot(sql, slot).catch(() => undefined);
    await sql.end().catch(() => undefined);
  }
}

/**
 * Creates the slot, saying meanwhile (on the progress line) that the server waits for the
 * transactions running now to end: a long one (an idle-in-transaction session) holds it up.
 */
async function createSlotTelling(repl: pg.Client, slot: string, status: DumpRequest['status']): Promise<CreatedSlot> {
  status?.('creating the capture slot: waiting for the transactions running now on the server to end');
  try {
    return await createSlot(repl, slot);
  } finally {
    status?.(undefined);
  }
}

/**
 * --replica-identity-full: gives each permanent table without a primary key or replica identity
 * REPLICA IDENTITY FULL (the user consented with the flag), so the publication can take it. Each
 * ALTER waits at most 5 s for its lock and is skipped (left unpublished, read whole) when it cannot
 * get it: a busy application is never held up. Returns what it did, for the manifest's warnings.
 */
async function replicaIdentityFull(sql: pg.Client): Promise<string[]> {
  const tables = (
    await sql.query(`SELECT n.nspname AS schema, c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        AND c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
      ORDER BY 1, 2`)
  ).rows as { schema: string; name: string }[];
  const done: string[] = [];
  const failed: string[] = [];
  for (const t of tables) {
    try {
      await sql.query('BEGIN');
      await sql.query(`SET LOCAL lock_timeout = '5s'`);
      await sql.query(`ALTER TABLE ONLY ${quoteIdent(t.schema)}.${quoteIdent(t.name)} REPLICA IDENTITY FULL`);
      await sql.query('COMMIT');
      done.push(`${t.schema}.${t.name}`);
    } catch (err) {
      await sql.query('ROLLBACK').catch(() => undefined);
      failed.push(`${t.schema}.${t.name} (${(err as Error).message})`);
    }
  }
  return [
    ...(done.length ? [`--replica-identity-full: ${done.join(', ')} now have REPLICA IDENTITY FULL (each UPDATE/DELETE on them writes the whole old row to the WAL), so their every change is captured.`] : []),
    ...(failed.length ? [`--replica-identity-full could not alter ${failed.join('; ')}: left out of the publication and read whole at each incremental.`] : []),
  ];
}

function unpublishedWarning(table: string): string {
  return `${table} has no primary key or replica identity, so its changes cannot be decoded (publishing it would make UPDATE/DELETE on it fail on the server): each incremental backup reads it whole instead, and a restore to a time between two backups has it as of the earlier one. Give it a primary key (or ALTER TABLE … REPLICA IDENTITY FULL) to capture its every change.`;
}

/** The user's permanent tables, each with whether its UPDATE/DELETE can be published (`ok`: a primary key or a usable replica identity). */
async function captureTables(sql: pg.Client): Promise<{ schema: string; name: string; ok: boolean }[]> {
  return (
    await sql.query(`SELECT n.nspname AS schema, c.relname AS name,
        (c.relreplident = 'f' OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))
         OR (c.relreplident = 'i' AND EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisreplident))) AS ok
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      ORDER BY 1, 2`)
  ).rows as { schema: string; name: string; ok: boolean }[];
}

/** The tables logical decoding cannot follow (no primary key nor replica identity), as `schema.name`. */
export async function unfollowedTables(sql: pg.Client): Promise<string[]> {
  return (await captureTables(sql)).filter((t) => !t.ok).map((t) => `${t.schema}.${t.name}`);
}

/**
 * replicate's refusal of tables it cannot follow: a restore --at would have them as of the
 * snapshot, not as of the instant asked for. The fix: a primary key, or --replica-identity-full.
 */
export function keylessRefusal(tables: string[], consented: boolean): DbBackupError {
  const list = tables.join(', ');
  const them = tables.length > 1 ? 'them' : 'it';
  return new DbBackupError(
    'E_KEYLESS_TABLES',
    consented
      ? `replicate cannot follow ${list}: --replica-identity-full could not give ${them} REPLICA IDENTITY FULL (each ALTER waits at most 5 s for its lock, and a table set to REPLICA IDENTITY NOTHING is left as it is). Run replicate again when ${them} ${tables.length > 1 ? 'are' : 'is'} not locked, or give ${them} a primary key.`
      : `replicate cannot follow ${list}: no primary key or replica identity, so logical decoding cannot carry ${tables.length > 1 ? 'their' : 'its'} UPDATEs and DELETEs, and a restore --at would have ${them} as of the snapshot. Give ${them} a primary key, or run replicate with --replica-identity-full (\`replica-identity-full: true\` on the source in the config), which sets REPLICA IDENTITY FULL on ${them} (each UPDATE/DELETE then logs the whole old row). Incremental backups instead read such tables whole at each backup.`,
    { details: { tables } },
  );
}

/**
 * Makes the publication list exactly the tables whose UPDATE/DELETE can be published safely: those
 * with a primary key or a replica identity (FULL, or USING INDEX). A table without one is left out
 * (in a publication its UPDATEs and DELETEs would fail on the server) and reported.
 */
export async function syncPublication(sql: pg.Client, publication: string): Promise<{ published: string[]; unpublished: string[] }> {
  const tables = await captureTables(sql);
  const want = new Map(tables.filter((t) => t.ok).map((t) => [`${quoteIdent(t.schema)}.${quoteIdent(t.name)}`, `${t.schema}.${t.name}`]));
  const exists = (await sql.query('SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1', [publication])).rowCount! > 0;
  try {
    if (!exists) await sql.query(`CREATE PUBLICATION ${quoteIdent(publication)}`);
    const have = new Set(
      ((await sql.query('SELECT schemaname AS schema, tablename AS name FROM pg_catalog.pg_publication_tables WHERE pubname = $1', [publication])).rows as { schema: string; name: string }[]).map(
        (t) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`,
      ),
    );
    const add = [...want.keys()].filter((t) => !have.has(t));
    const drop = [...have].filter((t) => !want.has(t));
    for (let i = 0; i < add.length; i += 200) await sql.query(`ALTER PUBLICATION ${quoteIdent(publication)} ADD TABLE ONLY ${add.slice(i, i + 200).join(', ONLY ')}`);
    for (let i = 0; i < drop.length; i += 200) await sql.query(`ALTER PUBLICATION ${quoteIdent(publication)} DROP TABLE ONLY ${drop.slice(i, i + 200).join(', ONLY ')}`);
  } catch (err) {
    if ((err as { code?: string }).code === '42501') {
      throw new DbBackupError('E_UNSUPPORTED', `Change capture cannot set up the publication ${publication}: ${(err as Error).message}. The backup role must own the tables (or be a superuser) and may create in the database.`, { cause: err });
    }
    throw err;
  }
  return { published: [...want.values()], unpublished: tables.filter((t) => !t.ok).map((t) => `${t.schema}.${t.name}`) };
}

interface Held {
  stream: SlotStream;
  slot: string;
  lsn: bigint;
}

/** Ends a held stream and waits until its slot is free (the next backup finds it so). */
async function endHeld(sql: pg.Client, held: Held): Promise<void> {
  await held.stream.end();
  await waitSlotFree(sql, held.slot);
}

/**
 * ChangeCapture of a PostgreSQL session. Beyond the port's three methods it offers confirm() and
 * retire() (see their contracts), which the backup use-case calls once manifests are stored, and
 * close() (the session's end), which ends a read's stream still held for confirm().
 */
export class PostgresChangeCapture implements ChangeCapture {
  /** The last read's replication stream, held open for confirm() (see readChanges in postgres-change-read.ts). */
  private held: Held | undefined;

  constructor(
    private readonly endpoint: PgEndpoint,
    private readonly partSize: number,
    private readonly source: string,
    /** The session's connection for the short steps (readChanges' checks, confirm, retire). */
    private readonly client = new SessionClient(endpoint, false),
  ) {}

  /**
   * A new capture slot (and the publication, brought up to date) whose changes start now: the
   * position { slot, publication, lsn, time } readChanges continues from. (A full with `capture:
   * changes` makes its own, in its snapshot; this is for a copy taken by other means after it.)
   */
  async position(): Promise<LogPosition> {
    const names = captureNames(this.source);
    const sql = await openClient(this.endpoint);
    let repl: pg.Client | undefined;
    try {
      await requireCapture(sql, this.endpoint.user);
      await syncPublication(sql, names.publication);
      repl = await openReplication(this.endpoint);
      const slot = `${names.slotPrefix}${Date.now().toString(36)}`;
      const created = await createSlot(repl, slot);
      const { schema, largeObjects } = await snapshotFingerprint(this.endpoint, created.snapshotName);
      return { slot, publication: names.publication, lsn: created.consistentPoint, time: new Date().toISOString(), schema, largeObjects };
    } finally {
      await repl?.end().catch(() => undefined);
      await sql.end().catch(() => undefined);
    }
  }

  /**
   * With `links` (a differential after stored incrementals), the net change since the full:
   * postgres-differential.ts. The read's replication stream is kept, held, for confirm().
   */
  async readChanges(since: LogPosition, sink: PartSink, signal: AbortSignal, stored?: StoredChain): Promise<ChangeBatch> {
    await this.close();
    const keep = (stream: SlotStream, slot: string, lsn: bigint) => (this.held = { stream, slot, lsn });
    const links = stored?.links;
    if (links && links.length > 0) return readDifferential(this.endpoint, links, sink, signal, this.partSize, this.client, keep);
    return readChanges(this.endpoint, since, sink, signal, this.partSize, this.client, keep);
  }

  applyChanges(parts: PartSource, until: ChangeLimit | undefined, signal: AbortSignal): Promise<RestoreOutcome> {
    return applyChanges(this.endpoint, parts, until, signal);
  }

  /**
   * Lets the server free the WAL before `position` (a backup's `to`); only once its manifest is
   * complete in every target. A position without a slot (a full without capture) holds nothing.
   * The position this session's read ended at is confirmed over the read's stream, held open
   * since (a status update: nothing is decoded again); any other, or when that fails, with
   * pg_replication_slot_advance (which decodes the WAL up to it once more).
   */
  async confirm(position: LogPosition): Promise<void> {
    if (position.slot === undefined) return;
    const p = capturePosition(position, 'confirmed position');
    const held = this.held;
    this.held = undefined;
    await this.client.use(async (sql) => {
      const lsn = lsnToBigInt(p.lsn);
      const streamed = held?.slot === p.slot && held.lsn === lsn ? await held.stream.confirmAndEnd(sql, p.slot, lsn) : false;
      if (!streamed) {
        if (held) await endHeld(sql, held);
        await confirmSlot(sql, p.slot, p.lsn);
      }
      // Best effort: a log not trimmed now is trimmed at a later confirmation.
      if (p.ddl) await trimDdlLog(sql).catch(() => 0);
    });
  }

  /** Ends a read's stream still held (the backup did not complete everywhere: nothing is confirmed). */
  async close(): Promise<void> {
    const held = this.held;
    this.held = undefined;
    if (held) await this.client.use((sql) => endHeld(sql, held));
  }

  /**
   * Drops the slot of `position` (an older full's), once a newer full is complete in every target;
   * a missing slot (or a position without one) is fine, a slot someone streams from is an error.
   */
  async retire(position: LogPosition): Promise<void> {
    if (position.slot === undefined) return;
    const p = capturePosition(position, 'retired position');
    await this.client.use(async (sql) => {
      if (!(await dropSlot(sql, p.slot)) && (await slotState(sql, p.slot))?.active) {
        throw new DbBackupError('E_UNSUPPORTED', `The replication slot ${p.slot} is in use by another connection, so it was not dropped; drop it with pg_drop_replication_slot once that ends.`);
      }
    });
  }
}
