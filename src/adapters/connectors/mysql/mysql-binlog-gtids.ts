import { EventType, type FormatDescription, readFormatDescription, readGtid, readHeader, readQuery } from './mysql-binlog-events.js';
import { DbBackupError } from '../../../domain/errors.js';
import { isAccessDenied } from './mysql-binlog-settings.js';
import type { MysqlConnection, MysqlEndpoint } from './mysql-connection.js';
import { containsGtid, type GtidSet, parseGtidSet } from './mysql-gtid-set.js';

/** A MariaDB GTID: domain, server id, sequence number. */
export interface MariaGtid {
  domain: number;
  server: number;
  seq: bigint;
}

/**
 * The GTIDs a MariaDB target holds. From its @@gtid_binlog_state (`0-1-100,0-2-7,5-77-1001`, the
 * last sequence number written for each domain and server id), keyed `D-S`: a source GTID D-S-N is
 * held when the pair D-S is at N or past it. From its @@gtid_slave_pos (a replica's position, one
 * GTID per domain), keyed `D`: every GTID of domain D up to that sequence number is held, whichever
 * server wrote it (a replica applies its master's domain in order).
 */
export type GtidState = Map<string, bigint>;

export function parseGtidState(text: string, state: GtidState = new Map(), perDomain = false): GtidState {
  for (const item of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^(\d+)-(\d+)-(\d+)$/.exec(item);
    if (!m) continue;
    const key = perDomain ? m[1]! : `${m[1]}-${m[2]}`;
    const seq = BigInt(m[3]!);
    if ((state.get(key) ?? -1n) < seq) state.set(key, seq);
  }
  return state;
}

export function holds(state: GtidState, g: MariaGtid): boolean {
  const pair = state.get(`${g.domain}-${g.server}`);
  const domain = state.get(String(g.domain));
  return (pair !== undefined && pair >= g.seq) || (domain !== undefined && domain >= g.seq);
}

/** Whether `state` says anything of domain `domain`, as written by one of `servers` (or any server, through a replica's position). */
export function knowsDomain(state: GtidState, domain: number, servers: Iterable<number>): boolean {
  if (state.has(String(domain))) return true;
  for (const s of servers) if (state.has(`${domain}-${s}`)) return true;
  return false;
}

/** The MariaDB GTIDs of a GTID position or list (`0-1-100,5-77-1001`); other items are left out. */
export function parseGtids(text: string): MariaGtid[] {
  const out: MariaGtid[] = [];
  for (const item of text.split(',').map((s) => s.trim())) {
    const m = /^(\d+)-(\d+)-(\d+)$/.exec(item);
    if (m) out.push({ domain: Number(m[1]), server: Number(m[2]), seq: BigInt(m[3]!) });
  }
  return out;
}

/** The GTID of a MariaDB GTID event, or undefined for any other event. */
export function mariaGtidOf(event: Buffer, fd: FormatDescription): (MariaGtid & { standalone: boolean }) | undefined {
  const h = readHeader(event);
  if (h.type !== EventType.MARIADB_GTID) return undefined;
  const g = readGtid(event, h, fd);
  const m = /^(\d+)-(\d+)-(\d+)$/.exec(g.gtid ?? '');
  return m ? { domain: Number(m[1]), server: Number(m[2]), seq: BigInt(m[3]!), standalone: g.standalone } : undefined;
}

/**
 * The GTID of a GTID event, MariaDB's (`d-s-n`) or MySQL's (`uuid:n`; always standalone: a BEGIN
 * query follows for a transaction), or undefined for any other event (MySQL's anonymous GTIDs too).
 */
export function gtidOf(event: Buffer, fd: FormatDescription): { gtid: string; standalone: boolean } | undefined {
  const h = readHeader(event);
  if (h.type !== EventType.MARIADB_GTID && h.type !== EventType.MYSQL_GTID) return undefined;
  const g = readGtid(event, h, fd);
  return g.gtid ? { gtid: g.gtid, standalone: g.standalone } : undefined;
}

/** The GTIDs a target holds: MariaDB's state (GtidState) or MySQL's @@GLOBAL.gtid_executed. */
export type TargetGtids = { flavor: 'mariadb'; state: GtidState } | { flavor: 'mysql'; executed: GtidSet };

/** Whether the target holds `gtid`; a GTID of the other server kind is never held. */
export function targetHolds(t: TargetGtids, gtid: string): boolean {
  if (t.flavor === 'mysql') return containsGtid(t.executed, gtid);
  const g = /^\d+-\d+-\d+$/.test(gtid.trim()) ? parseGtids(gtid)[0] : undefined;
  return g !== undefined && holds(t.state, g);
}

/**
 * What `--replay-gtids keep` can do on this target: `state` the target's GTIDs (MariaDB: its
 * binlog state and its replica position; MySQL: gtid_executed), and `carry` whether a replayed
 * transaction may carry its source GTID (MariaDB: SET SESSION gtid_domain_id, server_id,
 * gtid_seq_no: SUPER or BINLOG REPLAY, the target's binary log on and written by the restore;
 * MySQL: SET GTID_NEXT, gtid_mode not OFF and the right to set it — MySQL records an assigned GTID
 * in gtid_executed with or without its binary log); `notes` say why not. `flavor` undefined: the
 * target reads neither (a MySQL without GTIDs).
 */
