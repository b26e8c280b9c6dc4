import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** Where the warning goes; stderr by default, because it must show even under --quiet and --json. */
export type WarningSink = (text: string) => void;

/** How a database connection turned out: encrypted at all, and the server's certificate checked. */
export interface ChannelState {
  encrypted: boolean;
  verified: boolean;
}

const warned = new Set<string>();

const stderrSink: WarningSink = (text) => {
  process.stderr.write(text);
};

/** True for a host on this machine: a Unix socket, `localhost`, 127.0.0.0/8 or ::1. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined || host === '' || host.startsWith('/')) return true;
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** The state of a connected socket: a TLSSocket is encrypted; `verified` is what the mode promised (CA checked). */
export function channelOf(socket: unknown, verifying: boolean): ChannelState {
  const encrypted = (socket as Partial<TLSSocket> | undefined)?.encrypted === true;
  return { encrypted, verified: encrypted && verifying && (socket as TLSSocket).authorized === true };
}

/**
 * Says, once per process for each engine and endpoint, that a connection to a database on another
 * machine is not encrypted, or is encrypted without checking the server's certificate: the network
 * path can read it, or pose as the server and read the password. Loopback and socket connections
 * are not warned about. Written straight to stderr (as the storage --insecure warning) so log
 * levels and --quiet do not hide it.
 */
export function warnUnprotectedConnection(
  engine: 'PostgreSQL' | 'MySQL' | 'MongoDB',
  host: string | undefined,
  where: string,
  state: ChannelState,
  fix: string,
  sink: WarningSink = stderrSink,
): void {
  if (isLoopbackHost(host) || (state.encrypted && state.verified)) return;
  const key = `${engine} ${where} ${state.encrypted}`;
  if (warned.has(key)) return;
  warned.add(key);
  const what = state.encrypted
    ? 'is encrypted, but the server certificate is not verified: anyone on the network path can pose as the server and read the login and the data'
    : 'is NOT encrypted: the login and every row cross the network in the clear';
  sink(`warning: the connection to ${engine} at ${where} ${what}. ${fix}\n`);
}

/** Forgets what was printed (tests only). */
export function resetConnectionWarnings(): void {
  warned.clear();
}
