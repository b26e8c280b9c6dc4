import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, type TLSSocket } from 'node:tls';
import mysql from 'mysql2/promise';
import type { ConnectionTarget } from '../../../application/ports/connection-target.js';
import { DbBackupError } from '../../../domain/errors.js';
import { statementHead, statementTraits, type WatchedStream, watchReads } from '../../../infrastructure/read-watchdog.js';
import { channelOf, warnUnprotectedConnection } from '../connection-security.js';
import { DEFAULT_IO_TIMEOUT_MS, ioTimeoutMs, KEEPALIVE_IDLE_MS, networkTimeout } from '../io-timeout.js';
import { lockWaitMs } from '../lock-wait-timeout.js';
import { noticeLoss } from './mysql-connection-loss.js';
import { canPrompt, promptPasswordOnce } from '../password-prompt.js';

/** TLS modes as the mysql/mariadb clients name them (`--ssl-mode`). */
export const sslModes = ['DISABLED', 'PREFERRED', 'REQUIRED', 'VERIFY_CA', 'VERIFY_IDENTITY'] as const;
export type SslMode = (typeof sslModes)[number];

/**
 * Where and how to connect, resolved once from a ConnectionTarget. `databases` is what the user
 * named (a comma-separated `--database a,b` or the URL path); `password` never leaves this module
 * except inside mysql2's options.
 */
export interface MysqlEndpoint {
  host?: string;
  port?: number;
  socketPath?: string;
  user: string;
  password?: string;
  databases: string[];
  allDatabases: boolean;
  sslMode: SslMode;
  ssl?: { ca?: string; cert?: string; key?: string };
  /** Restore only: the database name to restore into (renaming). */
  targetDatabase?: string;
  /** Restore only: create missing databases. */
  create: boolean;
  /** Connections used at once by a restore. */
  restoreParallel?: number;
  /** Restore only: connections replaying a chain's binary log at once (`--replay-connections`). */
  replayConnections?: number;
  /** Restore only: `keep` skips the source transactions whose GTID the target holds and carries the others' (`--replay-gtids`, MariaDB). */
  replayGtids: 'keep' | 'off';
  /** Restore only: after a chain's replay with GTIDs, set the MariaDB target's gtid_slave_pos to the position reached (`--set-gtid-slave-pos`). */
  setGtidSlavePos: boolean;
  /** Restore only: write the restore to the binary log (the default, so replicas of the target follow it); `?binlog=off` skips it when the user may. */
  restoreBinlog: boolean;
  /** Data parts are split after this many raw bytes (at a row boundary). */
  partSize: number;
  /** Backup only: how long a lock wait may last (`--lock-wait-timeout`; 0: as long as it takes). */
  lockWaitMs: number;
  /** The idle-read timeout of every connection (`--io-timeout`; 0: none); unset: the default. */
  ioTimeoutMs?: number;
}

export type MysqlConnection = mysql.Connection;

export { closeConnection, connectionLost, destroyConnection, whenClosed } from './mysql-connection-loss.js';

const DEFAULT_PART_SIZE = 256 * 1024 * 1024;

