import type pg from 'pg';
import type { CaptureRequirement, CaptureSlot, CaptureSlots } from '../../../application/ports/capture-slots.js';
import { DbBackupError } from '../../../domain/errors.js';
import { type PgEndpoint, quoteIdent } from './connection.js';
import { removeDdlCaptureIfUnused } from './postgres-ddl-capture.js';
import { waitSlotFree } from './postgres-replication.js';
import { SessionClient } from './postgres-session-client.js';

/**
 * CaptureSlots for PostgreSQL: the logical slots named `dbbackup_<source>_<suffix>` in the
 * session's database (pg_replication_slots), their publication `dbbackup_<source>`, and the
 * server settings change capture needs. Read-only except drop().
 */

/** The names a source's capture uses on the server: `dbbackup_<source>` (slots add a suffix, one per full). */
export function captureNames(source: string): { publication: string; slotPrefix: string } {
  const base = `dbbackup_${source.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 40)}`;
  return { publication: base, slotPrefix: `${base}_` };
}

/** A slot's capture name: its name without the per-full suffix (`dbbackup_shop_lz3k9` → `dbbackup_shop`). */
function captureNameOfSlot(slot: string): string {
  return slot.replace(/_[0-9a-z]+$/, '');
}

interface SlotRow {
  slot_name: string;
  active: boolean;
  wal_status: string | null;
  safe: string | null;
  retained: string | null;
  confirmed: string | null;
}

/** The capture slots of the connected database, of one capture name when given, oldest first. */
export async function listCaptureSlots(sql: pg.Client, captureName?: string): Promise<CaptureSlot[]> {
  const rows = (
    await sql.query(
      `SELECT slot_name, active, wal_status, safe_wal_size::text AS safe, confirmed_flush_lsn::text AS confirmed,
        CASE WHEN restart_lsn IS NULL THEN NULL ELSE pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::bigint::text END AS retained
        FROM pg_catalog.pg_replication_slots
        WHERE slot_type = 'logical' AND plugin = 'pgoutput' AND NOT temporary AND database = current_database()
          AND slot_name LIKE 'dbbackup\\_%' AND slot_name NOT LIKE 'dbbackup\\_tmp\\_%'
        ORDER BY slot_name`,
    )
  ).rows as SlotRow[];
  return rows
    .filter((r) => captureName === undefined || (r.slot_name.startsWith(`${captureName}_`) && captureNameOfSlot(r.slot_name) === captureName))
    .map((r) => ({
      name: r.slot_name,
      captureName: captureNameOfSlot(r.slot_name),
      publication: captureNameOfSlot(r.slot_name),
      active: r.active,
      health: r.wal_status === 'lost' ? 'lost' : r.wal_status === 'unreserved' ? 'at-risk' : 'ok',
      serverStatus: r.wal_status,
      retainedBytes: r.retained === null ? null : Number(r.retained),
      safeBytes: r.safe === null ? null : Number(r.safe),
      confirmed: r.confirmed,
    }));
}

interface Settings {
  wal_level: string;
  max_slots: number;
  used_slots: number;
  max_senders: number;
  used_senders: number;
  replication: boolean;
  /** max_slot_wal_keep_size in MB, -1 when unset; null before PostgreSQL 13 (no such setting). */
  keep_size: string | null;
}

/**
 * What capture needs of the server, each problem naming the setting and its fix: wal_level =
 * logical, the REPLICATION attribute (or a managed service's replication role, rds_replication),
 * a free replication slot and WAL sender; a warning when max_slot_wal_keep_size is unset (a
 * forgotten slot may then fill the server's disk).
 */
export async function captureRequirements(sql: pg.Client, user: string): Promise<CaptureRequirement[]> {
  const r = (
    await sql.query(`SELECT current_setting('wal_level') AS wal_level, current_setting('max_replication_slots')::int AS max_slots,
      (SELECT count(*) FROM pg_catalog.pg_replication_slots)::int AS used_slots, current_setting('max_wal_senders')::int AS max_senders,
      (SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'walsender')::int AS used_senders,
      coalesce((SELECT rolreplication OR rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user), false)
        OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles g WHERE g.rolname IN ('rds_replication', 'rds_superuser') AND pg_catalog.pg_has_role(current_user, g.oid, 'member')) AS replication,
      (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'max_slot_wal_keep_size') AS keep_size`)
  ).rows[0] as Settings;
  const out: CaptureRequirement[] = [];
  const error = (setting: string, message: string) => out.push({ setting, severity: 'error', message });
  if (r.wal_level !== 'logical') error('wal_level', `wal_level is ${r.wal_level}, and logical decoding needs wal_level = logical (ALTER SYSTEM SET wal_level = logical, then restart the server).`);
  if (!r.replication) {
    error('REPLICATION', `the role ${user} lacks the REPLICATION attribute (ALTER ROLE ${quoteIdent(user)} REPLICATION; on managed services grant their replication role, e.g. GRANT rds_replication TO ${quoteIdent(user)}).`);
  }
  if (r.used_slots >= r.max_slots) error('max_replication_slots', `all ${r.max_slots} replication slots are taken (raise max_replication_slots and restart, or drop an unused slot: dbbackup slot list, dbbackup slot drop SOURCE).`);
  if (r.used_senders >= r.max_senders) error('max_wal_senders', `all ${r.max_senders} WAL senders are busy (raise max_wal_senders and restart).`);
  if (r.keep_size === null || Number(r.keep_size) < 0) {
    out.push({
      setting: 'max_slot_wal_keep_size',
      severity: 'warning',
      message:
        'max_slot_wal_keep_size is unset (-1): a capture slot nobody confirms (backups stopped) keeps WAL without limit and can fill the server\'s disk. Set it (ALTER SYSTEM SET max_slot_wal_keep_size = \'50GB\'; SELECT pg_reload_conf()) above the WAL written between two backups; a slot past it is invalidated and the next backup must be a full.',
    });
  }
  return out;
}

