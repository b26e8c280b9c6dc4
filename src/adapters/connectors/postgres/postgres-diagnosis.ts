import type pg from 'pg';
import type { DiagnosisRequest } from '../../../application/ports/database-diagnosis.js';
import { fail, type Finding, ok, warn } from '../../../domain/diagnosis.js';
import { isDbBackupError } from '../../../domain/errors.js';
import { type PgEndpoint, describeEndpoint, openClient, quoteIdent } from './connection.js';
import { unfollowedTables, wantsCapture } from './postgres-changes.js';
import { readMarker } from './postgres-target.js';
import { describeMarker } from '../restore-marker.js';
import { PostgresCaptureSlots } from './postgres-slots.js';
import type { CaptureSlots } from '../../../application/ports/capture-slots.js';
import { DEFAULT_SLOT_WARN_BYTES, slotWarnings } from '../../../application/services/slot-alerts.js';

export interface PgCheckContext {
  client: pg.Client;
  endpoint: PgEndpoint;
  subject: string;
  /** The config takes incrementals (or asks for --capture changes): missing capture settings fail. */
  incremental: boolean;
  /** server_version_num, e.g. 150010. */
  versionNum: number;
  /** The config's source name, when doctor checks a configured source. */
  source?: string;
  /** Past this many bytes of retained WAL a capture slot is a warning. */
  slotWarnBytes: number;
}

/** One PostgreSQL doctor check; POSTGRES_CHECKS is the list `doctor` runs (append to add one, e.g. slot details). */
export type PgCheck = (ctx: PgCheckContext) => Promise<Finding[]>;

const LOCAL = /^(localhost|127\.|::1$|\/)/;

const version: PgCheck = async ({ client, subject, versionNum }) => {
  const v = (await client.query('SHOW server_version')).rows[0].server_version as string;
  if (versionNum < 120000) return [warn(subject, 'version', `PostgreSQL ${v} is out of support`, 'Upgrade to a supported PostgreSQL (13 or newer).')];
  return [ok(subject, 'version', `PostgreSQL ${v}`)];
};

const tls: PgCheck = async ({ client, endpoint, subject }) => {
  const r = (await client.query('SELECT ssl, version, cipher FROM pg_catalog.pg_stat_ssl WHERE pid = pg_catalog.pg_backend_pid()')).rows[0] as
    | { ssl: boolean; version: string | null; cipher: string | null }
    | undefined;
  if (r?.ssl) {
    const text = `encrypted (${r.version}, ${r.cipher})`;
    if (endpoint.sslmode === 'verify-full') return [ok(subject, 'tls', `${text}; the server's certificate and name are verified`)];
    return [warn(subject, 'tls', `${text}, but ssl-mode=${endpoint.sslmode} does not verify the server's certificate and name`, 'Set ssl-mode: verify-full (with ssl-root-cert: the CA file if the server\'s CA is private).')];
  }
  if (LOCAL.test(endpoint.host)) return [ok(subject, 'tls', `not encrypted (a local connection to ${endpoint.host})`)];
  return [warn(subject, 'tls', `not encrypted: passwords and data cross the network in clear to ${endpoint.host}`, 'Turn on ssl in postgresql.conf and set ssl-mode: verify-full for this source.')];
};

interface RoleRow {
  rolsuper: boolean;
  rolreplication: boolean;
  rolbypassrls: boolean;
  rolcreatedb: boolean;
  rolcreaterole: boolean;
  db_create: boolean;
}

async function role(client: pg.Client): Promise<RoleRow> {
  return (
    await client.query(`SELECT rolsuper, rolreplication, rolbypassrls, rolcreatedb, rolcreaterole,
      pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE') AS db_create
      FROM pg_catalog.pg_roles WHERE rolname = current_user`)
  ).rows[0] as RoleRow;
}

