import { readFileSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type pg from 'pg';
import type { ConnectionTarget } from '../../../application/ports/connection-target.js';
import { DbBackupError } from '../../../domain/errors.js';
import { statementHead, statementTraits, type WatchedStream, watchReads } from '../../../infrastructure/read-watchdog.js';
import { channelOf, warnUnprotectedConnection } from '../connection-security.js';
import { DEFAULT_IO_TIMEOUT_MS, ioTimeoutMs, KEEPALIVE_IDLE_MS, networkTimeout } from '../io-timeout.js';
import { canPrompt, promptPasswordOnce } from '../password-prompt.js';
import { PgClient } from './pg-driver.js';

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
const SSL_MODES: SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];
/** --ssl-mode values as MySQL spells them, for one shared flag. */
const MYSQL_STYLE: Record<string, SslMode> = {
  DISABLED: 'disable',
  PREFERRED: 'prefer',
  REQUIRED: 'require',
  VERIFY_CA: 'verify-ca',
  VERIFY_IDENTITY: 'verify-full',
};

/** Where and how to connect; never logged whole (it may hold a password). */
export interface PgEndpoint {
  host: string;
  port: number;
  user: string;
  database: string;
  sslmode: SslMode;
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
  /** Explicit password (--password-env or the URL); otherwise PGPASSWORD, ~/.pgpass, a prompt. */
  password?: string;
  /** The idle-read timeout of every connection (`--io-timeout`; 0: none); unset: the default. */
  ioTimeoutMs?: number;
}

/**
 * Resolves a ConnectionTarget the way libpq would: --url, then --host/--port/--user/--database,
 * then PGHOST/PGPORT/PGUSER/PGDATABASE/PGSSLMODE, then libpq's defaults.
 */
