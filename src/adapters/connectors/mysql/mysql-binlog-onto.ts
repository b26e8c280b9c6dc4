import type { PartSource } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import { gtidReplayPlan, holds, knowsDomain, type MariaGtid, parseGtids, type TargetGtids } from './mysql-binlog-gtids.js';
import { type GtidSet, parseGtidSet, parseMysqlGtid, subtractGtidSet, formatGtidSet } from './mysql-gtid-set.js';
import { type ApplyStop, readIndex } from './mysql-binlog-index.js';
import type { MysqlConnection, MysqlEndpoint } from './mysql-connection.js';

/** What a `--changes-only` replay of one link does to the target: transactions of the backup's databases applied and skipped. */
export interface OntoCount {
  applied: number;
  skipped: number;
}

/**
 * Before a `--changes-only` replay of a link (or instead of it, in a dry run): the target's GTID
 * state, placed on the link (countOnto) with what it applies and skips among the transactions of
 * `dbMap`'s databases (`tables`: those tables). E_UNSUPPORTED on a target with no GTIDs, or
 * (not in a dry run) one that cannot record the GTIDs it replays: a later run would apply them again.
 */
export async function placeOnto(
  conn: MysqlConnection,
  e: MysqlEndpoint,
  parts: PartSource,
  stop: ApplyStop,
  dbMap: Map<string, string>,
  tables: Set<string> | undefined,
  onto: { continues: boolean; dryRun?: boolean },
): Promise<{ state: TargetGtids; count: OntoCount; notes: string[] }> {
  const plan = await gtidReplayPlan(conn, e, '--changes-only');
  if (!plan.flavor) throw new DbBackupError('E_UNSUPPORTED', `--changes-only needs a target with GTIDs (MariaDB, or MySQL with gtid_executed): it skips what the target holds by them. ${plan.notes.join(' ')}`);
  // Index entries name tables (`db.table`) and, for statements, databases.
  const ours = (t: string) => (t.includes('.') ? (tables ? tables.has(t) : dbMap.has(t.slice(0, t.indexOf('.')))) : dbMap.has(t));
  const count = await countOnto(parts, plan.state, stop, ours, onto.continues);
  if (!onto.dryRun && !plan.carry) {
    throw new DbBackupError('E_UNSUPPORTED', `--changes-only needs a target that records the GTIDs it replays, so that a later replay skips them; nothing was changed: ${plan.notes.join(' ')}`);
  }
  return { state: plan.state, count, notes: plan.notes };
}

/**
 * `restore --changes-only` on MariaDB, before a link is replayed onto a target that holds a copy:
 * reads the link's index part (no binlog read) up to `stop` and counts the transactions of the
 * backup's databases (`ours` of a table `db.table`, or of a statement's database `db`) that the
 * target's GTID state holds (skipped) and those it does not (applied). Refuses (E_TARGET_STATE)
 * when the state cannot be placed on the chain: it holds no GTID of a domain the link's
 * transactions are in (by their server ids, or a replica position of the domain), or, unless the
 * previous link of this run ended where this one starts (`continues`), it lacks the source's
 * GTID the link starts after (manifest position.from) in such a domain — the target is behind the
 * chain and the transactions between would be missing.
 */