/** A backup reads every table, sequence and large object: schemas it cannot use or tables it cannot read fail it. */
const backupPrivileges: PgCheck = async ({ client, endpoint, subject, versionNum }) => {
  const r = await role(client);
  const blocked = (
    await client.query(`SELECT n.nspname AS schema, c.relname AS name,
        NOT (pg_catalog.has_schema_privilege(n.oid, 'USAGE') AND pg_catalog.has_table_privilege(c.oid, 'SELECT')) AS unreadable,
        c.relrowsecurity AND NOT pg_catalog.pg_has_role(c.relowner, 'USAGE') AS rls
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      ORDER BY 1, 2`)
  ).rows as { schema: string; name: string; unreadable: boolean; rls: boolean }[];
  const user = quoteIdent(endpoint.user);
  const out: Finding[] = [];
  const unreadable = blocked.filter((b) => b.unreadable);
  if (unreadable.length && !r.rolsuper) {
    const schemas = [...new Set(unreadable.map((u) => quoteIdent(u.schema)))];
    const fix =
      versionNum >= 140000
        ? `GRANT pg_read_all_data TO ${user};`
        : schemas.map((s) => `GRANT USAGE ON SCHEMA ${s} TO ${user}; GRANT SELECT ON ALL TABLES IN SCHEMA ${s} TO ${user}; GRANT SELECT ON ALL SEQUENCES IN SCHEMA ${s} TO ${user};`).join(' ');
    out.push(fail(subject, 'privileges.backup', `${endpoint.user} cannot read ${unreadable.length} tables or sequences (${list(unreadable)})`, fix));
  }
  const rls = blocked.filter((b) => b.rls);
  if (rls.length && !r.rolsuper && !r.rolbypassrls) {
    out.push(fail(subject, 'privileges.backup', `row-level security hides rows of ${list(rls)} from ${endpoint.user}, so a backup of them fails`, `ALTER ROLE ${user} BYPASSRLS;`));
  }
  if (!out.length) out.push(ok(subject, 'privileges.backup', `${endpoint.user} can read all ${blocked.length} tables and sequences of ${endpoint.database}`));
  return out;
};

/** Told, not warned: a backup-only role is what least privilege asks for; restores then run as another role. */
const restorePrivileges: PgCheck = async ({ client, endpoint, subject }) => {
  const r = await role(client);
  if (r.rolsuper || (r.db_create && r.rolcreatedb)) return [ok(subject, 'privileges.restore', `${endpoint.user} may restore here (CREATE on ${endpoint.database}) and create databases (--create)`)];
  const lacks = [...(r.db_create ? [] : [`CREATE on database ${endpoint.database}`]), ...(r.rolcreatedb ? [] : ['CREATEDB (restore --create)'])];
  const fix = `Restore as a role that owns the target database, or: ${[
    ...(r.db_create ? [] : [`GRANT CREATE ON DATABASE ${quoteIdent(endpoint.database)} TO ${quoteIdent(endpoint.user)};`]),
    ...(r.rolcreatedb ? [] : [`ALTER ROLE ${quoteIdent(endpoint.user)} CREATEDB;`]),
  ].join(' ')}`;
  return [{ ...ok(subject, 'privileges.restore', `${endpoint.user} is a backup-only role here: it lacks ${lacks.join(' and ')}, which a restore as it needs`), fix }];
};

/** What the role holds beyond a backup's needs (a superuser, role creation, write-all). */
const extraPrivileges: PgCheck = async ({ client, endpoint, subject, incremental }) => {
  const r = await role(client);
  const writeAll = (await client.query("SELECT pg_catalog.pg_has_role(current_user, oid, 'MEMBER') AS m FROM pg_catalog.pg_roles WHERE rolname = 'pg_write_all_data'")).rows[0]?.m === true;
  const extra = [...(r.rolsuper ? ['SUPERUSER'] : []), ...(r.rolcreaterole ? ['CREATEROLE'] : []), ...(writeAll && !r.rolsuper ? ['pg_write_all_data'] : [])];
  if (!extra.length) return [ok(subject, 'privileges.extra', `${endpoint.user} holds nothing a backup does not need`)];
  const need = `pg_read_all_data${incremental ? ' and REPLICATION' : ''}`;
  return [
    warn(
      subject,
      'privileges.extra',
      `${endpoint.user} has ${extra.join(', ')}, more than a backup needs (${need})`,
      `Back up with a role of its own: CREATE ROLE dbbackup LOGIN; GRANT pg_read_all_data TO dbbackup;${incremental ? ' ALTER ROLE dbbackup REPLICATION;' : ''}.`,
    ),
  ];
};

