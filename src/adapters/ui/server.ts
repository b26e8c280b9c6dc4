import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { DbBackupError } from '../../domain/errors.js';
import { dashboardApp } from './app.js';
import { DashboardAssets } from './assets.js';
import type { DashboardDeps } from './dashboard-deps.js';
import { allowedHosts, isLoopback, type Listen, SessionGate } from './security.js';

export interface DashboardOptions {
  listen: Listen;
  /** PEM certificate and key; required unless `listen` is a loopback address. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  auth: { token?: string; passwordHash?: string };
  /** The built front-end (dist/ui). */
  assetsDir: string;
}

export interface RunningDashboard {
  /** Where it listens, e.g. http://127.0.0.1:8787 (the real port when 0 was asked for). */
  origin: string;
  close(): Promise<void>;
}

/**
 * Starts the dashboard. A non-loopback address needs TLS and is refused without it (E_USAGE):
 * the token, the session cookie and the page would otherwise cross the network in clear.
 */
export async function startDashboard(options: DashboardOptions, deps: DashboardDeps, signal: AbortSignal): Promise<RunningDashboard> {
  const loopback = isLoopback(options.listen.host);
  if (!loopback && !options.tls) {
    throw new DbBackupError('E_USAGE', `--listen ${options.listen.host} is reachable from other machines: give --cert and --key (TLS), or listen on 127.0.0.1.`);
  }
  const gate = new SessionGate(options.auth);
  const assets = new DashboardAssets(options.assetsDir);
  let hosts = allowedHosts(options.listen);
  const app = dashboardApp({
    deps,
    gate,
    assets,
    secure: options.tls !== undefined,
    hostAllowed: (host) => !loopback || hosts.has(host.toLowerCase()),
    signal,
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({
      fetch: app.fetch,
      hostname: options.listen.host,
      port: options.listen.port,
      ...(options.tls ? { createServer: createHttpsServer, serverOptions: { cert: options.tls.cert, key: options.tls.key } } : {}),
    }) as Server;
    s.once('listening', () => resolve(s));
    s.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL' || err.code === 'EACCES'
          ? new DbBackupError('E_USAGE', `Cannot listen on ${options.listen.host}:${options.listen.port} (${err.code}); choose another --listen.`)
          : err,
      ),
    );
  });
  const port = (server.address() as AddressInfo).port;
  hosts = allowedHosts({ ...options.listen, port });
  const host = options.listen.host.includes(':') ? `[${options.listen.host}]` : options.listen.host;
  return {
    origin: `${options.tls ? 'https' : 'http'}://${host}:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Open event streams would hold close() forever.
        server.closeAllConnections();
      });
      await app.jobs.idle();
    },
  };
}
