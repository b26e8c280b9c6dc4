import { Readable } from 'node:stream';
import type pg from 'pg';
import type { PartSink } from '../../../application/ports/parts.js';
import { dataPartName } from '../../../domain/repository-layout.js';
import { digestLines, LineDigest, RowDigest } from '../table-digest.js';
import { connectionLost } from './connection.js';
import { CopyOutQuery } from './postgres-copy-reader.js';
import type { DataTable } from './postgres-schema-model.js';

/** Heap pages per chunk when a large table is read by several connections at once (64 MiB). */
export const CHUNK_PAGES = 8192;

/** A table, or one range of its heap pages (a TID range scan), to COPY out. */
export interface CopyJob {
  table: DataTable;
  /** [first page, end page) — end null for "to the end of the table". */
  pages?: [number, number | null];
  weight: number;
}

export interface TableResult {
  object: string;
  rows: number;
  bytes: number;
  /** The rows' content digest (each COPY line hashed as it streams by; the ranges of a table merged). */
  digest: RowDigest;
}

/** Heap size in pages of each table, read after the tables are locked (their size can only grow). */
export async function blockCounts(client: pg.Client, tables: DataTable[]): Promise<Map<number, number>> {
  const rows = (
    await client.query(`SELECT oid, (pg_relation_size(oid) / current_setting('block_size')::int)::int AS pages FROM pg_class WHERE oid = ANY($1::oid[])`, [
      tables.map((t) => t.oid),
    ])
  ).rows as { oid: number; pages: number }[];
  return new Map(rows.map((r) => [r.oid, r.pages]));
}

/** The smallest range a table is cut into (8 MiB of heap): below that a range's COPY start-up shows. */
export const MIN_CHUNK_PAGES = 1024;

/**
 * One job per table, largest first. A table is read in page ranges by several connections (all in
 * the same snapshot) only when it holds more than 1.5 times an even share of the data, so that it
 * alone would keep one connection busy long after the others ran out of work: a TID range scan
 * bypasses the ring buffer a plain COPY's sequential scan uses, so on a table larger than
 * shared_buffers it costs the server about twice the CPU per page (measured: 5.4 s against 2.9 s
 * for a 450 MB table with 256 MB of shared_buffers) and evicts the server's cache.
 * Such a table gets about two ranges per connection (at most `chunkPages`, at least
 * MIN_CHUNK_PAGES each), so that the connections end close together: fixed 64 MiB ranges left a
 * 128 MB table (pgbench -s 10) in two ranges and a sliver, or in one piece just below 16,384 pages.
 */
export function planJobs(tables: DataTable[], pages: Map<number, number>, workers: number, chunkPages = CHUNK_PAGES): CopyJob[] {
  const jobs: CopyJob[] = [];
  const total = tables.reduce((sum, t) => sum + (pages.get(t.oid) ?? 0), 0);
  const smallest = Math.min(MIN_CHUNK_PAGES, chunkPages);
  for (const table of tables) {
    const n = pages.get(table.oid) ?? 0;
    if (workers < 2 || table.filter || n < 2 * smallest || n <= (1.5 * total) / workers) {
      jobs.push({ table, weight: n });
      continue;
    }
    const most = Math.min(chunkPages, Math.max(smallest, Math.ceil(n / (2 * workers))));
    const size = Math.ceil(n / Math.ceil(n / most)); // the same size for every range, no sliver at the end
    for (let first = 0; first < n; first += size) {
      const last = first + size >= n;
      jobs.push({ table, pages: [first, last ? null : first + size], weight: last ? n - first : size });
    }
  }
  return jobs.sort((a, b) => b.weight - a.weight);
}

function copySql(job: CopyJob): string {
  const { table, pages } = job;
  if (table.filter) return `COPY (SELECT ${table.columns.join(', ')} FROM ONLY ${table.ident} ${table.filter}) TO STDOUT`;
  if (!pages) return `COPY ${table.ident}${table.columns.length ? ` (${table.columns.join(', ')})` : ''} TO STDOUT`;
  const range = `ctid >= '(${pages[0]},0)'::tid${pages[1] === null ? '' : ` AND ctid < '(${pages[1]},0)'::tid`}`;
  return `COPY (SELECT ${table.columns.join(', ')} FROM ONLY ${table.ident} WHERE ${range}) TO STDOUT`;
}

/**
 * Runs the jobs over the clients (one job per client at a time). The first failure stops the rest:
 * the COPYs still running are aborted (their connections closed) rather than read to their end, so
 * that no COPY waits on a connection nobody reads any more. A connection the server ended (or the
 * network dropped) fails with E_BACKUP_FAILED naming the table it was reading.
 */