export function resolveEndpoint(target: ConnectionTarget, env: NodeJS.ProcessEnv = process.env): PgEndpoint {
  let fromUrl: Partial<PgEndpoint> & { params?: URLSearchParams } = {};
  if (target.url) {
    let url: URL;
    try {
      url = new URL(target.url);
    } catch {
      throw new DbBackupError('E_USAGE', 'The --url is not a valid URL; write it as postgres://user@host:5432/database.');
    }
    if (!/^postgres(ql)?:$/.test(url.protocol)) {
      throw new DbBackupError('E_USAGE', `A PostgreSQL --url starts with postgres:// or postgresql://, not ${url.protocol}//.`);
    }
    const params = url.searchParams;
    fromUrl = {
      host: params.get('host') ?? (url.hostname ? decodeURIComponent(url.hostname.replace(/^\[|\]$/g, '')) : undefined),
      port: url.port ? Number(url.port) : params.get('port') ? Number(params.get('port')) : undefined,
      user: url.username ? decodeURIComponent(url.username) : (params.get('user') ?? undefined),
      password: url.password ? decodeURIComponent(url.password) : (params.get('password') ?? undefined),
      database: url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : (params.get('dbname') ?? undefined),
      params,
    };
  }
  const options = target.options ?? {};
  const given = options.sslmode ?? (typeof options.sslMode === 'string' ? MYSQL_STYLE[options.sslMode.toUpperCase()] ?? options.sslMode : undefined);
  const sslmode = String(given ?? fromUrl.params?.get('sslmode') ?? env.PGSSLMODE ?? 'prefer') as SslMode;
  if (!SSL_MODES.includes(sslmode)) {
    throw new DbBackupError('E_USAGE', `--sslmode must be one of ${SSL_MODES.join(', ')}; got "${sslmode}".`);
  }
  const user = target.user ?? fromUrl.user ?? env.PGUSER ?? userInfo().username;
  const port = target.port ?? fromUrl.port ?? (env.PGPORT ? Number(env.PGPORT) : 5432);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new DbBackupError('E_USAGE', `The port ${String(port)} is not valid.`);
  return {
    host: target.host ?? fromUrl.host ?? env.PGHOST ?? 'localhost',
    port,
    user,
    database: target.database ?? fromUrl.database ?? env.PGDATABASE ?? user,
    sslmode,
    sslrootcert: str(options.sslrootcert) ?? str(options.sslCa) ?? fromUrl.params?.get('sslrootcert') ?? env.PGSSLROOTCERT,
    sslcert: str(options.sslcert) ?? str(options.sslCert) ?? fromUrl.params?.get('sslcert') ?? env.PGSSLCERT,
    sslkey: str(options.sslkey) ?? str(options.sslKey) ?? fromUrl.params?.get('sslkey') ?? env.PGSSLKEY,
    password: target.password ?? fromUrl.password,
    ioTimeoutMs: ioTimeoutMs(options.ioTimeout, env),
  };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A short, password-free description for messages: `user@host:port/db`. */
export function describeEndpoint(e: PgEndpoint, database = e.database): string {
  return `${e.user}@${e.host}:${e.port}/${database}`;
}

/**
 * Session settings every dbbackup connection uses, so that catalog text and COPY output are
 * independent of the server's and the role's defaults (as pg_dump does).
 */
const SESSION_SETUP = [
  "SELECT pg_catalog.set_config('search_path', '', false)",
  "SET client_encoding = 'UTF8'",
  'SET standard_conforming_strings = on',
  "SET DateStyle = 'ISO, YMD'",
  'SET IntervalStyle = postgres',
  'SET extra_float_digits = 3',
  "SET TimeZone = 'UTC'",
  'SET statement_timeout = 0',
  'SET lock_timeout = 0',
  'SET idle_in_transaction_session_timeout = 0',
  'SET row_security = off',
  'SET xmloption = content',
  "SET client_min_messages = 'warning'",
].join(';\n');

/**
 * Servers (host:port) that answered this process's TLS request with "no TLS" (sslmode prefer/allow),
 * and when: for a minute their next connections skip the request (a long-running daemon asks again
 * after that, so a server that turns TLS on gets TLS connections).
 */
const PLAIN_SERVERS = new Map<string, number>();
const PLAIN_FOR_MS = 60_000;

/**
 * Opens a connection with our session settings. `database` overrides the endpoint's (used to reach
 * the maintenance database for CREATE DATABASE). Errors map to E_CONN_REFUSED / E_AUTH /
 * E_NOT_FOUND with messages that say what to try. `mode.replication` opens a walsender connection
 * (`replication=database`) that also takes replication commands (postgres-replication.ts);
 * `mode.pipeline` sends queries without waiting for the previous results (postgres-change-apply.ts).
 * `mode.settings` (SQL) runs right after our session settings, in the same round trip.
 */
export async function openClient(e: PgEndpoint, database = e.database, mode: { replication?: boolean; pipeline?: boolean; settings?: string } = {}): Promise<pg.Client> {
  const attempt = async (ssl: false | ConnectionOptions) => {
    const client = new PgClient({
      host: e.host,
      port: e.port,
      user: e.user,
      database,
      ssl,
      // Called only when the server asks for a password; a DbBackupError thrown here rejects connect().
      password: () => passwordFor(e, database),
      application_name: 'dbbackup',
      connectionTimeoutMillis: 30_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS,
      ...(mode.replication ? { replication: 'database' } : {}),
      ...(mode.pipeline ? { pipeline: true } : {}),
    } as pg.ClientConfig);
    client.on('error', () => {
      /* a dropped connection surfaces on the next query */
    });
    watchIdleReads(client, e);
    try {
      await client.connect();
      warnIfUnprotected(client, e);
      // A caller's own settings go in the same round trip (a restore's, per connection).
      await client.query(mode.settings ? `${SESSION_SETUP};\n${mode.settings}` : SESSION_SETUP);
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  };
  try {
    const ssl = sslOptions(e);
    const fallback = ssl !== false && (e.sslmode === 'prefer' || e.sslmode === 'allow');
    const server = `${e.host}:${e.port}`;
    // A server that just refused TLS is asked in plain text at once: libpq falls back on the same
    // socket, node-postgres needs a second connection (and the server a second backend) for each
    // of a run's sessions otherwise.
    if (fallback && Date.now() - (PLAIN_SERVERS.get(server) ?? -Infinity) < PLAIN_FOR_MS) return await attempt(false);
    try {
      return await attempt(ssl);
    } catch (err) {
      // 'prefer' and 'allow' fall back to a plain connection when the server has no TLS.
      if (fallback && /does not support SSL/i.test(String((err as Error).message))) {
        PLAIN_SERVERS.set(server, Date.now());
        return await attempt(false);
      }
      throw err;
    }
  } catch (err) {
    throw connectionError(err, e, database);
  }
}

interface PgClientState {
  connection?: { stream?: WatchedStream };
  _connecting?: boolean;
  _ending?: boolean;
  _activeQuery?: { text?: string } | null;
  _queryQueue?: { text?: string }[];
}

/**
 * The connection's idle-read timeout (read-watchdog.ts): connecting, closing, or a query waiting
 * for its answer (a COPY or replication stream included: the server's keepalives answer the
 * stream's status updates) with no byte for --io-timeout fails with E_NETWORK_TIMEOUT.
 */
function watchIdleReads(client: pg.Client, e: PgEndpoint): void {
  const c = client as unknown as PgClientState;
  const timeoutMs = e.ioTimeoutMs ?? DEFAULT_IO_TIMEOUT_MS;
  watchReads({
    stream: () => c.connection?.stream,
    waitingFor: () => {
      if (c._connecting) return { what: 'connecting' };
      if (c._ending) return { what: 'closing the connection' };
      const q = c._activeQuery ?? c._queryQueue?.[0];
      if (!q) return undefined;
      const text = typeof q.text === 'string' ? q.text : '';
      const traits = statementTraits(q, text);
      if (traits.quiet) return undefined;
      return { what: `a query waited for its answer (${statementHead(text) || 'a statement'})`, sending: traits.sending, request: q };
    },
    timeoutMs,
    onTimeout: (what, waitedMs) => networkTimeout('PostgreSQL', `${e.host}:${e.port}`, what, waitedMs),
  });
}

function sslOptions(e: PgEndpoint): false | ConnectionOptions {
  if (e.sslmode === 'disable' || e.host.startsWith('/')) return false;
  const read = (p: string | undefined) => (p ? readFileSync(p) : undefined);
  const verify = e.sslmode === 'verify-ca' || e.sslmode === 'verify-full';
  let ca: Buffer | undefined;
  if (verify) {
    const rootcert = e.sslrootcert ?? join(homedir(), '.postgresql', 'root.crt');
    if (e.sslmode === 'verify-ca' && e.sslrootcert === 'system') {
      // As libpq: any public CA vouches for any name, so the public roots need the host-name check.
      throw new DbBackupError('E_USAGE', '--sslmode verify-ca cannot use sslrootcert=system (any public CA would do for any host); use --sslmode verify-full, or name the CA file.');
    }
    try {
      ca = e.sslrootcert === 'system' ? undefined : readFileSync(rootcert);
    } catch {
      if (e.sslrootcert) throw new DbBackupError('E_USAGE', `Cannot read the sslrootcert file ${rootcert}.`);
      if (e.sslmode === 'verify-ca') {
        throw new DbBackupError(
          'E_USAGE',
          `--sslmode verify-ca needs the CA that signed the server certificate, and ${rootcert} does not exist: ` +
            'name it with --sslrootcert FILE, sslrootcert=FILE in the --url or PGSSLROOTCERT (as libpq, dbbackup does not fall back to the public CAs without a host-name check).',
        );
      }
    }
  }
  return {
    rejectUnauthorized: verify,
    ca,
    cert: read(e.sslcert),
    key: read(e.sslkey),
    servername: /^[\d.:]+$/.test(e.host) ? undefined : e.host,
    // verify-ca checks the chain only; verify-full (libpq's meaning) also checks the host name.
    ...(e.sslmode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
  };
}

/** Warns (once per endpoint) when a connection to another machine is in the clear or its certificate unchecked. */
function warnIfUnprotected(client: pg.Client, e: PgEndpoint): void {
  const socket = (client as unknown as { connection?: { stream?: unknown } }).connection?.stream;
  warnUnprotectedConnection(
    'PostgreSQL',
    e.host,
    `${e.host}:${e.port}`,
    channelOf(socket, e.sslmode === 'verify-ca' || e.sslmode === 'verify-full'),
    `Use --sslmode verify-full (sslmode ${e.sslmode} now) with the server's CA in --sslrootcert FILE.`,
  );
}

/**
 * The password, from the first source that has one: explicit, PGPASSWORD, ~/.pgpass, a TTY prompt.
 * Called only when the server asks for one. Throws E_AUTH when no source has one, rather than
 * letting the driver fail with a protocol message.
 */
async function passwordFor(e: PgEndpoint, database: string): Promise<string> {
  if (e.password !== undefined) return e.password;
  if (process.env.PGPASSWORD !== undefined) return process.env.PGPASSWORD;
  const fromFile = pgpassLookup(e, database);
  if (fromFile !== undefined) return fromFile;
  if (canPrompt()) return promptOnce(e);
  const file = pgpassFile();
  const ignored = pgpassTooOpen(file) ? ` (${file} was ignored because group or others can read it: chmod 0600 it)` : '';
  throw new DbBackupError(
    'E_AUTH',
    `PostgreSQL asks for the password of ${describeEndpoint(e, database)}, and none was given${ignored}. ` +
      'Give it with --password-env VAR, PGPASSWORD or ~/.pgpass (mode 0600), or run in a terminal to be prompted.',
  );
}

function promptOnce(e: PgEndpoint): Promise<string> {
  return promptPasswordOnce(`postgres ${e.user}@${e.host}:${e.port}`, `Password for ${e.user}@${e.host}: `);
}

function pgpassFile(): string {
  return process.env.PGPASSFILE ?? join(homedir(), '.pgpass');
}

/** True when the password file exists but libpq (and we) must ignore it: group/world access. */
function pgpassTooOpen(file: string): boolean {
  try {
    return (statSync(file).mode & 0o077) !== 0;
  } catch {
    return false;
  }
}

/** Reads ~/.pgpass (or PGPASSFILE) as libpq does; ignored when group/world can read it. */
export function pgpassLookup(e: PgEndpoint, database: string, file = pgpassFile()): string | undefined {
  let text: string;
  if (pgpassTooOpen(file)) return undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const host = e.host.startsWith('/') || e.host === '' ? 'localhost' : e.host;
  const want = [host, String(e.port), database, e.user];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const fields: string[] = [];
    let cur = '';
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!;
      if (c === '\\' && i + 1 < line.length) cur += line[++i];
      else if (c === ':' && fields.length < 4) {
        fields.push(cur);
        cur = '';
      } else cur += c;
    }
    fields.push(cur);
    if (fields.length < 5) continue;
    if (want.every((w, i) => fields[i] === '*' || fields[i] === w)) return fields[4];
  }
  return undefined;
}

/** Maps a driver error at connect time to a DbBackupError that says what to do (never the password). */
export function connectionError(err: unknown, e: PgEndpoint, database = e.database): DbBackupError {
  if (err instanceof DbBackupError) return err;
  const code = (err as { code?: string }).code;
  const msg = String((err as Error)?.message ?? err);
  const where = describeEndpoint(e, database);
  const specific = tlsError(err, e) ?? hbaError(err, e, database);
  if (specific) return specific;
  if (code === '28P01' || code === '28000' || /password authentication failed|no password supplied|client password must be a string|SASL/i.test(msg)) {
    return new DbBackupError(
      'E_AUTH',
      `PostgreSQL refused the login of ${where}: ${msg}. Give the password with --password-env VAR, PGPASSWORD or ~/.pgpass, and check the user.`,
      { cause: err, details: { code } },
    );
  }
  if (code === '42501') {
    // CONNECT revoked (REVOKE CONNECT ON DATABASE …), or never granted to this role.
    return new DbBackupError('E_AUTH', `PostgreSQL refused ${where}: ${msg}. Ask for CONNECT on the database (GRANT CONNECT ON DATABASE … TO ${e.user}), or check the user.`, {
      cause: err,
      details: { code },
    });
  }
  if (code === '3D000') {
    return new DbBackupError('E_NOT_FOUND', `The database "${database}" does not exist on ${e.host}:${e.port}; create it, or pass --create on restore.`, {
      cause: err,
      details: { code },
    });
  }
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ENOENT|timeout|Connection terminated|does not support SSL|self.signed|certificate|EAI_AGAIN/i.test(msg) || code === '57P03') {
    return new DbBackupError(
      'E_CONN_REFUSED',
      `Cannot connect to PostgreSQL at ${e.host}:${e.port} (${msg}). Check that the server runs and accepts connections there, and --sslmode.`,
      { cause: err, details: { code } },
    );
  }
  return new DbBackupError('E_CONN_REFUSED', `Cannot connect to ${where}: ${msg}`, { cause: err, details: { code } });
}