/** Throws E_UNSUPPORTED naming the first unmet requirement; returns the warnings. */
export async function requireCapture(sql: pg.Client, user: string): Promise<string[]> {
  const found = await captureRequirements(sql, user);
  const failed = found.find((f) => f.severity === 'error');
  if (failed) throw new DbBackupError('E_UNSUPPORTED', `Change capture (--capture changes) cannot start: ${failed.message}`, { details: { setting: failed.setting } });
  return found.map((f) => f.message);
}

/** Drops the slots of `captureName` (none may be in use) and its publication. */
export async function dropCapture(sql: pg.Client, captureName: string): Promise<{ slots: string[]; publication?: string; ddlCapture?: boolean }> {
  const slots = await listCaptureSlots(sql, captureName);
  const busy = slots.filter((s) => s.active);
  if (busy.length) {
    throw new DbBackupError('E_BACKUP_FAILED', `The replication slot ${busy.map((s) => s.name).join(', ')} is in use (a backup of this source running?); nothing was dropped. Try again when it ends.`);
  }
  const dropped: string[] = [];
  for (const s of slots) {
    const r = await sql.query('SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots WHERE slot_name = $1 AND NOT active', [s.name]);
    if (r.rowCount) dropped.push(s.name);
  }
  const pub = (await sql.query('SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1', [captureName])).rowCount! > 0;
  if (pub) await sql.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(captureName)}`);
  // The last capture of the database gone: its DDL trigger (--capture-ddl) would only log for no one.
  const ddl = await removeDdlCaptureIfUnused(sql);
  return { slots: dropped, ...(pub ? { publication: captureName } : {}), ...(ddl ? { ddlCapture: true } : {}) };
}

/** CaptureSlots of one PostgreSQL database; each call opens and closes its own connection. */
export class PostgresCaptureSlots implements CaptureSlots {
  constructor(
    private readonly endpoint: PgEndpoint,
    /** The session's connection (a backup session's is kept between steps). */
    private readonly client = new SessionClient(endpoint, false),
  ) {}

  list(captureName?: string): Promise<CaptureSlot[]> {
    return this.with((sql) => listCaptureSlots(sql, captureName));
  }

  captureNameOf(source: string): string {
    return captureNames(source).publication;
  }

  drop(captureName: string): Promise<{ slots: string[]; publication?: string; ddlCapture?: boolean }> {
    if (!/^dbbackup_[a-z0-9_]+$/.test(captureName)) throw new DbBackupError('E_USAGE', `"${captureName}" is not the name of a dbbackup capture (dbbackup_<source>).`);
    return this.with((sql) => dropCapture(sql, captureName));
  }

  dropSlot(name: string): Promise<boolean> {
    if (!/^dbbackup_[a-z0-9_]+$/.test(name) || name.startsWith('dbbackup_tmp_')) throw new DbBackupError('E_USAGE', `"${name}" is not the name of a dbbackup capture slot (dbbackup_<source>_<suffix>).`);
    return this.with(async (sql) => {
      // Only a logical slot of this database: a slot of that name elsewhere in the cluster is not this capture's.
      const state = () => sql.query("SELECT active FROM pg_catalog.pg_replication_slots WHERE slot_name = $1 AND slot_type = 'logical' AND database = current_database()", [name]);
      let r = await state();
      if (r.rowCount === 0) return false;
      if ((r.rows[0] as { active: boolean }).active) {
        // The walsender of a client that just went away holds it a moment longer.
        await waitSlotFree(sql, name, 5000);
        r = await state();
        if (r.rowCount === 0) return false;
      }
      if ((r.rows[0] as { active: boolean }).active) throw new DbBackupError('E_BACKUP_FAILED', `The replication slot ${name} is in use by another connection; it was not dropped.`, { details: { slot: name } });
      const dropped = await sql.query('SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots WHERE slot_name = $1 AND NOT active', [name]);
      return (dropped.rowCount ?? 0) > 0;
    });
  }

  requirements(): Promise<CaptureRequirement[]> {
    return this.with((sql) => captureRequirements(sql, this.endpoint.user));
  }

  private with<T>(fn: (sql: pg.Client) => Promise<T>): Promise<T> {
    return this.client.use(fn);
  }
}