export async function copyJobs(clients: pg.Client[], jobs: CopyJob[], sink: PartSink, signal: AbortSignal, partSize: number): Promise<TableResult[]> {
  const queue = [...jobs];
  const results = new Map<string, TableResult>();
  const nextPart = new Map<string, number>();
  for (const job of jobs) results.set(job.table.object, { object: job.table.object, rows: 0, bytes: 0, digest: new RowDigest() });
  let failed: unknown;
  const running = new Set<CopyOutQuery>();
  const stop = (err: unknown) => {
    failed ??= err;
    for (const copy of running) copy.abort(failed);
  };
  const worker = async (client: pg.Client) => {
    // A part's write ends in an fsync and a rename (tens to hundreds of ms on a busy disk): the
    // connection reads its next table as soon as the part's bytes are all read, with at most
    // PENDING_WRITES writes still finishing; all of them end before this worker does.
    const writes = new PendingWrites(PENDING_WRITES);
    let error: unknown;
    try {
      while (queue.length && failed === undefined) {
        signal.throwIfAborted();
        const job = queue.shift()!;
        const result = results.get(job.table.object)!;
        const copy = client.query(new CopyOutQuery(copySql(job)));
        running.add(copy);
        const lines = new LineDigest();
        try {
          await splitParts(digestLines(copy, lines), partSize, async (body) => {
            const n = nextPart.get(job.table.object) ?? 0;
            nextPart.set(job.table.object, n + 1);
            const writing = sink.write({ name: dataPartName(job.table.object, n, 'copy'), role: 'data', object: job.table.object }, body).then((entry) => {
              result.bytes += entry.rawSize;
            });
            // A failed write stops every COPY at once, not when this connection next waits on one.
            writing.catch((err: unknown) => stop(connectionLost(err, `table ${job.table.object} was read`)));
            await writes.add(writing, body);
          });
          // The row count arrives with CommandComplete, just before ReadyForQuery.
          result.rows += await copy.finished;
          result.digest.merge(lines.digest);
        } catch (err) {
          copy.abort(err);
          throw failed ?? connectionLost(err, `table ${job.table.object} was read`);
        } finally {
          running.delete(copy);
        }
      }
    } catch (err) {
      error = err;
    }
    await writes.drain().catch((err: unknown) => {
      error ??= err;
    });
    if (error !== undefined) throw error;
  };
  await Promise.all(clients.map((c) => worker(c).catch(stop)));
  if (failed !== undefined) throw failed;
  return [...results.values()];
}

/** Part writes a COPY worker leaves finishing (their fsync and rename) while it reads on. */
const PENDING_WRITES = 4;

/**
 * Writes of parts whose bytes were all read, still finishing: `add` returns once the part's body
 * was read to its end (or at once with the write's error), and waits for the oldest write when
 * more than `most` are left; `drain` waits for every one and throws the first failure.
 */
class PendingWrites {
  private readonly writes: Promise<void>[] = [];

  constructor(private readonly most: number) {}

  async add(writing: Promise<void>, body: Readable): Promise<void> {
    writing.catch(() => undefined);
    this.writes.push(writing);
    const read = await Promise.race([readToEnd(body), writing.then(() => true)]);
    // A body closed before its end: the write failed, and says why.
    if (!read) await writing;
    while (this.writes.length > this.most) await this.writes.shift();
  }

  async drain(): Promise<void> {
    const outcomes = await Promise.allSettled(this.writes.splice(0));
    const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failure) throw failure.reason;
  }
}

/** True once `body` was read to its end, false when it closed before. */
function readToEnd(body: Readable): Promise<boolean> {
  if (body.readableEnded) return Promise.resolve(true);
  if (body.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    body.once('end', () => resolve(true));
    body.once('close', () => resolve(body.readableEnded));
  });
}

/**
 * Cuts a COPY text stream into parts: a part ends at the first row end (a raw newline; newlines
 * inside values are escaped) at or after `limit` bytes. One part at least, even for no rows.
 */
export async function splitParts(source: AsyncIterable<Buffer>, limit: number, write: (body: Readable) => Promise<void>): Promise<void> {
  const iterator = source[Symbol.asyncIterator]();
  let pending: Buffer | undefined;
  let ended = false;
  const next = async (): Promise<Buffer | undefined> => {
    if (pending) {
      const p = pending;
      pending = undefined;
      return p;
    }
    if (ended) return undefined;
    const r = await iterator.next();
    if (r.done) {
      ended = true;
      return undefined;
    }
    return r.value;
  };
  for (let index = 0; ; index++) {
    if (index > 0) {
      const peek = await next();
      if (!peek) return;
      pending = peek;
    }
    let size = 0;
    async function* part(): AsyncGenerator<Buffer> {
      for (;;) {
        const chunk = await next();
        if (!chunk) return;
        const nl = size + chunk.length < limit ? -1 : chunk.indexOf(10, Math.max(0, limit - size - 1));
        if (nl === -1) {
          size += chunk.length;
          yield chunk;
          continue;
        }
        if (nl + 1 < chunk.length) pending = chunk.subarray(nl + 1);
        yield chunk.subarray(0, nl + 1);
        return;
      }
    }
    await write(Readable.from(part(), { objectMode: false, highWaterMark: 1 << 20 }));
    if (ended && !pending) return;
  }
}