export async function countOnto(parts: PartSource, target: TargetGtids, stop: ApplyStop, ours: (table: string) => boolean, continues: boolean): Promise<OntoCount> {
  if (target.flavor === 'mysql') return countOntoMysql(parts, target.executed, stop, ours, continues);
  const state = target.state;
  const count: OntoCount = { applied: 0, skipped: 0 };
  const servers = new Map<number, Set<number>>();
  const id = parts.manifest.id;
  if (stop !== 'nothing') {
    for await (const tx of readIndex(parts)) {
      if (tx.tables.some(ours)) {
        const g = parseGtids(tx.gtid ?? '')[0];
        if (!g) {
          throw new DbBackupError('E_TARGET_STATE', `Backup ${id} holds a transaction without a MariaDB GTID (at ${tx.file}:${tx.pos}), so --changes-only cannot tell whether the target holds it; restore the chain whole instead.`);
        }
        const known = servers.get(g.domain) ?? new Set<number>();
        servers.set(g.domain, known.add(g.server));
        if (holds(state, g)) count.skipped++;
        else count.applied++;
      }
      if (stop && tx.part === stop.part && tx.end === stop.end) break;
    }
  }
  const from = parseGtids(String((parts.manifest.position?.from as { gtid?: unknown } | null | undefined)?.gtid ?? ''));
  for (const [domain, ids] of servers) {
    const start = from.find((g) => g.domain === domain);
    if (start) ids.add(start.server);
    if (!knowsDomain(state, domain, ids)) {
      throw new DbBackupError(
        'E_TARGET_STATE',
        `--changes-only: the target holds no GTID of domain ${domain} from server id ${[...ids].join(' or ')} (its gtid_binlog_state and gtid_slave_pos have none), so it cannot tell which transactions of backup ${id} it already has; nothing was changed. ` +
          `Restore the chain with --replay-gtids keep (the replayed transactions then carry their GTIDs), or, when the target holds exactly a full's data, SET GLOBAL gtid_slave_pos to that full's GTID position (dbbackup list --json shows it) first.`,
      );
    }
    if (start && !continues && !holds(state, start)) {
      throw new DbBackupError(
        'E_TARGET_STATE',
        `--changes-only: the target is behind the chain: its GTID state stops before ${gtidText(start)}, after which the changes of backup ${id} start, so the transactions between would be missing; nothing was changed. Restore the chain's full first (without --changes-only), or a chain that starts where the target is.`,
      );
    }
  }
  return count;
}

function gtidText(g: MariaGtid): string {
  return `${g.domain}-${g.server}-${g.seq.toString()}`;
}

/**
 * countOnto for a MySQL target (its gtid_executed), by the same rules: a transaction is held when
 * the set contains its `uuid:n`; the target must hold some GTID of each source uuid the link's
 * transactions have, and (unless `continues`) every GTID of those uuids in the set the link starts
 * after (manifest position.from), else the transactions between would be missing. Unit-tested only.
 */
async function countOntoMysql(parts: PartSource, executed: GtidSet, stop: ApplyStop, ours: (table: string) => boolean, continues: boolean): Promise<OntoCount> {
  const count: OntoCount = { applied: 0, skipped: 0 };
  const id = parts.manifest.id;
  const uuids = new Set<string>();
  if (stop !== 'nothing') {
    for await (const tx of readIndex(parts)) {
      if (tx.tables.some(ours)) {
        const g = parseMysqlGtid(tx.gtid ?? '');
        if (!g) {
          throw new DbBackupError('E_TARGET_STATE', `Backup ${id} holds a transaction without a MySQL GTID (at ${tx.file}:${tx.pos}), so --changes-only cannot tell whether the MySQL target holds it; restore the chain whole instead.`);
        }
        uuids.add(g.key);
        if ((executed.get(g.key) ?? []).some(([lo, hi]) => lo <= g.gno && g.gno <= hi)) count.skipped++;
        else count.applied++;
      }
      if (stop && tx.part === stop.part && tx.end === stop.end) break;
    }
  }
  let from: GtidSet;
  try {
    from = parseGtidSet(String((parts.manifest.position?.from as { gtid?: unknown } | null | undefined)?.gtid ?? ''));
  } catch {
    from = new Map();
  }
  for (const uuid of uuids) {
    if (!executed.has(uuid)) {
      throw new DbBackupError(
        'E_TARGET_STATE',
        `--changes-only: the target holds no GTID of source ${uuid} (its gtid_executed has none), so it cannot tell which transactions of backup ${id} it already has; nothing was changed. ` +
          `Restore the chain with --replay-gtids keep, or, when the target holds exactly a full's data, SET GLOBAL gtid_purged = '+<that full's GTID set>' (dbbackup list --json shows it) first.`,
      );
    }
    const missing = subtractGtidSet(new Map(from.has(uuid) ? [[uuid, from.get(uuid)!]] : []), executed);
    if (!continues && missing.size > 0) {
      throw new DbBackupError(
        'E_TARGET_STATE',
        `--changes-only: the target is behind the chain: its gtid_executed lacks ${formatGtidSet(missing)}, before which the changes of backup ${id} start, so those transactions would be missing; nothing was changed. Restore the chain's full first (without --changes-only), or a chain that starts where the target is.`,
      );
    }
  }
  return count;
}
