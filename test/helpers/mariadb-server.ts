import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { freePort } from './free-port.js';

/**
 * A throwaway MariaDB server for tests (TESTING.md): its own datadir, socket, pid file and a free
 * port on 127.0.0.1, binary logging on (ROW), root with no password. `stop()` shuts it down and
 * removes everything. Fails (never skips) when mariadbd is not installed.
 */
export interface MariaDbServer {
  readonly dir: string;
  readonly port: number;
  readonly socket: string;
  /** `mysql://root@127.0.0.1:PORT/db` */
  url(database?: string): string;
  /** A root connection (multiple statements allowed); the caller ends it. */
  connect(database?: string): Promise<mysql.Connection>;
  /** Runs SQL as root on a short-lived connection and returns the rows. */
  query<T = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<T[]>;
  /** Stops the server (every session ended) and starts it again on the same port and data; resolves once it accepts connections. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface MariaDbOptions {
  /** Extra mariadbd arguments, e.g. `--local-infile=0`. */
  args?: string[];
}

const MARIADBD = process.env.MARIADBD ?? '/usr/sbin/mariadbd';
const INSTALL_DB = process.env.MARIADB_INSTALL_DB ?? 'mariadb-install-db';

export async function startMariaDb(options: MariaDbOptions = {}): Promise<MariaDbServer> {
  const dir = await mkdtemp(join(tmpdir(), 'mdb-'));
  const datadir = join(dir, 'data');
  const socket = join(dir, 'sock');
  // A private tmpdir: MariaDB keeps temp tables there, and a shared /tmp can be cleaned under it.
  const tmp = join(dir, 'tmp');
  await mkdir(tmp, { recursive: true });
  await run(INSTALL_DB, [
    '--no-defaults',
    `--datadir=${datadir}`,
    `--tmpdir=${tmp}`,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
    '--user=root',
  ]).catch(async (err: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  const launch = (port: number) => {
    const child = spawn(
      MARIADBD,
      [
        '--no-defaults',
        `--datadir=${datadir}`,
        `--tmpdir=${tmp}`,
        `--socket=${socket}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--pid-file=${join(dir, 'pid')}`,
        `--log-bin=${join(dir, 'binlog')}`,
        '--server-id=1',
        '--binlog-format=ROW',
        '--user=root',
        '--innodb-flush-log-at-trx-commit=2',
        '--innodb-doublewrite=0',
        '--sync-binlog=0',
        '--local-infile=1',
        ...(options.args ?? []),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const out = { child, stderr: '' };
    child.stderr!.on('data', (d: Buffer) => (out.stderr = (out.stderr + d.toString()).slice(-4000)));
    return out;
  };
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const started = launch(port);
    const ready = await waitReady(started.child, socket);
    if (ready) return server(dir, port, socket, started.child, () => launch(port));
    if (attempt < 3 && /already in use|bind on TCP/i.test(started.stderr)) continue;
    await rm(dir, { recursive: true, force: true });
    throw new Error(`mariadbd did not start:\n${started.stderr}`);
  }
}

function server(dir: string, port: number, socket: string, first: ChildProcess, relaunch: () => { child: ChildProcess; stderr: string }): MariaDbServer {
  let child = first;
  const shutdown = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  };
  const connect = (database?: string) =>
    mysql.createConnection({ socketPath: socket, user: 'root', database, multipleStatements: true, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true });
  return {
    dir,
    port,
    socket,
    url: (database) => `mysql://root@127.0.0.1:${port}/${database ?? ''}`,
    connect,
    async query<T>(sql: string, values?: unknown[]) {
      const conn = await connect();
      try {
        const [rows] = await conn.query(sql, values);
        return rows as T[];
      } finally {
        await conn.end();
      }
    },
    async restart() {
      await shutdown();
      const again = relaunch();
      child = again.child;
      if (!(await waitReady(child, socket))) throw new Error(`mariadbd did not start again on port ${port}:\n${again.stderr}`);
    },
    async stop() {
      await shutdown();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls the socket until a connection works; false when the server exited first. */
async function waitReady(child: ChildProcess, socket: string): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return false;
    try {
      const conn = await mysql.createConnection({ socketPath: socket, user: 'root' });
      await conn.end();
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill('SIGKILL');
  return false;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    child.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    child.on('error', (err) => reject(new Error(`${cmd} could not run (is mariadb-server installed?): ${err.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}:\n${out}`))));
  });
}
