import type { DiagnosisRequest } from '../../../application/ports/database-diagnosis.js';
import { readTargetState } from './mysql-restore-scope.js';
import { describeMarker } from '../restore-marker.js';
import { fail, type Finding, ok, warn } from '../../../domain/diagnosis.js';
import { isDbBackupError } from '../../../domain/errors.js';
import { type MysqlConnection, type MysqlEndpoint, closeConnection, describeEndpoint, openConnection } from './mysql-connection.js';
import { chooseDatabases } from './mysql-dump.js';

/** The current user's privileges from SHOW GRANTS: global ones, and per database. */
export interface Grants {
  global: Set<string>;
  databases: Map<string, Set<string>>;
}

export interface MysqlCheckContext {
  conn: MysqlConnection;
  endpoint: MysqlEndpoint;
  subject: string;
  databases: string[];
  grants: Grants;
  /** The config takes incremental/differential backups of it: missing binlog settings fail. */
  incremental: boolean;
}

/** One MySQL/MariaDB doctor check; MYSQL_CHECKS is the list `doctor` runs. */
export type MysqlCheck = (ctx: MysqlCheckContext) => Promise<Finding[]>;

const BACKUP = ['SELECT', 'SHOW VIEW', 'TRIGGER', 'EVENT'];
const RESTORE = ['CREATE', 'DROP', 'ALTER', 'INDEX', 'INSERT', 'CREATE VIEW', 'TRIGGER', 'CREATE ROUTINE', 'ALTER ROUTINE', 'EVENT', 'REFERENCES'];
/** Held globally, these reach beyond what a backup (or a restore) needs. */
const EXTRA = ['ALL PRIVILEGES', 'SUPER', 'FILE', 'SHUTDOWN', 'CREATE USER', 'GRANT OPTION'];

/** Parses SHOW GRANTS lines (`GRANT a, b ON `db`.* TO …`); table and column grants are left out. */
export function parseGrants(lines: string[]): Grants {
  const grants: Grants = { global: new Set(), databases: new Map() };
  for (const line of lines) {
    const m = /^GRANT (.+?) ON (\S+) TO /.exec(line);
    if (!m) continue;
    const privs = m[1]!.split(/,\s*/).map((p) => p.trim().toUpperCase());
    if (/WITH GRANT OPTION/i.test(line)) privs.push('GRANT OPTION');
    if (m[2] === '*.*') for (const p of privs) grants.global.add(p);
    else {
      const db = /^`((?:[^`]|``)+)`\.\*$/.exec(m[2]!)?.[1]?.replace(/``/g, '`').replace(/\\_/g, '_');
      if (!db) continue;
      const set = grants.databases.get(db) ?? new Set<string>();
      for (const p of privs) set.add(p);
      grants.databases.set(db, set);
    }
  }
  return grants;
}

function has(grants: Grants, privilege: string, db?: string): boolean {
  const all = (set: Set<string> | undefined) => set?.has(privilege) || set?.has('ALL PRIVILEGES') || set?.has('ALL');
  return Boolean(all(grants.global) || (db !== undefined && all(grants.databases.get(db))));
}

const version: MysqlCheck = async ({ conn, subject }) => {
  const [rows] = await conn.query('SELECT VERSION() AS v');
  return [ok(subject, 'version', `server ${(rows as { v: string }[])[0]!.v}`)];
};

const tls: MysqlCheck = async ({ conn, endpoint, subject }) => {
  const [rows] = await conn.query("SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_cipher', 'Ssl_version')");
  const status = Object.fromEntries((rows as { Variable_name: string; Value: string }[]).map((r) => [r.Variable_name, r.Value]));
  if (status.Ssl_cipher) {
    const text = `encrypted (${status.Ssl_version}, ${status.Ssl_cipher})`;
    if (endpoint.sslMode === 'VERIFY_IDENTITY') return [ok(subject, 'tls', `${text}; the server's certificate and name are verified`)];
    return [warn(subject, 'tls', `${text}, but ssl-mode=${endpoint.sslMode} does not verify the server's certificate and name`, 'Set ssl-mode: VERIFY_IDENTITY (with ssl-ca: the CA file if the server\'s CA is private).')];
  }
  if (endpoint.socketPath || /^(localhost|127\.|::1$)/.test(endpoint.host ?? '')) return [ok(subject, 'tls', `not encrypted (a local connection)`)];
  return [warn(subject, 'tls', `not encrypted: passwords and data cross the network in clear to ${endpoint.host}`, 'Give the server a certificate (ssl_cert/ssl_key) and set ssl-mode: VERIFY_IDENTITY for this source.')];
};

