import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, chown, copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './free-port.js';

/**
 * A throwaway PostgreSQL 15 server for tests (TESTING.md): initdb into a short temp dir, postgres
 * on a free port of 127.0.0.1 with its socket in that dir, trust auth for user `postgres`.
 * initdb/postgres refuse root, so they run with the uid/gid of the `postgres` OS user.
 * `stop()` shuts it down (fast) and removes everything. Fails (never skips) when not installed.
 */
export interface PostgresServer {
  readonly dir: string;
  readonly port: number;
  /** `postgres://postgres@127.0.0.1:PORT/db` */
  url(database?: string): string;
  /** A connected superuser client; the caller ends it. */
  connect(database?: string): Promise<pg.Client>;
  /** Runs SQL (several statements allowed) on a short-lived connection; returns the last result's rows. */
  query<T = Record<string, unknown>>(sql: string, values?: unknown[], database?: string): Promise<T[]>;
  /** Runs a binary from the server's bin dir (pg_dump, psql …) and returns stdout. */
  bin(name: string, args: string[]): string;
  /**
   * Stops the server (a fast shutdown: every session ended, as an operator's restart or a failover
   * does) and starts it again on the same port and data; resolves once it accepts connections.
   */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/**
 * Optional hardening of the throwaway server; without any, it is the trust-auth server above.
 * With `ssl` the server speaks TLS and TCP logins must use it (pg_hba `hostssl` only); with `auth`
 * TCP logins from 127.0.0.0/8 need a password (the superuser `postgres` gets `password`). Unix-socket
 * logins stay `trust`. The harness's own connections (connect, query, bin) use TLS without
 * verification and the password, so they work under every combination.
 */
export interface PostgresServerOptions {
  /** PEM files of the server certificate (chain) and its key; copied into the server dir (key 0600, owned by postgres). */
  ssl?: { cert: string; key: string };
  auth?: 'trust' | 'scram-sha-256' | 'md5';
  /** The superuser's password (required with a password `auth`). */
  password?: string;
}

export async function startPostgres(extraArgs: string[] = [], options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const dir = await mkdtemp('/tmp/pg-');
  const ids = postgresIds();
  await chown(dir, ids.uid, ids.gid);
  const data = join(dir, 'data');
  let settings: string[];
  try {
    settings = await initCluster(dir, data, ids, options);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const login = loginOptions(options);
  const launch = (port: number) => {
    const child = spawn(
      join(PG_BIN, 'postgres'),
      [
        '-D', data, '-p', String(port), '-k', dir,
        '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
        '-c', 'wal_level=logical', '-c', 'max_replication_slots=10', '-c', 'max_wal_senders=10', '-c', 'max_connections=60',
        ...settings,
        ...extraArgs,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], uid: ids.uid, gid: ids.gid },
    );
    const out = { child, stderr: '' };
    child.stderr!.on('data', (d: Buffer) => (out.stderr = (out.stderr + d.toString()).slice(-4000)));
    return out;
  };
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const started = launch(port);
    if (await waitReady(started.child, port, login)) return server(dir, port, started.child, login, () => launch(port));
    if (attempt < 3 && /could not bind|already in use/i.test(started.stderr)) continue;
    await rm(dir, { recursive: true, force: true });
    throw new Error(`postgres did not start:\n${started.stderr}`);
  }
}

/** initdb, then the TLS files and pg_hba.conf the options ask for; returns the matching `-c` settings. */
async function initCluster(dir: string, data: string, ids: { uid: number; gid: number }, options: PostgresServerOptions): Promise<string[]> {
  const auth = options.auth ?? 'trust';
  if (auth !== 'trust' && !options.password) throw new Error(`startPostgres: auth ${auth} needs a password`);
  const pwfile = join(dir, 'pwfile');
  if (options.password) {
    await writeFile(pwfile, `${options.password}\n`, { mode: 0o600 });
    await chown(pwfile, ids.uid, ids.gid);
  }
  try {
    await run(join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C', ...(options.password ? [`--pwfile=${pwfile}`] : [])], ids);
  } finally {
    await rm(pwfile, { force: true });
  }
  if (!options.ssl && auth === 'trust') return [];
  const settings: string[] = [];
  if (options.ssl) {
    // postgres refuses a key that group/others can read, or that another user owns.
    const cert = join(dir, 'server.crt');
    const key = join(dir, 'server.key');
    await copyFile(options.ssl.cert, cert);
    await copyFile(options.ssl.key, key);
    await chmod(key, 0o600);
    await Promise.all([chown(cert, ids.uid, ids.gid), chown(key, ids.uid, ids.gid)]);
    settings.push('-c', 'ssl=on', '-c', `ssl_cert_file=${cert}`, '-c', `ssl_key_file=${key}`);
  }
  const hostType = options.ssl ? 'hostssl' : 'host';
  await writeFile(join(data, 'pg_hba.conf'), `local all all trust\n${hostType} all all 127.0.0.0/8 ${auth}\n`);
  return settings;
}

/** How the harness itself logs in over TCP (empty for the default trust server, as before). */
interface HarnessLogin {
  password?: string;
  ssl?: { rejectUnauthorized: false };
}

function loginOptions(options: PostgresServerOptions): HarnessLogin {
  return { ...(options.password ? { password: options.password } : {}), ...(options.ssl ? { ssl: { rejectUnauthorized: false } } : {}) };
}

function server(dir: string, port: number, first: ChildProcess, login: HarnessLogin, relaunch: () => { child: ChildProcess; stderr: string }): PostgresServer {
  let child = first;
  const shutdown = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  };
  const connect = async (database = 'postgres') => {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database, ...login });
    await client.connect();
    return client;
  };
  return {
    dir,
    port,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    connect,
    async query<T>(sql: string, values?: unknown[], database?: string) {
      const client = await connect(database);
      try {
        const result = (await client.query(sql, values)) as unknown as pg.QueryResult | pg.QueryResult[];
        const last = Array.isArray(result) ? result[result.length - 1]! : result;
        return last.rows as T[];
      } finally {
        await client.end();
      }
    },
    bin(name, args) {
      const env = { ...process.env, ...(login.password ? { PGPASSWORD: login.password } : {}), ...(login.ssl ? { PGSSLMODE: 'require' } : {}) };
      return execFileSync(join(PG_BIN, name), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', ...args], {
        env,
        encoding: 'utf8',
        maxBuffer: 1 << 30,
      });
    },
    async restart() {
      await shutdown();
      const again = relaunch();
      child = again.child;
      if (!(await waitReady(child, port, login))) throw new Error(`postgres did not start again on port ${port}:\n${again.stderr}`);
    },
    async stop() {
      await shutdown();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function postgresIds(): { uid: number; gid: number } {
  if (userInfo().uid !== 0) return { uid: userInfo().uid, gid: userInfo().gid };
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

async function waitReady(child: ChildProcess, port: number, login: HarnessLogin): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return false;
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', ...login });
    try {
      await client.connect();
      await client.end();
      return true;
    } catch {
      await client.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill('SIGKILL');
  return false;
}

function run(cmd: string, args: string[], ids: { uid: number; gid: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], uid: ids.uid, gid: ids.gid, cwd: '/tmp' });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    child.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    child.on('error', (err) => reject(new Error(`${cmd} could not run (is postgresql-15 installed?): ${err.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}:\n${out}`))));
  });
}
