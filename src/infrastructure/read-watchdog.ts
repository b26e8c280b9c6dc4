/**
 * The idle-read timeout of a network connection: a connection that waits for an answer and reads
 * no byte for `timeoutMs` is destroyed with the error `onTimeout` builds, so a silent network
 * partition (no FIN, no RST: the peer's kernel or a middlebox just stops passing bytes) fails in
 * bounded time instead of when TCP keepalive gives up, minutes or hours later.
 *
 * It counts bytes read (`bytesRead`), and bytes written only while the connection sends a body (a
 * COPY FROM STDIN, a LOAD DATA file) and only once the kernel took them: a small request or ping
 * written into a dead path still "succeeds" into the kernel's buffer, while a body stalls once that
 * buffer is full (the peer stopped acknowledging). It waits for nothing, and so never fires, while
 * the connection is idle or holds received bytes its consumer has not taken yet (backpressure: a
 * slow consumer is not a dead network), and while
 * `waitingFor()` says the server may work without a word (an index build, a lock wait with its own
 * limit): TCP keepalive covers those. It polls (at most every second) rather than hooking 'data',
 * so it does not care who reads the socket, nor that a TLS socket replaced the plain one.
 */
export interface ReadWatch {
  /** The socket carrying the connection's bytes now; undefined or destroyed ends the watch. */
  stream(): WatchedStream | undefined;
  /** What the connection waits for now (for the message), and whether it sends a body; undefined when it waits for nothing. */
  waitingFor(): Waiting | undefined;
  timeoutMs: number;
  /** The error the stream is destroyed with; `what` is the last waitingFor() answer's, `waitedMs` the silence that was too long. */
  onTimeout(what: string, waitedMs: number): Error;
}

/**
 * Before the first byte of a request's answer, the silence allowed is this many times the timeout:
 * a statement the server works on before it answers (a big sort, a statement-based event replayed,
 * a commit writing a large binary log) is not a partition, and the statements known to work
 * silently are not timed at all. Once the answer flows, a gap of one timeout is a partition.
 */
export const FIRST_ANSWER_FACTOR = 10;

export interface Waiting {
  what: string;
  /** The request waited on (its identity): until a byte of its answer arrived, FIRST_ANSWER_FACTOR × the timeout applies. Absent: the timeout applies from the start (connecting, closing). */
  request?: unknown;
  /** Sending a body: bytes the kernel took count as progress too. */
  sending?: boolean;
}

export interface WatchedStream {
  readonly bytesRead: number;
  readonly destroyed: boolean;
  readonly readableLength: number;
  destroy(err?: Error): void;
}

/** Starts watching; returns the function that stops it (the watch also stops once the stream is gone). */
export function watchReads(w: ReadWatch): () => void {
  if (!(w.timeoutMs > 0)) return () => undefined;
  let last = -1;
  let lastAt = Date.now();
  let request: unknown;
  let requestBaseline = -1;
  let lastTick = lastAt;
  const every = Math.max(50, Math.min(1000, Math.floor(w.timeoutMs / 4)));
  const timer = setInterval(
    () => {
      const s = w.stream();
      if (!s || s.destroyed) return clearInterval(timer);
      const now = Date.now();
      // This process stalled (a blocked event loop, a suspended machine): bytes that arrived meanwhile
      // are not read yet, so the network is not to blame; the count starts again.
      const stalled = now - lastTick > every * 3;
      lastTick = now;
      // Bytes that arrived and wait for the consumer (paused by backpressure, or read by pulling): the consumer's turn, not the network's.
      const waiting = s.readableLength > 0 ? undefined : w.waitingFor();
      const moved = progress(s, waiting?.sending === true);
      if (waiting?.request !== request) {
        request = waiting?.request;
        requestBaseline = s.bytesRead;
      }
      if (moved !== last || waiting === undefined || stalled) {
        last = moved;
        lastAt = now;
        return;
      }
      const answered = waiting.request === undefined || waiting.sending === true || s.bytesRead > requestBaseline;
      const limit = answered ? w.timeoutMs : w.timeoutMs * FIRST_ANSWER_FACTOR;
      if (now - lastAt < limit) return;
      clearInterval(timer);
      s.destroy(w.onTimeout(waiting.what, limit));
    },
    every,
  );
  timer.unref();
  return () => clearInterval(timer);
}

/** Bytes read, plus (sending) bytes written that the kernel took: written to the handle, less its queue (Node's own socket timeout reads the same queue). */
function progress(s: WatchedStream, sending: boolean): number {
  if (!sending) return s.bytesRead;
  const internal = s as unknown as { _bytesDispatched?: number; _handle?: { writeQueueSize?: number } | null };
  return s.bytesRead + (internal._bytesDispatched ?? 0) - (internal._handle?.writeQueueSize ?? 0);
}

/**
 * Statements the server may work on for long without sending a byte (index and constraint builds,
 * table rewrites, maintenance, replication slot creation waiting for running transactions, lock
 * waits bounded by their own limit): the idle-read timeout does not apply while one runs.
 */
const QUIET_STATEMENT =
  /\b(CREATE\s+(UNIQUE\s+)?INDEX|ALTER\s+TABLE|VALIDATE\s+CONSTRAINT|CLUSTER|REINDEX|VACUUM|ANALYZE|OPTIMIZE|REFRESH\s+MATERIALIZED|CREATE\s+DATABASE|DROP\s+DATABASE|TRUNCATE|LOCK\s+TABLES?|FLUSH\s+TABLES|pg_create_logical_replication_slot|CREATE_REPLICATION_SLOT|pg_sleep|SLEEP)\b/i;

/** How much of a statement statementHead (a label) reads. */
const HEAD_CHARS = 4096;

const opening = (sql: string) => (sql.length > HEAD_CHARS ? sql.slice(0, HEAD_CHARS) : sql);

export function isQuietStatement(sql: string): boolean {
  return QUIET_STATEMENT.test(sql);
}

const traitsOf = new WeakMap<object, { quiet: boolean; sending: boolean }>();

/**
 * isQuietStatement and sendsBody of a running request (a driver's query object), read once per
 * request: the watchdog asks at every poll while a statement runs, and scanning a multi-megabyte
 * one whole (a replay's BINLOG batch of up to 8 MB) at every poll was the largest part of a
 * large-transaction replay's client CPU. The whole text is read (a script's CREATE INDEX, a wide
 * table's COPY column list can lie past any fixed opening).
 */
export function statementTraits(request: object, sql: string): { quiet: boolean; sending: boolean } {
  let traits = traitsOf.get(request);
  if (!traits) {
    traits = { quiet: isQuietStatement(sql), sending: sendsBody(sql) };
    traitsOf.set(request, traits);
  }
  return traits;
}

/**
 * A statement's opening for a message: up to the first literal (so no value, and no password, is
 * ever quoted), one line, at most 80 characters.
 */
export function statementHead(sql: string): string {
  const head = opening(sql).split(/['$]/)[0]!.replace(/\s+/g, ' ').trim();
  return head.length > 80 ? `${head.slice(0, 77)}…` : head;
}

/** A body-sending statement (COPY … FROM STDIN, LOAD DATA LOCAL INFILE): written bytes count as progress. */
export function sendsBody(sql: string): boolean {
  return /^\s*(COPY\b[\s\S]*\bFROM\s+STDIN|LOAD\s+DATA\s+LOCAL)/i.test(sql);
}
