import { createRequire } from 'node:module';
import type pg from 'pg';

/**
 * The `pg` driver's Client class, loaded without its runtime sniffing costing a command's start.
 * pg/lib/stream.js asks, when it loads, whether it runs on Cloudflare Workers: with no global
 * `navigator` (Node before 21) it constructs a fetch `Response`, and that first touch loads Node's
 * whole fetch implementation (undici, node:http, web crypto): measured here as the largest piece of
 * a PostgreSQL command's module loading (20–160 ms on 2 busy cores) for code no command uses. A
 * `navigator` naming Node answers the question instead; it exists only while pg loads (nothing
 * else runs meanwhile) and is removed again, so no other library sees it.
 */
function loadPg(): typeof pg {
  const g = globalThis as { navigator?: unknown };
  if ('navigator' in globalThis) return requirePg();
  Object.defineProperty(globalThis, 'navigator', { value: { userAgent: `Node.js/${process.versions.node}` }, configurable: true, writable: true, enumerable: false });
  try {
    return requirePg();
  } finally {
    delete g.navigator;
  }
}

/**
 * In a bundle chunk `require` exists (its banner defines it) and these literal calls let esbuild
 * bundle pg and pg-copy-streams into the chunk: one file to load instead of ~40, a fifth of a
 * PostgreSQL command's module loading. Elsewhere (tsc's output, tests) Node loads them.
 */
const requirePg = () => (typeof require === 'function' ? require('pg') : createRequire(import.meta.url)('pg')) as typeof pg;

export const PgClient: typeof pg.Client = loadPg().Client;

/** pg-copy-streams: the COPY TO/FROM streams. */
export const copyStreams = (typeof require === 'function' ? require('pg-copy-streams') : createRequire(import.meta.url)('pg-copy-streams')) as typeof import('pg-copy-streams');
