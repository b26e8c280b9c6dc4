import type { PartSource } from '../../../application/ports/parts.js';
import type { RestoreRequest } from '../../../application/ports/restore-plan.js';
import type { Manifest } from '../../../domain/manifest.js';
import { DbBackupError } from '../../../domain/errors.js';
import { parseGtids } from './mysql-binlog-gtids.js';
import { type ApplyStop, readIndex } from './mysql-binlog-index.js';
import { addGtid } from './mysql-binlog-locate.js';
import { isAccessDenied } from './mysql-binlog-settings.js';
import type { MysqlConnection, MysqlEndpoint } from './mysql-connection.js';

const gtidOfPosition = (p: unknown) => (p && typeof p === 'object' && typeof (p as { gtid?: unknown }).gtid === 'string' ? (p as { gtid: string }).gtid : undefined);

/**
 * The source's GTID position where a replay of a link up to `stop` leaves the target (MariaDB: its
 * gtid_binlog_pos then, one GTID per domain; MySQL: its GTID set): the link's end (manifest
 * position.to) when it replays to its end, else the position it starts after with each
 * transaction up to the stop added (the index part, every transaction of the server's log: those of
 * other databases are passed, not owed). Undefined when the link records no GTIDs.
 */
export async function reachedGtids(parts: PartSource, stop: ApplyStop): Promise<string | undefined> {
  const to = gtidOfPosition(parts.manifest.position?.to);
  const from = gtidOfPosition(parts.manifest.position?.from);
  if (stop === undefined) return to ?? from;
  let state = from;
  if (stop === 'nothing') return state;
  for await (const tx of readIndex(parts)) {
    if (tx.gtid) state = addGtid(state, tx.gtid);
    if (tx.part === stop.part && tx.end === stop.end) break;
  }
  return state;
}

/**
 * `--set-gtid-slave-pos`, when the restore is planned (dry run or not): E_USAGE unless a chain is
 * replayed with GTIDs (`--replay-gtids keep` or `--changes-only`: the target's replication state
 * changes only when asked for with them); on MariaDB, checks that it can be set (checkSlavePos);
 * returns the line the plan says about it.
 */
export async function planSlavePos(conn: MysqlConnection, e: MysqlEndpoint, manifest: Manifest, request: RestoreRequest): Promise<string> {
  if (manifest.kind === 'full' || (e.replayGtids !== 'keep' && !request.changesOnly)) {
    throw new DbBackupError(
      'E_USAGE',
      `--set-gtid-slave-pos goes with a chain replayed with GTIDs (an incremental or differential backup restored with --replay-gtids keep or --changes-only); backup ${manifest.id} is a ${manifest.kind}${manifest.kind === 'full' ? '' : ' restored without either'}. For a full alone, SET GLOBAL gtid_slave_pos to its GTID position (dbbackup list --json) yourself.`,
    );
  }
  const [rows] = await conn.query('SELECT VERSION() AS v');
  if (!/mariadb/i.test(String((rows as { v: string }[])[0]?.v ?? ''))) {
    return "--set-gtid-slave-pos: the target is MySQL, which has no gtid_slave_pos: the carried GTIDs are in its gtid_executed (SOURCE_AUTO_POSITION = 1 starts after them); nothing is set.";
  }
  await checkSlavePos(conn);
  return `--set-gtid-slave-pos: once the replay succeeded, the target's gtid_slave_pos is set to the GTID position it reached (the chain's end: ${gtidOfPosition(manifest.position?.to) ?? 'unknown'}, or the last transaction before --at), so CHANGE MASTER TO … MASTER_USE_GTID = slave_pos replicates from the source from there.`;
}

/**
 * `--set-gtid-slave-pos` (MariaDB), before anything changes: setting gtid_slave_pos to its own value
 * proves the user may (SUPER or REPLICATION SLAVE ADMIN) and no replica thread runs (the server
 * refuses both with the same statement later). Changes nothing.
 */
export async function checkSlavePos(conn: MysqlConnection): Promise<void> {
  await setPos(conn, 'SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_slave_pos');
}

/**
 * Sets the target's gtid_slave_pos to `reached` (a MariaDB gtid_binlog_pos), keeping the domains of
 * its current value that `reached` does not name; returns the value set. A replica of the source
 * started with `CHANGE MASTER TO … MASTER_USE_GTID = slave_pos` then asks for what comes after.
 */
export async function setSlavePos(conn: MysqlConnection, reached: string): Promise<string> {
  const [rows] = await conn.query('SELECT @@GLOBAL.gtid_slave_pos AS p');
  const current = String((rows as { p: string | null }[])[0]?.p ?? '');
  const ours = parseGtids(reached);
  const domains = new Set(ours.map((g) => g.domain));
  const kept = parseGtids(current).filter((g) => !domains.has(g.domain));
  const value = [...kept, ...ours]
    .sort((a, b) => a.domain - b.domain)
    .map((g) => `${g.domain}-${g.server}-${g.seq.toString()}`)
    .join(',');
  await setPos(conn, `SET GLOBAL gtid_slave_pos = '${value}'`);
  return value;
}

async function setPos(conn: MysqlConnection, sql: string): Promise<void> {
  try {
    await conn.query(sql);
  } catch (err) {
    const message = (err as Error).message;
    if (isAccessDenied(err)) {
      throw new DbBackupError('E_AUTH', `--set-gtid-slave-pos: the user may not set gtid_slave_pos (${message}); GRANT REPLICATION SLAVE ADMIN (or SUPER), or restore without it.`, { cause: err });
    }
    if ((err as { errno?: number }).errno === 1198) {
      throw new DbBackupError('E_UNSUPPORTED', `--set-gtid-slave-pos: the target's replica threads are running (${message}); STOP ALL SLAVES first, or restore without it.`, { cause: err });
    }
    throw err;
  }
}
