import type pg from 'pg';
import { DbBackupError } from '../../../domain/errors.js';
import { type PgEndpoint, openClient, quoteIdent, quoteLiteral } from './connection.js';

/**
 * The streaming replication protocol on a `pg` walsender connection (replication=database), as much
 * as logical decoding needs: slot creation with an exported snapshot, START_REPLICATION in CopyBoth
 * mode (read by SlotStream, postgres-slot-stream.ts), and our standby status updates. The status
 * updates report a flush position only once SlotStream.confirm() allowed it (replicate, at a
 * segment listed in every target); a backup confirms the slot in a separate, explicit step
 * (confirmSlot), taken only once the changes are stored in every target.
 */

/** An LSN `X/Y` as a 64-bit integer (and back), so that positions compare exactly. */
export function lsnToBigInt(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (!m) throw new DbBackupError('E_USAGE', `"${lsn}" is not a PostgreSQL LSN (X/Y in hexadecimal).`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function lsnToString(lsn: bigint): string {
  // Each half as a Number: a Number's toString(16) costs a fraction of a BigInt's (every begin and commit is read back so).
  return `${Number(lsn >> 32n).toString(16).toUpperCase()}/${Number(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Microseconds since 2000-01-01 (PostgreSQL's epoch) as an ISO time with all six fraction digits. */
export function pgTimeToIso(micros: bigint): string {
  const unixMicros = micros + 946_684_800_000_000n;
  const frac = (((unixMicros % 1_000_000n) + 1_000_000n) % 1_000_000n);
  const second = (unixMicros - frac) / 1_000_000n;
  // Every begin and commit is timed: consecutive ones mostly share their second, so its text is kept.
  if (second !== lastSecond) {
    lastSecond = second;
    lastSecondText = new Date(Number(second) * 1000).toISOString().slice(0, 19);
  }
  return `${lastSecondText}.${frac.toString().padStart(6, '0')}Z`;
}
let lastSecond: bigint | undefined;
let lastSecondText = '';

/** An ISO time (up to microseconds) as microseconds since the Unix epoch, for exact comparisons. */
export function isoToMicros(iso: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(iso);
  if (!m) throw new DbBackupError('E_UNSAFE_BACKUP', `"${iso}" is not an ISO 8601 time.`);
  const whole = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(whole)) throw new DbBackupError('E_UNSAFE_BACKUP', `"${iso}" is not an ISO 8601 time.`);
  return BigInt(whole) * 1000n + BigInt((m[2] ?? '').padEnd(6, '0').slice(0, 6) || '0');
}

/** Opens a walsender connection to the endpoint's database (replication commands and SQL both work). */
export function openReplication(endpoint: PgEndpoint): Promise<pg.Client> {
  return openClient(endpoint, endpoint.database, { replication: true }).catch((err: unknown) => {
    if (err instanceof DbBackupError && /replication connection|pg_hba/i.test(err.message)) {
      throw new DbBackupError(
        'E_AUTH',
        `${err.message} Change capture needs a replication connection: the role needs the REPLICATION attribute (ALTER ROLE … REPLICATION) and pg_hba.conf must admit it for the database (a "host <db> <user> …" line also admits replication=database).`,
        { cause: err },
      );
    }
    throw err;
  });
}

export interface CreatedSlot {
  slot: string;
  /** The LSN from which the slot's changes are complete: every transaction committing at or after it is decoded, none before. */
  consistentPoint: string;
  /** The snapshot that sees exactly the transactions before consistentPoint; valid while `client` stays idle and open. */
  snapshotName: string;
}

/**
 * Creates a logical slot for pgoutput and exports its snapshot. The server waits for every
 * transaction running at that moment to end first (a long-running transaction delays it).
 */
export async function createSlot(client: pg.Client, slot: string, temporary = false): Promise<CreatedSlot> {
  const result = await client.query(`CREATE_REPLICATION_SLOT ${quoteIdent(slot)}${temporary ? ' TEMPORARY' : ''} LOGICAL pgoutput EXPORT_SNAPSHOT`);
  const row = result.rows[0] as { slot_name: string; consistent_point: string; snapshot_name: string };
  return { slot: row.slot_name, consistentPoint: row.consistent_point, snapshotName: row.snapshot_name };
}

/** START_REPLICATION of a logical slot from `start`, with pgoutput protocol 1 and the publication. */
export function startReplication(slot: string, start: bigint, publication: string): string {
  const options = `("proto_version" '1', "publication_names" ${quoteLiteral(quoteIdent(publication))})`;
  return `START_REPLICATION SLOT ${quoteIdent(slot)} LOGICAL ${lsnToString(start)} ${options}`;
}

/**
 * A standby status update: what was received (write), the flush the caller allows (0 leaves the
 * slot's confirmed position where it is), and `reply` asks the server for a keepalive back.
 */
export function standbyStatus(received: bigint, flushed: bigint, reply: boolean): Buffer {
  const msg = Buffer.alloc(34);
  msg[0] = 0x72; /* r */
  msg.writeBigUInt64BE(received, 1);
  msg.writeBigUInt64BE(flushed, 9);
  msg.writeBigUInt64BE(flushed, 17);
  msg.writeBigInt64BE(BigInt(Date.now() - 946_684_800_000) * 1000n, 25);
  msg[33] = reply ? 1 : 0;
  return msg;
}

export interface SlotState {
  slot: string;
  active: boolean;
  confirmedFlush: string | null;
  /** Where decoding restarts (the oldest WAL the slot needs): at or before confirmedFlush. */
  restartLsn: string | null;
  walStatus: string | null;
  retainedBytes: number | null;
}

/** The slot as pg_replication_slots shows it, or undefined when there is none of that name. */
export async function slotState(client: pg.Client, slot: string): Promise<SlotState | undefined> {
  const row = (
    await client.query(
      `SELECT slot_name, active, confirmed_flush_lsn::text AS confirmed, restart_lsn::text AS restart, wal_status,
        pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained
        FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`,
      [slot],
    )
  ).rows[0] as { slot_name: string; active: boolean; confirmed: string | null; restart: string | null; wal_status: string | null; retained: string | null } | undefined;
  if (!row) return undefined;
  return { slot: row.slot_name, active: row.active, confirmedFlush: row.confirmed, restartLsn: row.restart, walStatus: row.wal_status, retainedBytes: row.retained === null ? null : Number(row.retained) };
}

/**
 * Moves the slot's confirmed position to `lsn` (never back), so the server may free the WAL before
 * it. Only for changes durably stored in every target: what lies before is never sent again.
 */
export async function confirmSlot(client: pg.Client, slot: string, lsn: string): Promise<void> {
  const state = await slotState(client, slot);
  if (!state) throw new DbBackupError('E_NOT_FOUND', `The replication slot ${slot} does not exist any more; take a full backup with --capture changes.`);
  if (state.confirmedFlush && lsnToBigInt(state.confirmedFlush) >= lsnToBigInt(lsn)) return;
  await client.query('SELECT pg_catalog.pg_replication_slot_advance($1, $2::pg_lsn)', [slot, lsn]);
}

/**
 * Below this much WAL between a slot's restart point and its confirmed position, catchUpRestart
 * leaves the slot alone (a round trip for nothing). Above it the fast-forward pass always pays: it
 * costs ~0.12 µs of server CPU per row change in the WAL it passes, where the WAL sender's own pass
 * over the same WAL (each change into the reorder buffer, a look for the client's replies per
 * record) cost ~2.8 µs (a slot 9 MB behind on a pgbench interval: 0.18 s more of WAL sender CPU).
 */
export const RESTART_LAG_BYTES = 1n << 20n;

/**
 * Lets the slot's restart point catch up with its confirmed position `confirmed` (as the slot shows
 * it, read just before; the slot must be free), so that START_REPLICATION decodes less WAL again.
 * A slot confirmed only at the end of a backup keeps its restart point at the first running-
 * transactions record the WAL sender met past the parent's start (it takes a new candidate only
 * once the last one was confirmed): about the whole interval between two backups, which every
 * incremental's WAL sender then decoded again in full (each change copied into its reorder buffer,
 * then dropped at its commit). pg_replication_slot_advance to the slot's own confirmed position
 * confirms nothing new: it passes over that WAL in fast-forward mode (no change is decoded) and
 * takes every restart point it meets before the confirmed position, as the WAL sender would.
 * On a walsender connection (simple protocol: the values are literals). Skipped when less than
 * RESTART_LAG_BYTES lie between, or the positions are unknown; false when the server refused it.
 */
export async function catchUpRestart(client: pg.Client, slot: string, confirmed: string | null, restart: string | null): Promise<boolean> {
  if (!confirmed || !restart || lsnToBigInt(confirmed) - lsnToBigInt(restart) < RESTART_LAG_BYTES) return true;
  try {
    await client.query(`SELECT pg_catalog.pg_replication_slot_advance(${quoteLiteral(slot)}, ${quoteLiteral(lsnToString(lsnToBigInt(confirmed)))}::pg_lsn)`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits (at most `ms`) until no one streams from the slot: a walsender outlives the connection we
 * closed by a moment, and the slot stays active (so busy for the next backup) until it exits.
 */
export async function waitSlotFree(client: pg.Client, slot: string, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; ) {
    if (!(await slotState(client, slot))?.active) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Drops the slot if it exists and no one streams from it; returns false when it was busy or absent. */
export async function dropSlot(client: pg.Client, slot: string): Promise<boolean> {
  const state = await slotState(client, slot);
  if (!state || state.active) return false;
  await client.query('SELECT pg_catalog.pg_drop_replication_slot($1)', [slot]);
  return true;
}