/** A server certificate that failed verification (verify-ca / verify-full): say which check and how to fix it. */
function tlsError(err: unknown, e: PgEndpoint): DbBackupError | undefined {
  const code = String((err as { code?: string }).code ?? '');
  const msg = String((err as Error)?.message ?? err);
  const at = `${e.host}:${e.port}`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new DbBackupError(
      'E_CONN_REFUSED',
      `The TLS certificate of the PostgreSQL server at ${at} failed verification: it does not name the host ${e.host} (${msg}). ` +
        'Connect with a host name the certificate lists, or use --sslmode verify-ca to check the CA only.',
      { cause: err, details: { code, sslmode: e.sslmode, tls: true } },
    );
  }
  if (/^(UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|CERT_)/.test(code) || /certificate/i.test(msg)) {
    return new DbBackupError(
      'E_CONN_REFUSED',
      `The TLS certificate of the PostgreSQL server at ${at} failed verification with --sslmode ${e.sslmode} (${msg}). ` +
        "Name the CA that signed it with sslrootcert=FILE in the --url, PGSSLROOTCERT or --ssl-ca (default ~/.postgresql/root.crt), or use --sslmode require to encrypt without verifying.",
      { cause: err, details: { code, sslmode: e.sslmode, tls: true } },
    );
  }
  return undefined;
}