const backupPrivileges: MysqlCheck = async ({ endpoint, grants, databases, subject }) => {
  const out: Finding[] = [];
  const user = `'${endpoint.user}'@'<host>'`;
  for (const db of databases) {
    const missing = BACKUP.filter((p) => !has(grants, p, db));
    if (missing.length) out.push(fail(subject, 'privileges.backup', `${endpoint.user} lacks ${missing.join(', ')} on ${db}`, `GRANT ${missing.join(', ')} ON \`${db}\`.* TO ${user};`));
  }
  if (!has(grants, 'RELOAD')) {
    out.push(warn(subject, 'privileges.backup', `${endpoint.user} lacks RELOAD, so backups read on one connection (--parallel is ignored)`, `GRANT RELOAD ON *.* TO ${user};`));
  }
  if (!['BINLOG MONITOR', 'REPLICATION CLIENT', 'SUPER'].some((p) => has(grants, p))) {
    out.push(warn(subject, 'privileges.backup', `${endpoint.user} cannot read the binary log position, so backups do not record it`, `GRANT BINLOG MONITOR ON *.* TO ${user}; (MySQL: REPLICATION CLIENT)`));
  }
  if (!out.length) out.push(ok(subject, 'privileges.backup', `${endpoint.user} has what a backup of ${databases.join(', ')} needs`));
  return out;
};

/** Told, not warned: a backup-only user is what least privilege asks for. */
const restorePrivileges: MysqlCheck = async ({ conn, endpoint, grants, databases, subject }) => {
  const missing = databases.flatMap((db) => RESTORE.filter((p) => !has(grants, p, db)).map((p) => `${p} on ${db}`));
  const [rows] = await conn.query('SELECT @@GLOBAL.local_infile AS v');
  const infile = Number((rows as { v: number | string }[])[0]?.v ?? 0) !== 0;
  const loading = infile ? '' : '; local_infile=OFF, so restores load with INSERTs (slower; SET GLOBAL local_infile=1)';
  if (!missing.length) return [ok(subject, 'privileges.restore', `${endpoint.user} may restore ${databases.join(', ')}${loading}`)];
  return [
    {
      ...ok(subject, 'privileges.restore', `${endpoint.user} is a backup-only user: a restore as it lacks ${missing.slice(0, 6).join(', ')}${missing.length > 6 ? ', …' : ''}${loading}`),
      fix: `Restore as a user with ${RESTORE.join(', ')} on the target database.`,
    },
  ];
};

const extraPrivileges: MysqlCheck = async ({ endpoint, grants, subject }) => {
  const extra = EXTRA.filter((p) => grants.global.has(p));
  if (!extra.length) return [ok(subject, 'privileges.extra', `${endpoint.user} holds nothing global beyond what a backup needs`)];
  return [
    warn(
      subject,
      'privileges.extra',
      `${endpoint.user} has ${extra.join(', ')} on *.*, more than a backup needs`,
      `Back up with a user of its own: CREATE USER 'dbbackup'@'<host>' IDENTIFIED BY '…'; GRANT ${BACKUP.join(', ')} ON \`<db>\`.* TO 'dbbackup'@'<host>'; GRANT RELOAD, BINLOG MONITOR ON *.* TO 'dbbackup'@'<host>';`,
    ),
  ];
};

