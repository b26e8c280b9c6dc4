import { EventType, type FormatDescription, readFormatDescription, readGtid, readHeader, readQuery } from './mysql-binlog-events.js';
import { isAccessDenied } from './mysql-binlog-settings.js';
import type { MysqlConnection, MysqlEndpoint } from './mysql-connection.js';

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
 * What `--replay-gtids keep` can do on this target (MariaDB only): `state` the target's GTIDs (its
 * binlog state and its replica position), and
 * `carry` whether a replayed transaction may carry its source GTID (SET SESSION gtid_domain_id,
 * server_id, gtid_seq_no: SUPER or BINLOG REPLAY, the target's binary log on and written by the
 * restore); `notes` say why not.
 */
export async function gtidReplayPlan(conn: MysqlConnection, e: MysqlEndpoint, label = '--replay-gtids keep'): Promise<{ state: GtidState; carry: boolean; notes: string[]; mariadb: boolean }> {
  let row: { s: string; p: string; b: number | string } | undefined;
  try {
    const [rows] = await conn.query('SELECT @@GLOBAL.gtid_binlog_state AS s, @@GLOBAL.gtid_slave_pos AS p, @@GLOBAL.log_bin AS b');
    row = (rows as { s: string; p: string; b: number | string }[])[0];
  } catch {
    return { state: new Map(), carry: false, mariadb: false, notes: [`${label}: the target is not MariaDB (MySQL GTIDs are neither skipped nor carried); the replay goes on without.`] };
  }
  const state = parseGtidState(String(row?.p ?? ''), parseGtidState(String(row?.s ?? '')), true);
  const notes: string[] = [];
  if (Number(row?.b ?? 0) === 0) notes.push(`${label}: the target's binary log is off, so it records no GTIDs; the replayed transactions do not carry theirs.`);
  else if (!e.restoreBinlog) notes.push(`${label}: the restore does not write the target's binary log (?binlog=off), so the replayed transactions do not carry their GTIDs.`);
  else {
    try {
      await conn.query('SET SESSION gtid_seq_no = 0');
    } catch (err) {
      if (!isAccessDenied(err)) throw err;
      notes.push(`${label}: the user may not set gtid_domain_id, server_id and gtid_seq_no (${(err as Error).message}; GRANT BINLOG REPLAY or SUPER); the replayed transactions get the target's own GTIDs.`);
    }
  }
  return { state, carry: notes.length === 0, notes, mariadb: true };
}

/**
 * Leaves out the source transactions whose GTID the target already holds (MariaDB GTID events):
 * from the GTID event to the transaction's end (XID, COMMIT or ROLLBACK, or the statement a
 * standalone GTID announces). Events outside transactions pass.
 */
export class GtidSkipper {
  skipped = 0;
  private fd: FormatDescription = { serverVersion: '', checksumLength: 0 };
  private skipping: 'transaction' | 'statement' | undefined;

  constructor(private readonly state: GtidState) {}

  /** Whether `event` goes on to the replay. */
  pass(event: Buffer): boolean {
    const type = event[4];
    if (type === EventType.FORMAT_DESCRIPTION) {
      this.fd = readFormatDescription(event);
      return true;
    }
    const g = mariaGtidOf(event, this.fd);
    if (g) {
      this.skipping = holds(this.state, g) ? (g.standalone ? 'statement' : 'transaction') : undefined;
      if (this.skipping) this.skipped++;
      return this.skipping === undefined;
    }
    if (!this.skipping) return true;
    if (type === EventType.XID) this.skipping = undefined;
    else if (type === EventType.QUERY || type === EventType.QUERY_COMPRESSED) {
      const text = readQuery(event, this.fd).query.trim().toUpperCase();
      if (text === 'BEGIN') this.skipping = 'transaction';
      else if (this.skipping === 'statement' || text === 'COMMIT' || text === 'ROLLBACK') this.skipping = undefined;
    }
    return false;
  }
}
