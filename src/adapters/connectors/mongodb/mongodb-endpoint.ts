import { readFileSync } from 'node:fs';
import { MongoClient, type MongoClientOptions, MongoServerError, MongoServerSelectionError } from 'mongodb';
import type { ConnectionTarget } from '../../../application/ports/connection-target.js';
import { DbBackupError } from '../../../domain/errors.js';
import { isLoopbackHost, warnUnprotectedConnection } from '../connection-security.js';
import { ioTimeoutMs } from '../io-timeout.js';
import { mongoTimeoutError, type MongoTimeouts, timeoutOptions } from './mongodb-timeouts.js';

/**
 * Where and how to connect, resolved once from a ConnectionTarget. Everything the driver supports in
 * a connection string (mongodb+srv://, replicaSet, authSource, authMechanism SCRAM/X.509/AWS/OIDC/
 * Kerberos, tls, tlsCAFile, tlsCertificateKeyFile, …) passes through untouched; the password comes
 * from --password-env (target.password) and goes only into the driver's `auth` option.
 * `target.options` may add: tlsCAFile|sslCa, tlsCertificateKeyFile|sslCert, sslKey, tlsInsecure,
 * targetDatabase (restore), parallel (restore), ioTimeout (`--io-timeout`, mongodb-timeouts.ts).
 */
export interface MongoEndpoint {
  url: string;
  /** `host:port[,host:port]` for messages: never credentials. */
  hosts: string;
  /** The databases named by --database a,b or the URL path; empty means all. */
  databases: string[];
  targetDatabase?: string;
  restoreParallel?: number;
  clientOptions: MongoClientOptions;
  timeouts: MongoTimeouts;
}

const URL_SHAPE = /^(mongodb(?:\+srv)?):\/\/(?:([^@/]*)@)?([^/?]*)(?:\/([^?]*))?(\?.*)?$/i;

export function resolveEndpoint(target: ConnectionTarget, env: NodeJS.ProcessEnv = process.env): MongoEndpoint {
  const opts = target.options ?? {};
  const url = target.url ?? `mongodb://${target.host ?? '127.0.0.1'}:${target.port ?? 27017}/`;
  const m = URL_SHAPE.exec(url);
  if (!m) throw new DbBackupError('E_USAGE', 'A MongoDB --url starts with mongodb:// or mongodb+srv://, e.g. mongodb://backup@db1:27017/app.');
  const [, , userInfo, hosts, path] = m;
  const urlUser = userInfo ? decodeURIComponent(userInfo.split(':')[0]!) : undefined;
  // Defaults only: options passed to the driver override the connection string's.
  const query = m[5] ?? '';
  const timed = timeoutOptions(ioTimeoutMs(opts.ioTimeout, env), query);
  const clientOptions: MongoClientOptions = {
    ...(/[?&]appName=/i.test(query) ? {} : { appName: 'dbbackup' }),
    ...timed.options,
  };
  if (target.password !== undefined) {
    const username = target.user ?? urlUser;
    if (!username) throw new DbBackupError('E_USAGE', 'A password was given but no user: add --user NAME or put the user in the --url (mongodb://NAME@host/).');
    clientOptions.auth = { username, password: target.password };
  } else if (target.user && !urlUser) {
    clientOptions.auth = { username: target.user };
  }
  applyTls(clientOptions, opts);
  const fromPath = path ? decodeURIComponent(path) : '';
  const databases = (target.database ?? fromPath).split(',').map((d) => d.trim()).filter((d) => d !== '');
  for (const db of databases) checkDatabaseName(db);
  const targetDatabase = typeof opts.targetDatabase === 'string' && opts.targetDatabase !== '' ? opts.targetDatabase : undefined;
  if (targetDatabase) checkDatabaseName(targetDatabase);
  return {
    url,
    hosts: hosts || '(srv)',
    databases,
    targetDatabase,
    restoreParallel: typeof opts.parallel === 'number' && opts.parallel > 0 ? opts.parallel : undefined,
    clientOptions,
    timeouts: timed.timeouts,
  };
}