/** Incrementals read the binary log: it must be on, in ROW format with full row images, and readable by the user. */
const binlog: MysqlCheck = async ({ conn, endpoint, grants, subject, incremental }) => {
  const [rows] = await conn.query('SELECT @@GLOBAL.log_bin AS log_bin, @@GLOBAL.binlog_format AS format, @@GLOBAL.binlog_row_image AS image');
  const r = (rows as { log_bin: number | string; format: string; image: string }[])[0]!;
  const problems: [string, string][] = [];
  if (Number(r.log_bin) !== 1 && String(r.log_bin).toUpperCase() !== 'ON') problems.push(['the binary log is off', 'Start the server with --log-bin --server-id=N --binlog-format=ROW.']);
  else {
    if (r.format !== 'ROW') problems.push([`binlog_format is ${r.format}, not ROW`, "SET GLOBAL binlog_format = 'ROW'; (and in the server's config)."]);
    if (r.image && r.image !== 'FULL') problems.push([`binlog_row_image is ${r.image}, not FULL`, "SET GLOBAL binlog_row_image = 'FULL'; (and in the server's config)."]);
  }
  const user = `'${endpoint.user}'@'<host>'`;
  if (!['REPLICATION SLAVE', 'REPLICATION REPLICA', 'SUPER'].some((p) => has(grants, p))) problems.push([`${endpoint.user} may not read the binary log`, `GRANT REPLICATION SLAVE ON *.* TO ${user};`]);
  if (!problems.length) return [ok(subject, 'incremental', `ready for incremental backups: binary log on, ROW format${r.image ? `, ${r.image} row images` : ''}, readable by ${endpoint.user}`)];
  const message = `incremental backups need the binary log: ${problems.map((p) => p[0]).join('; ')}`;
  const fix = problems.map((p) => p[1]).join(' ');
  if (incremental) return [fail(subject, 'incremental', message, fix)];
  return [{ ...ok(subject, 'incremental', `${message} (only full backups are configured, so nothing breaks now)`), fix }];
};

/** The MySQL/MariaDB checks, in order. */
/** A restore into these databases that was killed or failed part-way left its mark (restore-marker.ts). */
const incompleteRestore: MysqlCheck = async ({ conn, databases, subject }) => {
  const state = databases.length ? await readTargetState(conn, databases) : new Map();
  const marked = [...state].filter(([, s]) => s.incomplete);
  if (!marked.length) return [ok(subject, 'incomplete-restore', 'no unfinished restore')];
  return marked.map(([db, s]) =>
    fail(subject, 'incomplete-restore', `database ${db} holds an incomplete restore: ${describeMarker(s.incomplete!)}`, 'Restore it again with --clean (or into a new database).'),
  );
};

export const MYSQL_CHECKS: MysqlCheck[] = [version, tls, backupPrivileges, restorePrivileges, extraPrivileges, binlog, incompleteRestore];

/** `doctor` for a MySQL/MariaDB source: connects as a backup does, then MYSQL_CHECKS on that connection. */
export async function diagnoseMysql(endpoint: MysqlEndpoint, request: DiagnosisRequest): Promise<Finding[]> {
  const subject = request.subject;
  let conn: MysqlConnection;
  try {
    conn = await openConnection(endpoint);
  } catch (err) {
    const message = isDbBackupError(err) ? `${err.code}: ${err.message}` : (err as Error).message;
    const fix = isDbBackupError(err, 'E_AUTH') ? 'Check the user, its password and the host it may log in from.' : 'Check host, port or socket, that the server runs, and bind-address.';
    return [fail(subject, 'reachability', message, fix)];
  }
  try {
    const [rows] = await conn.query('SHOW GRANTS');
    const grants = parseGrants((rows as Record<string, string>[]).map((r) => Object.values(r)[0]!));
    const ctx: MysqlCheckContext = { conn, endpoint, subject, grants, databases: await chooseDatabases(conn, endpoint), incremental: request.incremental };
    const out = [ok(subject, 'reachability', `connected as ${describeEndpoint(endpoint)}`)];
    for (const check of MYSQL_CHECKS) {
      try {
        out.push(...(await check(ctx)));
      } catch (err) {
        out.push(fail(subject, 'check', `a check could not run: ${(err as Error).message}`, 'Rerun with --verbose.'));
      }
    }
    return out;
  } finally {
    await closeConnection(conn);
  }
}
