import { type AbstractCursor, type MongoClientOptions, type RunCommandOptions, MongoNetworkTimeoutError, MongoServerSelectionError } from 'mongodb';
import type { DbBackupError } from '../../../domain/errors.js';
import { FIRST_ANSWER_FACTOR } from '../../../infrastructure/read-watchdog.js';
import { networkTimeout } from '../io-timeout.js';

/**
 * `--io-timeout` for the MongoDB driver. The driver times a socket per command: from sending it
 * until its reply is read, no byte for `socketTimeoutMS` fails the command with
 * MongoNetworkTimeoutError (and an idle pooled connection is not timed). It cannot tell the wait
 * for a reply's first byte from a gap inside it, so the timeout each command gets depends on what
 * the server does before it answers:
 *
 * - connecting (TCP, TLS, the hello and authentication): the timeout itself (`connectTimeoutMS`);
 * - any command: FIRST_ANSWER_FACTOR × the timeout (`socketTimeoutMS`), since the server may work
 *   before it answers (an aggregation, a count, a write batch applied with its indexes);
 * - the find and getMore of a collection read whole (a dump, a digest): the timeout itself — an
 *   unfiltered scan answers as soon as the server has read one batch, so silence there is the network;
 * - index builds (`QUIET_COMMAND`): not timed, as the other engines' quiet statements (TCP keepalive).
 *
 * Server selection (finding a server that answers a hello) waits at most FIRST_ANSWER_FACTOR × the
 * timeout, and never more than the 15 s it waited before. A value the --url sets itself wins.
 */
export interface MongoTimeouts {
  /** The --io-timeout in ms; 0: off. */
  ioTimeoutMs: number;
  /** The socket timeout of a whole-collection cursor's find and getMore; undefined: the client's own. */
  streamTimeoutMs?: number;
}

const SELECTION_MS = 15_000;

/** The client options `ioTimeoutMs` gives, leaving out those the connection string's query sets. */
export function timeoutOptions(ioTimeoutMs: number, query: string): { options: MongoClientOptions; timeouts: MongoTimeouts } {
  const given = (name: string) => new RegExp(`[?&]${name}=`, 'i').test(query);
  const options: MongoClientOptions = {};
  if (!given('serverSelectionTimeoutMS')) options.serverSelectionTimeoutMS = ioTimeoutMs > 0 ? Math.min(SELECTION_MS, ioTimeoutMs * FIRST_ANSWER_FACTOR) : SELECTION_MS;
  if (ioTimeoutMs > 0 && !given('connectTimeoutMS')) options.connectTimeoutMS = ioTimeoutMs;
  const socketGiven = given('socketTimeoutMS');
  if (ioTimeoutMs > 0 && !socketGiven) options.socketTimeoutMS = ioTimeoutMs * FIRST_ANSWER_FACTOR;
  return { options, timeouts: { ioTimeoutMs, ...(ioTimeoutMs > 0 && !socketGiven ? { streamTimeoutMs: ioTimeoutMs } : {}) } };
}

/**
 * Options of a command the server may work on silently for long (an index build): its socket is not
 * timed. The driver reads `socketTimeoutMS` from any operation's options, though its types leave it out.
 */
export const QUIET_COMMAND = { socketTimeoutMS: 0 } as unknown as RunCommandOptions;

/**
 * Gives a whole-collection cursor's find and each getMore the stream timeout. The driver takes a
 * per-command `socketTimeoutMS` from an operation's options, but a cursor builds its getMore's
 * options from its internal `cursorOptions` only, so the value goes there (test/e2e/mongodb-cli
 * fails if a driver upgrade stops reading it).
 */
export function timeStream<C extends AbstractCursor>(cursor: C, t: MongoTimeouts): C {
  if (t.streamTimeoutMs === undefined) return cursor;
  const internal = cursor as unknown as { cursorOptions?: Record<string, unknown> };
  if (internal.cursorOptions) internal.cursorOptions.socketTimeoutMS = t.streamTimeoutMs;
  return cursor;
}

/**
 * E_NETWORK_TIMEOUT for a driver error that is a timeout: a command's socket passed no byte for its
 * timeout (MongoNetworkTimeoutError), or server selection found no server because its hello went
 * unanswered (a MongoServerSelectionError whose servers failed by timing out). `what` and
 * `waitedMs` say what waited and how long when the caller knows (a cursor); otherwise a connect or
 * a command under the client's timeouts. undefined for any other error.
 */
export function mongoTimeoutError(err: unknown, hosts: string, t: MongoTimeouts, waited?: { what: string; ms: number }): DbBackupError | undefined {
  const timeout = networkTimeoutIn(err);
  if (timeout) {
    const where = /\bto (\S+:\d+)\b/.exec(timeout.message)?.[1] ?? hosts;
    if ((timeout as { beforeHandshake?: boolean }).beforeHandshake) return networkTimeout('MongoDB', where, 'connecting (the hello and authentication)', t.ioTimeoutMs);
    return networkTimeout('MongoDB', where, waited?.what ?? 'a command waited for its answer', waited?.ms ?? t.ioTimeoutMs * FIRST_ANSWER_FACTOR);
  }
  if (err instanceof MongoServerSelectionError) {
    const servers = [...((err.reason?.servers ?? new Map()) as Map<string, { address?: string; error?: unknown }>).values()];
    const timedOut = servers.filter((s) => networkTimeoutIn(s.error) !== undefined);
    if (timedOut.length > 0 && timedOut.length === servers.length) {
      const where = timedOut.map((s) => s.address).filter(Boolean).join(',') || hosts;
      return networkTimeout('MongoDB', where, 'selecting a server (its hello went unanswered)', t.ioTimeoutMs);
    }
  }
  return undefined;
}

/** The MongoNetworkTimeoutError `err` is or was caused by (a stream error may wrap it). */
function networkTimeoutIn(err: unknown): MongoNetworkTimeoutError | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof MongoNetworkTimeoutError) return e;
  }
  return undefined;
}