interface CaptureRow {
  wal_level: string;
  max_slots: number;
  used_slots: number;
  max_senders: number;
}

/** Logical decoding for incrementals: wal_level, slots, WAL senders, the REPLICATION attribute. */
const capture: PgCheck = async ({ client, endpoint, subject, incremental }) => {
  const s = (
    await client.query(`SELECT current_setting('wal_level') AS wal_level, current_setting('max_replication_slots')::int AS max_slots,
      (SELECT count(*) FROM pg_catalog.pg_replication_slots)::int AS used_slots, current_setting('max_wal_senders')::int AS max_senders`)
  ).rows[0] as CaptureRow;
  const r = await role(client);
  const problems: [string, string][] = [];
  if (s.wal_level !== 'logical') problems.push([`wal_level is ${s.wal_level}, not logical`, 'ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL.']);
  if (s.used_slots >= s.max_slots) problems.push([`all ${s.max_slots} replication slots are taken`, 'Raise max_replication_slots (and restart), or drop an unused slot with pg_drop_replication_slot().']);
  if (s.max_senders < 1) problems.push(['max_wal_senders is 0', 'ALTER SYSTEM SET max_wal_senders = 10; then restart PostgreSQL.']);
  if (!r.rolreplication && !r.rolsuper) problems.push([`${endpoint.user} lacks the REPLICATION attribute`, `ALTER ROLE ${quoteIdent(endpoint.user)} REPLICATION; (managed services: their replication role, e.g. rds_replication).`]);
  if (!problems.length) return [ok(subject, 'incremental', `ready for change capture: wal_level=logical, ${s.max_slots - s.used_slots} free replication slots, REPLICATION granted`)];
  const message = `incremental backups need logical decoding: ${problems.map((p) => p[0]).join('; ')}`;
  const fix = problems.map((p) => p[1]).join(' ');
  if (incremental) return [fail(subject, 'incremental', message, fix)];
  return [{ ...ok(subject, 'incremental', `${message} (only full backups are configured, so nothing breaks now)`), fix }];
};

/**
 * The capture slots of the source (CaptureSlots.list, of its capture name; every dbbackup slot of
 * the database when doctor names no source): each one's retained WAL and wal_status, a warning past
 * the slot-warn-bytes threshold or when at risk, a failure when the server invalidated it.
 */
const slots: PgCheck = async ({ endpoint, subject, incremental, source, slotWarnBytes }) => {
  const port: CaptureSlots = new PostgresCaptureSlots(endpoint);
  const found = await port.list(source === undefined ? undefined : port.captureNameOf(source));
  if (found.length === 0) {
    return incremental ? [ok(subject, 'slots', 'no capture slot yet: the next full backup with capture (--capture changes) creates one')] : [];
  }
  return found.map((s) => {
    const held = s.retainedBytes === null ? 'no WAL retained (none reserved)' : `${mib(s.retainedBytes)} of WAL retained`;
    const text = `slot ${s.name}: ${held}, wal_status ${s.serverStatus ?? 'unknown'}${s.safeBytes !== null ? `, ${mib(s.safeBytes)} more before the server may invalidate it` : ''}${s.active ? ', in use now' : ''}`;
    const [problem] = slotWarnings([s], slotWarnBytes);
    if (!problem) return ok(subject, 'slots', `${text} (under the ${mib(slotWarnBytes)} warning threshold)`);
    if (s.health === 'lost') return fail(subject, 'slots', text, problem);
    return warn(subject, 'slots', text, problem);
  });
};

