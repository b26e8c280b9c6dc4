import { Readable } from 'node:stream';
import type { MysqlConnection } from './mysql-connection.js';
import type { ServerFlavor } from './mysql-flavor.js';
import { loadDataPart, type LoadTarget } from './mysql-load.js';

/** Raw bytes per LOAD DATA statement when one table is loaded over several connections. */
export const SPLIT_CHUNK = 4 * 1024 * 1024;

/**
 * Cuts a TSV data stream into pieces of about `size` bytes that end at a row's end (a raw LF only
 * ever ends a row: LFs inside values are written as `\n`). A piece is the list of its chunks, the
 * last one cut at its last LF: no byte is copied. Holds at most one piece and one read.
 */
export async function* rowChunks(body: AsyncIterable<Buffer>, size: number = SPLIT_CHUNK): AsyncGenerator<Buffer[]> {
  let held: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body) {
    if (chunk.length === 0) continue;
    bytes += chunk.length;
    if (bytes < size) {
      held.push(chunk);
      continue;
    }
    // A row longer than the rest of the piece ends in a later chunk: keep gathering until one has an LF.
    const cut = chunk.lastIndexOf(0x0a) + 1;
    if (cut === 0) {
      held.push(chunk);
      continue;
    }
    held.push(chunk.subarray(0, cut));
    yield held;
    held = cut < chunk.length ? [chunk.subarray(cut)] : [];
    bytes = chunk.length - cut;
  }
  if (bytes > 0) yield held;
}

/**
 * Loads one table's data over several connections at once: `pieces` (row-aligned, in key order) go
 * to whichever connection is free, one LOAD DATA each, every connection in its own transaction.
 * All commit once every piece is in; any failure rolls every one back (the table stays empty).
 * Separate statements, not one long statement per connection: a table with an AUTO_INCREMENT
 * column takes InnoDB's table-level AUTO-INC lock for a whole LOAD DATA, so long statements fed in
 * turn would wait on each other forever. Returns the rows loaded.
 */
export async function loadSplit(pool: MysqlConnection[], pieces: AsyncIterable<Buffer[]>, target: LoadTarget, flavor: ServerFlavor): Promise<number> {
  const next = pieces[Symbol.asyncIterator]();
  let loaded = 0;
  let failed = false;
  const begun: MysqlConnection[] = [];
  const results = await Promise.allSettled(
    pool.map(async (conn) => {
      await conn.query('START TRANSACTION');
      begun.push(conn);
      try {
        // Async generators queue concurrent next() calls, so each piece goes to exactly one worker.
        for (let piece = await next.next(); !piece.done && !failed; piece = await next.next()) {
          loaded += await loadDataPart(conn, Readable.from(piece.value), target, flavor);
        }
      } catch (err) {
        failed = true;
        throw err;
      }
    }),
  );
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    await next.return?.(undefined).catch(() => undefined);
    await Promise.all(begun.map((c) => c.query('ROLLBACK').catch(() => undefined)));
    throw failure.reason;
  }
  for (const conn of begun) await conn.query('COMMIT');
  return loaded;
}
