import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

/**
 * A throwaway redis-server for tests (TESTING.md): its own folder and a free port on 127.0.0.1,
 * append-only file on (fsync every write) so that `stop()` then `start()` keeps the data, as a
 * real server's restart would. `remove()` stops it and deletes the folder. Fails (never skips)
 * when redis-server is not installed.
 */
export interface RedisServer {
  readonly dir: string;
  readonly port: number;
  readonly url: string;
  /** Stops the server (SIGTERM: it writes its data and exits); resolves when it has. */
  stop(): Promise<void>;
  /** Starts it again on the same port and folder. */
  start(): Promise<void>;
  remove(): Promise<void>;
}

const REDIS = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export interface RedisOptions {
  /** TLS only (no plain port): the server's certificate and key files (PEM). */
  tls?: { cert: string; key: string; ca: string };
  /** `requirepass`. */
  password?: string;
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'redis-'));
  let child: ChildProcess | undefined;
  let port = 0;
  const launch = async (): Promise<boolean> => {
    const listen = options.tls
      ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', options.tls.cert, '--tls-key-file', options.tls.key, '--tls-ca-cert-file', options.tls.ca, '--tls-auth-clients', 'no']
      : ['--port', String(port)];
    const auth = options.password ? ['--requirepass', options.password] : [];
    const c = spawn(REDIS, [...listen, ...auth, '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--protected-mode', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    c.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    const exited = new Promise<false>((resolve) => c.once('exit', () => resolve(false)));
    const ready = await Promise.race([exited, waitPort(port, () => c.exitCode === null)]);
    if (!ready) {
      if (/Address already in use/i.test(out)) return false;
      throw new Error(`redis-server did not start:\n${out}`);
    }
    child = c;
    return true;
  };
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    if (await launch()) break;
    if (attempt >= 3) throw new Error('redis-server: no free port after 4 tries');
  }
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    await gone;
  };
  return {
    dir,
    port,
    url: `${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    stop,
    start: async () => {
      for (let attempt = 0; !(await launch()); attempt++) {
        // The old socket may linger for a moment after the stop.
        if (attempt > 50) throw new Error(`redis-server could not bind port ${port} again`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    remove: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves true once a TCP connect to `port` succeeds (false when `alive()` turns false). */
async function waitPort(port: number, alive: () => boolean): Promise<boolean> {
  while (alive()) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