function applyTls(o: MongoClientOptions, opts: Record<string, unknown>): void {
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const ca = str(opts.tlsCAFile) ?? str(opts.sslCa);
  const cert = str(opts.tlsCertificateKeyFile) ?? str(opts.sslCert);
  const key = str(opts.sslKey);
  if (ca) o.tlsCAFile = ca;
  if (cert && key) {
    o.cert = readPem(cert, '--ssl-cert');
    o.key = readPem(key, '--ssl-key');
  } else if (cert) {
    o.tlsCertificateKeyFile = cert;
  }
  if (ca || cert) o.tls = true;
  if (opts.tlsInsecure === true) o.tlsInsecure = true;
}

function readPem(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new DbBackupError('E_USAGE', `Cannot read ${flag} ${path}: ${(err as Error).message}`);
  }
}

/** MongoDB database names: no /\. "$ or NUL, at most 63 bytes. */
export function checkDatabaseName(name: string): void {
  if (/[/\\. "$\0]/.test(name) || Buffer.byteLength(name) > 63) {
    throw new DbBackupError('E_USAGE', `"${name}" is not a valid MongoDB database name (no / \\ . space " $, at most 63 bytes).`);
  }
}

/** Connects (and authenticates) or throws E_CONN_REFUSED / E_AUTH with a message that says what to check. */
export async function openClient(e: MongoEndpoint): Promise<MongoClient> {
  let client: MongoClient;
  try {
    client = new MongoClient(e.url, e.clientOptions);
  } catch (err) {
    throw new DbBackupError('E_USAGE', `The MongoDB --url is not valid: ${scrub((err as Error).message)}`);
  }
  try {
    await client.connect();
    await client.db('admin').command({ ping: 1 });
    warnIfUnprotected(client, e);
    return client;
  } catch (err) {
    await client.close().catch(() => undefined);
    throw connectionError(err, e);
  }
}

/** From the driver's resolved options (TLS is off unless tls=true, mongodb+srv:// or a CA/certificate is given). */
function warnIfUnprotected(client: MongoClient, e: MongoEndpoint): void {
  const o = client.options as MongoClientOptions & { hosts?: { host?: string; socketPath?: string }[] };
  const remote = (o.hosts ?? []).find((h) => h.socketPath === undefined && !isLoopbackHost(h.host));
  const encrypted = o.tls === true;
  const verified = encrypted && o.tlsInsecure !== true && o.tlsAllowInvalidCertificates !== true && o.tlsAllowInvalidHostnames !== true;
  warnUnprotectedConnection('MongoDB', remote?.host, e.hosts, { encrypted, verified }, 'Use tls=true (and tlsCAFile=FILE for a private CA) in the --url.');
}

export function connectionError(err: unknown, e: MongoEndpoint): DbBackupError {
  const timedOut = mongoTimeoutError(err, e.hosts, e.timeouts);
  if (timedOut) return timedOut;
  const message = scrub((err as Error)?.message ?? String(err));
  if (err instanceof MongoServerError && (err.code === 18 || err.codeName === 'AuthenticationFailed')) {
    return new DbBackupError('E_AUTH', `MongoDB at ${e.hosts} refused the credentials; check the user, --password-env and authSource/authMechanism in the --url.`);
  }
  if (err instanceof MongoServerError && (err.code === 13 || err.codeName === 'Unauthorized')) {
    return new DbBackupError('E_AUTH', `The MongoDB user lacks a privilege dbbackup needs (${message}); grant it the backup or restore role.`);
  }
  if (err instanceof MongoServerSelectionError || /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|certificate|TLS|SSL/i.test(message)) {
    return new DbBackupError('E_CONN_REFUSED', `Cannot reach MongoDB at ${e.hosts} (${message}); check --url, that the server runs, and the TLS settings.`);
  }
  return new DbBackupError('E_CONN_REFUSED', `Cannot connect to MongoDB at ${e.hosts}: ${message}`);
}

/** Removes a password that a driver message might echo from a connection string. */
export function scrub(text: string): string {
  return text.replace(/(mongodb(?:\+srv)?:\/\/[^:@/\s]*:)[^@\s]*@/gi, '$1[redacted]@');
}