export async function gtidReplayPlan(
  conn: MysqlConnection,
  e: MysqlEndpoint,
  label = '--replay-gtids keep',
): Promise<{ state: TargetGtids; carry: boolean; notes: string[]; flavor: 'mariadb' | 'mysql' | undefined }> {
  let row: { s: string; p: string; b: number | string } | undefined;
  try {
    const [rows] = await conn.query('SELECT @@GLOBAL.gtid_binlog_state AS s, @@GLOBAL.gtid_slave_pos AS p, @@GLOBAL.log_bin AS b');
    row = (rows as { s: string; p: string; b: number | string }[])[0];
  } catch {
    return mysqlReplayPlan(conn, label);
  }
  const state = parseGtidState(String(row?.p ?? ''), parseGtidState(String(row?.s ?? '')), true);
  const notes: string[] = [];
  if (Number(row?.b ?? 0) === 0) notes.push(`${label}: the target's binary log is off, so it records no GTIDs; the replayed transactions do not carry theirs.`);
  else if (!e.restoreBinlog) notes.push(`${label}: the restore does not write the target's binary log (?binlog=off), so the replayed transactions do not carry their GTIDs.`);
  else await probe(conn, 'SET SESSION gtid_seq_no = 0', notes, `${label}: the user may not set gtid_domain_id, server_id and gtid_seq_no (%s; GRANT BINLOG REPLAY or SUPER); the replayed transactions get the target's own GTIDs.`);
  return { state: { flavor: 'mariadb', state }, carry: notes.length === 0, notes, flavor: 'mariadb' };
}

/** gtidReplayPlan on a MySQL target (tested on recorded statements only: no MySQL server runs here). */
async function mysqlReplayPlan(conn: MysqlConnection, label: string): Promise<{ state: TargetGtids; carry: boolean; notes: string[]; flavor: 'mysql' | undefined }> {
  let row: { s: string; m: string } | undefined;
  try {
    const [rows] = await conn.query('SELECT @@GLOBAL.gtid_executed AS s, @@GLOBAL.gtid_mode AS m');
    row = (rows as { s: string; m: string }[])[0];
  } catch {
    const note = `${label}: the target has no GTIDs (neither MariaDB's gtid_binlog_state nor MySQL's gtid_executed); the replay goes on without.`;
    return { state: { flavor: 'mysql', executed: new Map() }, carry: false, notes: [note], flavor: undefined };
  }
  let executed: GtidSet;
  try {
    executed = parseGtidSet(String(row?.s ?? ''));
  } catch (err) {
    throw new DbBackupError('E_UNSUPPORTED', `${label}: the target's gtid_executed cannot be read (${(err as Error).message}).`);
  }
  const notes: string[] = [];
  if (String(row?.m ?? 'OFF').toUpperCase() === 'OFF') notes.push(`${label}: the target's gtid_mode is OFF, so it takes no source GTID (SET GTID_NEXT); the replayed transactions do not carry theirs.`);
  else await probe(conn, "SET SESSION GTID_NEXT = 'AUTOMATIC'", notes, `${label}: the user may not set GTID_NEXT (%s; GRANT SESSION_VARIABLES_ADMIN or SYSTEM_VARIABLES_ADMIN); the replayed transactions get the target's own GTIDs.`);
  return { state: { flavor: 'mysql', executed }, carry: notes.length === 0, notes, flavor: 'mysql' };
}

/** Runs `sql`; an access error adds `note` (its %s the server's message) to `notes`. */
async function probe(conn: MysqlConnection, sql: string, notes: string[], note: string): Promise<void> {
  try {
    await conn.query(sql);
  } catch (err) {
    if (!isAccessDenied(err)) throw err;
    notes.push(note.replace('%s', (err as Error).message));
  }
}

/**
 * Leaves out the source transactions whose GTID the target already holds (MariaDB's or MySQL's GTID events):
 * from the GTID event to the transaction's end (XID, COMMIT or ROLLBACK, or the statement a
 * standalone GTID announces). Events outside transactions pass.
 */
export class GtidSkipper {
  skipped = 0;
  private fd: FormatDescription = { serverVersion: '', checksumLength: 0 };
  private skipping: 'transaction' | 'statement' | undefined;

  constructor(private readonly state: TargetGtids) {}

  /** Whether `event` goes on to the replay. */
  pass(event: Buffer): boolean {
    const type = event[4];
    if (type === EventType.FORMAT_DESCRIPTION) {
      this.fd = readFormatDescription(event);
      return true;
    }
    const g = gtidOf(event, this.fd);
    if (g) {
      this.skipping = targetHolds(this.state, g.gtid) ? (g.standalone ? 'statement' : 'transaction') : undefined;
      if (this.skipping) this.skipped++;
      return this.skipping === undefined;
    }
    if (!this.skipping) return true;
    // MySQL 8's compressed transaction holds the whole of it (BEGIN … XID).
    if (type === EventType.XID || (type === EventType.TRANSACTION_PAYLOAD && this.skipping === 'statement')) this.skipping = undefined;
    else if (type === EventType.QUERY || type === EventType.QUERY_COMPRESSED) {
      const text = readQuery(event, this.fd).query.trim().toUpperCase();
      if (text === 'BEGIN') this.skipping = 'transaction';
      else if (this.skipping === 'statement' || text === 'COMMIT' || text === 'ROLLBACK') this.skipping = undefined;
    }
    return false;
  }
}
