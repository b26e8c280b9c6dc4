import type { LogPosition } from '../../../application/ports/change-capture.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { Manifest } from '../../../domain/manifest.js';
import { comparePositions } from './mysql-binlog-events.js';
import { binlogPositionOf } from './mysql-binlog-settings.js';
import { addGtidTo, containsGtid, formatGtidSet, parseGtidSet } from './mysql-gtid-set.js';

/**
 * A restore point named in the binary log: after the transaction with a GTID (MariaDB
 * `domain-server-seq`, MySQL `uuid:n`), or at a file position (whole transactions ending at or
 * before it, as `mysqlbinlog --stop-position`).
 */
export type BinlogTarget = { gtid: string; label: string } | { file: string; position: number; label: string };

const MARIADB_GTID = /^(\d{1,10})-(\d{1,10})-(\d{1,20})$/;
const MYSQL_GTID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):(\d{1,20})$/i;

/**
 * Reads `restore --at-gtid GTID` ({ gtid }) or `--at-position FILE:POS` ({ position: 'FILE:POS' }),
 * or a position already split ({ file, position }); E_USAGE naming the form otherwise.
 */
export function binlogTarget(at: LogPosition): BinlogTarget {
  if (typeof at.gtid === 'string') {
    const gtid = at.gtid.trim().toLowerCase();
    if (!MARIADB_GTID.test(gtid) && !MYSQL_GTID.test(gtid)) {
      throw new DbBackupError('E_USAGE', `--at-gtid takes one GTID, domain-server-sequence on MariaDB (0-1-57) or uuid:number on MySQL; got "${at.gtid}".`);
    }
    return { gtid, label: `GTID ${gtid}` };
  }
  if (typeof at.file === 'string' && Number.isSafeInteger(at.position)) return { file: at.file, position: at.position as number, label: `${at.file}:${at.position}` };
  const m = typeof at.position === 'string' ? /^([\w.-]{1,255}\.\d+):(\d{1,15})$/.exec(at.position) : null;
  if (!m) throw new DbBackupError('E_USAGE', `--at-position takes FILE:POS, a binary log file and a byte position in it (binlog.000012:4711); got "${String(at.position)}".`);
  return { file: m[1]!, position: Number(m[2]), label: `${m[1]}:${m[2]}` };
}

/**
 * Which link of `chain` (a full and its links, oldest first) holds `at`: 0 when it is the full's
 * own point, i when link i's events reach it (each link covers its parent's end, exclusive, to its
 * own end). E_NO_RESTORE_POINT, naming the chain's range, when it is not in the chain.
 */
export function locateBinlogTarget(chain: Manifest[], at: LogPosition): number {
  const target = binlogTarget(at);
  const ends = chain.map((m) => binlogPositionOf(m.logPosition, `log position of backup ${m.id}`));
  for (const [i, end] of ends.entries()) {
    const reached = 'gtid' in target ? gtidReached(end.gtid, target.gtid) : comparePositions(target, end) <= 0;
    if (!reached) continue;
    if (i > 0) return i;
    if ('gtid' in target ? gtidIsLast(end.gtid, target.gtid) : comparePositions(target, end) === 0) return 0;
    break;
  }
  const first = ends[0]!;
  const last = ends.at(-1)!;
  const range = `${first.file}:${first.position} to ${last.file}:${last.position}` + (first.gtid !== undefined && last.gtid !== undefined ? ` (GTID state ${first.gtid} to ${last.gtid})` : '');
  throw new DbBackupError(
    'E_NO_RESTORE_POINT',
    `${target.label} is not in the chain of backup ${chain.at(-1)!.id}, which restores from ${range}; pick a point in that range, or another backup with --backup ID.`,
    { details: { backup: chain.at(-1)!.id } },
  );
}

/** True when the GTID state `state` (MariaDB gtid_binlog_pos or a MySQL GTID set) includes `gtid`. */
export function gtidReached(state: string | undefined, gtid: string): boolean {
  if (!state) return false;
  const maria = MARIADB_GTID.exec(gtid);
  if (maria) {
    return state.split(',').some((g) => {
      const m = MARIADB_GTID.exec(g.trim());
      return m !== null && m[1] === maria[1] && BigInt(m[3]!) >= BigInt(maria[3]!);
    });
  }
  try {
    return containsGtid(parseGtidSet(state), gtid);
  } catch {
    return false;
  }
}

/** True when `gtid` is the newest of its domain in a MariaDB state (MySQL: the top of its uuid's range). */
function gtidIsLast(state: string | undefined, gtid: string): boolean {
  const maria = MARIADB_GTID.exec(gtid);
  if (maria) return (state ?? '').split(',').some((g) => g.trim() === gtid);
  const n = gtid.slice(gtid.lastIndexOf(':') + 1);
  return (state ?? '').toLowerCase().split(',').some((s) => s.trim().startsWith(gtid.slice(0, gtid.lastIndexOf(':'))) && s.trim().split(':').some((r) => r.split('-').at(-1) === n));
}

/**
 * The GTID state `state` once the transaction `gtid` is in it: MariaDB's gtid_binlog_pos keeps the
 * newest GTID per domain; a MySQL GTID set gains `gtid`'s number in its uuid's ranges (merged with
 * a neighbour). A state cut short (replicate counting from an unknown start) only lacks domains.
 */
export function addGtid(state: string | undefined, gtid: string): string {
  const maria = MARIADB_GTID.exec(gtid);
  const parts = (state ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (maria) {
    const rest = parts.filter((g) => MARIADB_GTID.exec(g)?.[1] !== maria[1]);
    return [...rest, gtid].sort((a, b) => Number(a.split('-')[0]) - Number(b.split('-')[0])).join(',');
  }
  try {
    return formatGtidSet(addGtidTo(parseGtidSet(parts.join(',')), gtid));
  } catch {
    return parts.join(','); // not a MySQL set: left as it is
  }
}
