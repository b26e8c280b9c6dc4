import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import { DbBackupError } from '../../domain/errors.js';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

/** The session cookie: HttpOnly, SameSite=Strict, Secure under TLS. Its value is a random id, never the token. */
export const SESSION_COOKIE = 'dbbackup_session';
/** The header a POST must carry with its session's CSRF token. */
export const CSRF_HEADER = 'x-csrf-token';

const SESSION_TTL_MS = 12 * 3600_000;
const MAX_SESSIONS = 1000;
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 << 20 };

export interface Listen {
  host: string;
  port: number;
}

/** `127.0.0.1:8787`, `[::1]:8787`, `0.0.0.0:443` or a bare port; the host defaults to loopback. */
export function parseListen(text: string): Listen {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text) ?? /^()()(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new DbBackupError('E_USAGE', `--listen takes HOST:PORT (e.g. 127.0.0.1:8787 or [::1]:8787); got "${text}".`);
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

/** True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '::ffff:127.0.0.1';
}

/** A password hashed for storing at rest: `scrypt$N$r$p$salt$hash` (base64url). */
export async function hashPassword(password: string): Promise<string> {
  if (password.length < 8) throw new DbBackupError('E_USAGE', 'A dashboard password needs at least 8 characters.');
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

/** Checks the shape of a stored hash (at start-up, so that a typo is E_CONFIG, not a login that never works). */
export function parsePasswordHash(encoded: string): { N: number; r: number; p: number; salt: Buffer; hash: Buffer } {
  const [scheme, n, r, p, salt, hash, ...rest] = encoded.trim().split('$');
  const parsed = { N: Number(n), r: Number(r), p: Number(p), salt: Buffer.from(salt ?? '', 'base64url'), hash: Buffer.from(hash ?? '', 'base64url') };
  const sane = scheme === 'scrypt' && rest.length === 0 && [parsed.N, parsed.r, parsed.p].every((x) => Number.isInteger(x) && x > 0) && parsed.N <= 1 << 20 && parsed.r <= 32 && parsed.p <= 16;
  if (!sane || parsed.salt.length < 8 || parsed.hash.length !== 32) {
    throw new DbBackupError('E_CONFIG', 'The dashboard password hash is not one `dbbackup ui --hash-password` wrote (scrypt$N$r$p$salt$hash).');
  }
  return parsed;
}

async function passwordMatches(password: string, encoded: string): Promise<boolean> {
  const h = parsePasswordHash(encoded);
  const got = await scrypt(password, h.salt, 32, { N: h.N, r: h.r, p: h.p, maxmem: 256 * h.N * h.r + (1 << 20) });
  return timingSafeEqual(got, h.hash);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Compares two strings in time independent of where they differ (through their digests). */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

interface Session {
  csrf: string;
  expires: number;
}

/**
 * Who may use the dashboard: a token (the URL printed at start, Jupyter style) and/or a password
 * (only its scrypt hash is held). Either one opens a session: a random id in an HttpOnly cookie,
 * with its own CSRF token for POSTs. Sessions live in memory (a restart logs everyone out), at
 * most MAX_SESSIONS (the oldest goes), each for SESSION_TTL_MS.
 */
export class SessionGate {
  private readonly sessions = new Map<string, Session>();
  private failures = 0;
  private failureWindow = 0;

  constructor(private readonly auth: { token?: string; passwordHash?: string }, private readonly now: () => number = Date.now) {
    if (!auth.token && !auth.passwordHash) throw new DbBackupError('E_USAGE', 'The dashboard needs a token or a password.');
    if (auth.passwordHash) parsePasswordHash(auth.passwordHash);
  }

  get usesPassword(): boolean {
    return this.auth.passwordHash !== undefined;
  }

  /** Opens a session for a valid token or password; undefined (and counted) otherwise. */
  async login(given: { token?: string; password?: string }): Promise<{ id: string; csrf: string } | undefined> {
    if (this.throttled()) return undefined;
    const ok =
      (given.token !== undefined && this.auth.token !== undefined && sameSecret(given.token, this.auth.token)) ||
      (given.password !== undefined && this.auth.passwordHash !== undefined && given.password.length <= 1024 && (await passwordMatches(given.password, this.auth.passwordHash)));
    if (!ok) {
      this.failures++;
      return undefined;
    }
    return this.open();
  }

  /** More than 20 failed logins in a minute: refuse every login until the minute is over. */
  throttled(): boolean {
    const now = this.now();
    if (now - this.failureWindow > 60_000) {
      this.failureWindow = now;
      this.failures = 0;
    }
    return this.failures > 20;
  }

  /** The session a cookie value names, if it is live. */
  session(id: string | undefined): { id: string; csrf: string } | undefined {
    if (!id || id.length > 100) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (s.expires < this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return { id, csrf: s.csrf };
  }

  logout(id: string): void {
    this.sessions.delete(id);
  }

  private open(): { id: string; csrf: string } {
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(24).toString('base64url');
    this.sessions.set(id, { csrf, expires: this.now() + SESSION_TTL_MS });
    return { id, csrf };
  }
}

/**
 * The Host header values a loopback dashboard answers to: its own address and `localhost`, on its
 * port. Anything else is a DNS-rebinding page in the user's browser.
 */
export function allowedHosts(listen: Listen): Set<string> {
  const names = new Set([listen.host, 'localhost', '127.0.0.1', '[::1]']);
  if (listen.host.includes(':')) names.add(`[${listen.host}]`);
  return new Set([...names].map((n) => `${n}:${listen.port}`.toLowerCase()));
}