/** No pg_hba.conf line admits this login; "no encryption" there means the server takes it over TLS only. */
function hbaError(err: unknown, e: PgEndpoint, database: string): DbBackupError | undefined {
  const msg = String((err as Error)?.message ?? err);
  if (!/no pg_hba\.conf entry/i.test(msg)) return undefined;
  const hint = /no encryption/i.test(msg)
    ? `The server accepts this login over TLS only: connect with --sslmode require, verify-ca or verify-full (not ${e.sslmode}).`
    : 'Ask the server administrator to allow this user, database and client address in pg_hba.conf.';
  return new DbBackupError('E_AUTH', `PostgreSQL refused the connection of ${describeEndpoint(e, database)}: ${msg}. ${hint}`, {
    cause: err,
    details: { code: (err as { code?: string }).code },
  });
}

/** Quotes an identifier ("a""b"). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Quotes a string literal for standard_conforming_strings = on. */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * SQLSTATEs and driver messages that mean the connection itself ended: the server ended it
 * (pg_terminate_backend, a shutdown or restart, a crash) or the network dropped it.
 */
const LOST_STATES = new Set(['57P01', '57P02', '57P03', '57P05', '08000', '08003', '08006']);
const LOST_MESSAGE = /Connection terminated|not queryable|ECONNRESET|EPIPE|ETIMEDOUT|socket hang up/i;

/** True when `err` says the connection ended rather than that a statement failed. */
export function isConnectionLost(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  return (typeof e?.code === 'string' && (LOST_STATES.has(e.code) || /^(ECONNRESET|EPIPE|ETIMEDOUT)$/.test(e.code))) || (typeof e?.message === 'string' && LOST_MESSAGE.test(e.message));
}

/**
 * A backup's connection that ended while `what` (e.g. "table public.t was read") as E_BACKUP_FAILED
 * that says so and what to do; any other error (and a DbBackupError) passes through unchanged.
 */
export function connectionLost(err: unknown, what: string): unknown {
  if (err instanceof DbBackupError || !isConnectionLost(err)) return err;
  return new DbBackupError(
    'E_BACKUP_FAILED',
    `The connection to the PostgreSQL server ended while ${what} (${String((err as Error).message)}): the server ended it (pg_terminate_backend, a restart or failover) or the network dropped it. Nothing was recorded; run the backup again.`,
    { cause: err, details: { code: (err as { code?: string }).code } },
  );
}