/** Reads --url / --host … / options into an endpoint; throws E_USAGE naming the bad flag. */
export function resolveEndpoint(target: ConnectionTarget, env: NodeJS.ProcessEnv = process.env): MysqlEndpoint {
  const opts = target.options ?? {};
  let host = target.host;
  let port = target.port;
  let user = target.user;
  let password = target.password;
  let database = target.database;
  let sslMode = stringOpt(opts.sslMode);
  let socketPath = stringOpt(opts.socket);
  let binlog = stringOpt(opts.binlog);
  if (target.url) {
    let url: URL;
    try {
      url = new URL(target.url);
    } catch {
      throw new DbBackupError('E_USAGE', 'The --url is not a valid URL; write it as mysql://user@host:3306/database.');
    }
    if (!['mysql:', 'mariadb:'].includes(url.protocol)) {
      throw new DbBackupError('E_USAGE', `A MySQL --url starts with mysql:// or mariadb://; got ${url.protocol}//.`);
    }
    host ??= url.hostname.replace(/^\[|\]$/g, '') || undefined;
    port ??= url.port ? Number(url.port) : undefined;
    user ??= url.username ? decodeURIComponent(url.username) : undefined;
    password ??= url.password ? decodeURIComponent(url.password) : undefined;
    const path = decodeURIComponent(url.pathname.replace(/^\//, ''));
    database ??= path || undefined;
    sslMode ??= url.searchParams.get('ssl-mode') ?? url.searchParams.get('sslmode') ?? undefined;
    socketPath ??= url.searchParams.get('socket') ?? undefined;
    binlog ??= url.searchParams.get('binlog') ?? undefined;
  }
  password ??= env.MYSQL_PWD;
  const mode = (sslMode ?? 'PREFERRED').toUpperCase().replace(/-/g, '_');
  if (!(sslModes as readonly string[]).includes(mode)) {
    throw new DbBackupError('E_USAGE', `--ssl-mode must be one of ${sslModes.join(', ')}; got "${sslMode}".`);
  }
  if (mode === 'VERIFY_CA' && !stringOpt(opts.sslCa)) {
    // As the mysql client: without a CA, "verify" would mean any public CA for any host.
    throw new DbBackupError('E_USAGE', '--ssl-mode VERIFY_CA needs --ssl-ca FILE, the CA that signed the server certificate (or use VERIFY_IDENTITY, which also checks the host name).');
  }
  const ssl = {
    ca: readPem(opts.sslCa, '--ssl-ca'),
    cert: readPem(opts.sslCert, '--ssl-cert'),
    key: readPem(opts.sslKey, '--ssl-key'),
  };
  const partSize = typeof opts.partSize === 'number' && opts.partSize > 0 ? opts.partSize : DEFAULT_PART_SIZE;
  return {
    host: socketPath ? undefined : (host ?? 'localhost'),
    port: socketPath ? undefined : (port ?? 3306),
    socketPath,
    user: user ?? env.USER ?? 'root',
    password,
    databases: (database ?? '').split(',').map((d) => d.trim()).filter((d) => d !== ''),
    allDatabases: opts.allDatabases === true,
    sslMode: mode as SslMode,
    ssl: ssl.ca || ssl.cert || ssl.key ? ssl : undefined,
    targetDatabase: stringOpt(opts.targetDatabase),
    create: opts.create === true,
    restoreParallel: typeof opts.parallel === 'number' ? opts.parallel : undefined,
    replayConnections: typeof opts.replayConnections === 'number' && opts.replayConnections >= 1 ? Math.floor(opts.replayConnections) : undefined,
    replayGtids: replayGtids(opts.replayGtids),
    setGtidSlavePos: opts.setGtidSlavePos === true,
    restoreBinlog: binlog === undefined ? true : onOff(binlog, 'binlog'),
    partSize,
    lockWaitMs: lockWaitMs(opts.lockWaitTimeout),
    ioTimeoutMs: ioTimeoutMs(opts.ioTimeout, env),
  };
}

function replayGtids(value: unknown): 'keep' | 'off' {
  if (value === undefined || value === 'off') return 'off';
  if (value === 'keep') return 'keep';
  throw new DbBackupError('E_USAGE', `--replay-gtids is keep or off; got "${String(value)}".`);
}

function onOff(value: string | undefined, name: string): boolean {
  if (value === undefined) return false;
  if (/^(on|1|true|yes)$/i.test(value)) return true;
  if (/^(off|0|false|no)$/i.test(value)) return false;
  throw new DbBackupError('E_USAGE', `${name} must be on or off; got "${value}".`);
}

/** `user@host:port` or `user@socket` for messages; never the password. */
export function describeEndpoint(e: MysqlEndpoint): string {
  return e.socketPath ? `${e.user}@${e.socketPath}` : `${e.user}@${e.host}:${e.port}`;
}

/**
 * Opens one connection. Strings come back as raw bytes only where a caller asks (typeCast per
 * query); numbers and dates as text, so nothing is rounded or shifted on the way. With no password
 * from any source (--password-env, the URL, MYSQL_PWD, the config), a login the server refuses for
 * want of one is retried once with a password typed at a terminal prompt (asked once per run and
 * endpoint; kept on `e` for the run's other connections), as the PostgreSQL connector does.
 */
export async function openConnection(e: MysqlEndpoint, extra: mysql.ConnectionOptions = {}): Promise<MysqlConnection> {
  try {
    return await connectOnce(e, extra);
  } catch (err) {
    if (e.password !== undefined || !needsPassword(err) || !canPrompt()) throw err;
    e.password = await promptPasswordOnce(`mysql ${describeEndpoint(e)}`, `Password for ${describeEndpoint(e)}: `);
    return connectOnce(e, extra);
  }
}

/** A refused login that gave no password ("using password: NO"). */
function needsPassword(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause ?? (err as { code?: string; message?: string });
  return /ACCESS_DENIED/.test(cause.code ?? '') && /using password: NO/i.test(cause.message ?? '');
}

/** The login's limit: 20 s, or the idle-read timeout when that is shorter. */
function connectTimeoutOf(e: MysqlEndpoint): number {
  return Math.min(20_000, e.ioTimeoutMs || 20_000);
}

async function connectOnce(e: MysqlEndpoint, extra: mysql.ConnectionOptions): Promise<MysqlConnection> {
  const base: mysql.ConnectionOptions = {
    host: e.host,
    port: e.port,
    socketPath: e.socketPath,
    user: e.user,
    password: e.password,
    charset: 'UTF8MB4_GENERAL_CI',
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    connectTimeout: connectTimeoutOf(e),
    enableKeepAlive: true,
    keepAliveInitialDelay: KEEPALIVE_IDLE_MS,
    ...extra,
  };
  const tls = tlsOptions(e);
  let conn: MysqlConnection;
  try {
    conn = await mysql.createConnection({ ...base, ssl: tls });
  } catch (err) {
    // PREFERRED: use TLS when the server offers it, else connect in the clear (as the mysql client does).
    if (!(e.sslMode === 'PREFERRED' && tls && /secure connection|SSL/i.test((err as Error).message))) throw connectError(err, e);
    try {
      conn = await mysql.createConnection(base);
    } catch (again) {
      throw connectError(again, e);
    }
  }
  watchIdleReads(conn, e);
  noticeLoss(conn);
  const socket = (conn as unknown as { connection: { stream?: unknown } }).connection.stream;
  try {
    checkIpIdentity(socket, e);
  } catch (err) {
    conn.destroy();
    throw err;
  }
  warnUnprotectedConnection(
    'MySQL',
    e.socketPath ?? e.host,
    describeEndpoint(e).replace(/^[^@]*@/, ''),
    channelOf(socket, e.sslMode === 'VERIFY_CA' || e.sslMode === 'VERIFY_IDENTITY'),
    `Use --ssl-mode VERIFY_IDENTITY (${e.sslMode} now) with the server's CA in --ssl-ca FILE.`,
  );
  return conn;
}

interface CoreState {
  stream?: WatchedStream;
  _closing?: boolean;
  _command?: { sql?: string; description?: string } | null;
}

/**
 * The connection's idle-read timeout (read-watchdog.ts): a command waiting for its answer (the
 * binary log stream included: the server's heartbeats keep it talking) with no byte for
 * --io-timeout fails with E_NETWORK_TIMEOUT. The login itself is bounded by connectTimeout.
 */
function watchIdleReads(conn: MysqlConnection, e: MysqlEndpoint): void {
  const core = (conn as unknown as { connection: CoreState }).connection;
  const timeoutMs = e.ioTimeoutMs ?? DEFAULT_IO_TIMEOUT_MS;
  ioTimeouts.set(conn, timeoutMs);
  watchReads({
    stream: () => core.stream,
    waitingFor: () => {
      const raw = rawRunning.get(conn);
      if (raw !== undefined) return { what: `a query waited for its answer (${statementHead(raw)})`, request: raw };
      const cmd = core._command;
      if (!cmd) return core._closing ? { what: 'closing the connection' } : undefined;
      const text = cmd.sql ?? '';
      const traits = statementTraits(cmd, text);
      if (traits.quiet) return undefined;
      return { what: cmd.description ?? `a query waited for its answer (${statementHead(text) || 'a command'})`, sending: traits.sending, request: cmd };
    },
    timeoutMs,
    onTimeout: (what, waitedMs) => networkTimeout('MySQL', describeEndpoint(e).replace(/^[^@]*@/, ''), what, waitedMs),
  });
}

const ioTimeouts = new WeakMap<object, number>();
const rawRunning = new WeakMap<object, string>();

/**
 * Marks `conn` as running `sql` outside mysql2's command queue (mysql-raw-query.ts), so that its
 * idle-read timeout applies; undefined when it is done.
 */
export function runningOutsideDriver(conn: MysqlConnection, sql: string | undefined): void {
  if (sql === undefined) rawRunning.delete(conn);
  else rawRunning.set(conn, sql);
}

/**
 * Why a connection's socket closed, when it was destroyed with an error of ours (the idle-read
 * timeout's E_NETWORK_TIMEOUT); undefined for a plain close. Readers that see only 'close' report it
 * instead of a generic "the connection closed".
 */
export function closeReason(stream: unknown): DbBackupError | undefined {
  const errored = (stream as { errored?: unknown } | undefined)?.errored;
  return errored instanceof DbBackupError ? errored : undefined;
}

/** The idle-read timeout `conn` was opened with (0: none): the binary log stream sizes its heartbeats by it. */
export function ioTimeoutOf(conn: MysqlConnection): number {
  return ioTimeouts.get(conn) ?? DEFAULT_IO_TIMEOUT_MS;
}

/**
 * VERIFY_IDENTITY with an IP address: mysql2 checks the host name only for names, so the
 * certificate's IP entries are checked here, once the connection is made (the login went over TLS
 * to a server whose certificate the CA signed).
 */
function checkIpIdentity(socket: unknown, e: MysqlEndpoint): void {
  if (e.sslMode !== 'VERIFY_IDENTITY' || !e.host || isIP(e.host) === 0 || (socket as Partial<TLSSocket>)?.encrypted !== true) return;
  const failure = checkServerIdentity(e.host, (socket as TLSSocket).getPeerCertificate());
  if (failure) {
    throw new DbBackupError(
      'E_CONN_REFUSED',
      `The TLS certificate of the MySQL server at ${e.host}:${e.port} does not name ${e.host} (${failure.message}); connect with a name it lists, or use --ssl-mode VERIFY_CA to check the CA only.`,
      { details: { tls: true } },
    );
  }
}

function tlsOptions(e: MysqlEndpoint): mysql.SslOptions | undefined {
  const local = e.socketPath !== undefined || e.host === 'localhost' || e.host === '127.0.0.1' || e.host === '::1';
  if (e.sslMode === 'DISABLED' || (e.sslMode === 'PREFERRED' && local && !e.ssl)) return undefined;
  const verify = e.sslMode === 'VERIFY_CA' || e.sslMode === 'VERIFY_IDENTITY';
  // mysql2 checks the host name only with verifyIdentity (its own checkServerIdentity replaces ours),
  // and for an IP address it would check "localhost": IP hosts are checked by checkIpIdentity.
  const verifyIdentity = e.sslMode === 'VERIFY_IDENTITY' && isIP(e.host ?? '') === 0;
  return { ...(e.ssl ?? {}), rejectUnauthorized: verify, verifyIdentity } as mysql.SslOptions;
}

/** Maps driver errors to E_CONN_REFUSED / E_AUTH with what to check; other errors pass through. */
export function connectError(err: unknown, e: MysqlEndpoint): unknown {
  const code = (err as { code?: string }).code ?? '';
  const where = describeEndpoint(e);
  if (code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR' || code === 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR') {
    return new DbBackupError(
      'E_AUTH',
      `MySQL refused the login ${where}; check the user and the password (--password-env VAR or MYSQL_PWD, or run in a terminal to be prompted).`,
      { cause: err, details: { code } },
    );
  }
  // An account locked by an administrator (ALTER USER … ACCOUNT LOCK): MariaDB's errno 4151, MySQL's 3118.
  if (code === 'ER_ACCOUNT_HAS_BEEN_LOCKED' || ((err as { errno?: number }).errno === 4151 && /locked/i.test((err as Error).message ?? ''))) {
    return new DbBackupError('E_AUTH', `MySQL refused the login ${where}: the account is locked; ask the server's administrator to unlock it (ALTER USER … ACCOUNT UNLOCK).`, {
      cause: err,
      details: { code: code || 'ER_ACCOUNT_HAS_BEEN_LOCKED' },
    });
  }
  if (code === 'ETIMEDOUT' && !(err instanceof DbBackupError)) {
    // No answer to the login within connectTimeout (the network passes nothing): as a silent connection.
    return networkTimeout('MySQL', where.replace(/^[^@]*@/, ''), 'connecting', connectTimeoutOf(e));
  }
  if (['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOENT', 'EACCES', 'ECONNRESET'].includes(code) || /secure connection|SSL|certificate/i.test((err as Error).message ?? '')) {
    return new DbBackupError(
      'E_CONN_REFUSED',
      `Cannot connect to MySQL at ${where} (${code || (err as Error).message}); check that the server runs and the host, port, socket and --ssl-mode are right.`,
      { cause: err, details: { code, tls: /certificate/i.test((err as Error).message ?? '') } },
    );
  }
  return err;
}

function stringOpt(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function readPem(value: unknown, flag: string): string | undefined {
  const path = stringOpt(value);
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new DbBackupError('E_USAGE', `Cannot read the ${flag} file ${path}: ${(err as Error).message}.`, { cause: err });
  }
}

/** Quotes an identifier with backticks (`a``b`). */
export function qi(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** `db`.`name` */
export function qn(db: string, name: string): string {
  return `${qi(db)}.${qi(name)}`;
}

/** A SQL string literal for the default sql_mode (backslash escapes on). */
export function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\0/g, '\\0').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\x1a/g, '\\Z')}'`;
}