/**
 * Tables logical decoding cannot follow (no primary key or replica identity), when the source takes
 * incrementals: incrementals read them whole at each backup (no point in time between two backups),
 * replicate refuses them (E_KEYLESS_TABLES) unless --replica-identity-full.
 */
const keyless: PgCheck = async ({ client, subject, incremental }) => {
  if (!incremental) return [];
  const left = await unfollowedTables(client);
  if (left.length === 0) return [ok(subject, 'keyless', 'every table has a primary key or replica identity: change capture follows them all')];
  const shown = `${left.slice(0, 5).join(', ')}${left.length > 5 ? `, … ${left.length - 5} more` : ''}`;
  return [
    warn(
      subject,
      'keyless',
      `${left.length} table${left.length > 1 ? 's' : ''} without a primary key or replica identity (${shown}): incrementals read ${left.length > 1 ? 'them' : 'it'} whole at each backup, and replicate refuses ${left.length > 1 ? 'them' : 'it'} (E_KEYLESS_TABLES)`,
      'Give each a primary key, or take the capture full (or replicate) with --replica-identity-full, which sets REPLICA IDENTITY FULL on them with your consent.',
    ),
  ];
};

function mib(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(2)} GiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

/** A restore into this database that was killed or failed part-way left its mark (restore-marker.ts). */
const incompleteRestore: PgCheck = async ({ client, subject }) => {
  const marker = await readMarker(client);
  if (!marker) return [ok(subject, 'incomplete-restore', 'no unfinished restore')];
  return [fail(subject, 'incomplete-restore', `the database holds an incomplete restore: ${describeMarker(marker)}`, 'Restore it again with --clean (or drop the database and restore with --create).')];
};

/** The PostgreSQL checks, in order. */
export const POSTGRES_CHECKS: PgCheck[] = [version, tls, backupPrivileges, restorePrivileges, extraPrivileges, capture, slots, keyless, incompleteRestore];

/** `doctor` for a PostgreSQL source: connects as a backup does, then runs POSTGRES_CHECKS on the one connection. */
export async function diagnosePostgres(endpoint: PgEndpoint, options: Record<string, unknown> | undefined, request: DiagnosisRequest, checks = POSTGRES_CHECKS): Promise<Finding[]> {
  const subject = request.subject;
  let client: pg.Client;
  try {
    client = await openClient(endpoint);
  } catch (err) {
    const message = isDbBackupError(err) ? `${err.code}: ${err.message}` : (err as Error).message;
    const fix = isDbBackupError(err, 'E_AUTH')
      ? 'Check the user and password (password-env, PGPASSWORD or ~/.pgpass).'
      : 'Check host and port, that the server runs and listens there (listen_addresses), and pg_hba.conf lets this machine in.';
    return [fail(subject, 'reachability', message, fix)];
  }
  try {
    const versionNum = Number((await client.query('SHOW server_version_num')).rows[0].server_version_num);
    const ctx: PgCheckContext = {
      client,
      endpoint,
      subject,
      incremental: request.incremental || wantsCapture(options),
      versionNum,
      ...(request.source !== undefined ? { source: request.source } : {}),
      slotWarnBytes: request.slotWarnBytes ?? DEFAULT_SLOT_WARN_BYTES,
    };
    const out = [ok(subject, 'reachability', `connected as ${describeEndpoint(endpoint)}`)];
    for (const check of checks) {
      try {
        out.push(...(await check(ctx)));
      } catch (err) {
        out.push(fail(subject, 'check', `a check could not run: ${(err as Error).message}`, 'Rerun with --verbose; the role may lack access to the catalogs.'));
      }
    }
    return out;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function list(rows: { schema: string; name: string }[]): string {
  const names = rows.slice(0, 5).map((r) => `${r.schema}.${r.name}`);
  return `${names.join(', ')}${rows.length > 5 ? `, … ${rows.length - 5} more` : ''}`;
}
