import { Readable } from 'node:stream';
import { type Document, type MongoClient, MongoServerError } from 'mongodb';
import type { ChangeBatch, LogPosition } from '../../../application/ports/change-capture.js';
import type { PartSink, PartSource } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import { BATCH_SIZE, bsonDocuments, packDocuments } from './bson-stream.js';
import { compareTimes, type OplogEntry, type OplogTime, oplogTimeOf, parseEntry, timeText, toTimestamp } from './mongodb-oplog-entry.js';
import { OPLOG_INDEX_PART, OPLOG_PART, oplogPart, OplogTally, readOplogIndex } from './mongodb-oplog-index.js';
import { describeServer } from './mongodb-server.js';

/** The oplog's oldest and newest entries' times, or undefined when the server has no readable oplog. */
export interface OplogWindow {
  oldest: OplogTime;
  newest: OplogTime;
  newestTime: number;
}

/**
 * The server's oplog window. A standalone mongod has no oplog (E_UNSUPPORTED saying a single-node
 * replica set is enough); a mongos has none of its own (each shard's replica set has one).
 */
export async function oplogWindow(client: MongoClient): Promise<OplogWindow> {
  const server = await describeServer(client);
  if (server.topology === 'standalone') {
    throw new DbBackupError(
      'E_UNSUPPORTED',
      'The server is a standalone mongod, which keeps no oplog, so it has no incremental or point-in-time backups. A single-node replica set is enough: restart mongod with --replSet rs0 and run rs.initiate() once, then take a full backup.',
    );
  }
  if (server.topology === 'sharded') {
    throw new DbBackupError('E_UNSUPPORTED', 'This is a mongos, which has no oplog of its own: take incremental backups of a sharded cluster with `backup --type incremental` (it tails each shard\'s replica set); `replicate` of a sharded cluster is not supported yet.');
  }
  return readWindow(client);
}

/** The oplog window of the replica set member `client` reads from (no topology check). */
export async function readWindow(client: MongoClient): Promise<OplogWindow> {
  const oplog = client.db('local').collection('oplog.rs');
  const end = async (dir: 1 | -1) => (await oplog.find({}, { sort: { $natural: dir }, limit: 1, projection: { ts: 1, wall: 1 } }).next()) as Document | null;
  let first: Document | null;
  let last: Document | null;
  try {
    [first, last] = [await end(1), await end(-1)];
  } catch (err) {
    if (err instanceof MongoServerError && (err.code === 13 || err.codeName === 'Unauthorized')) {
      throw new DbBackupError('E_UNSUPPORTED', 'The backup user may not read the oplog (local.oplog.rs): grant it the role "read" on the database "local" (dbbackup doctor --print-grants --db mongodb).', { cause: err });
    }
    throw err;
  }
  if (!first || !last) throw new DbBackupError('E_UNSUPPORTED', 'The server\'s oplog (local.oplog.rs) is empty or cannot be read: the backup user needs read access to the local database.');
  const wall = last.wall instanceof Date ? last.wall.getTime() : last.ts.t * 1000;
  return { oldest: { t: first.ts.t, i: first.ts.i }, newest: { t: last.ts.t, i: last.ts.i }, newestTime: wall };
}

/** Where a stored position ends: its `clusterTime` ({ t, i }); E_UNSUPPORTED when it has none (a standalone's full). */
export function positionTime(p: LogPosition, what: string): OplogTime {
  const t = oplogTimeOf(p.clusterTime);
  if (!t) throw new DbBackupError('E_UNSUPPORTED', `The ${what} records no oplog time (it was taken from a standalone mongod, or by an older dbbackup): take a full backup of the replica set first.`);
  return t;
}

export interface OplogRead {
  client: MongoClient;
  since: LogPosition;
  /** The databases the chain's full holds: only their entries (and admin commands: transactions, renames) are kept. */
  databases: string[];
  /** A differential's stored links since the full, oldest first: copied when the oplog no longer reaches the full's end. */
  links: readonly PartSource[];
  sink: PartSink;
  signal: AbortSignal;
}

/**
 * An incremental (or differential) from the oplog, read as PBM reads it: first the window is
 * checked (the oldest entry must be at or before the parent's end, and when the parent ended at an
 * entry, that entry must still be there: otherwise the oplog rolled over or the set rolled back,
 * and the chain ends with E_OPLOG_ROLLED), then every entry after the parent's end up to the newest
 * entry at the start of the read is streamed raw into the oplog part, and the index part written.
 */
export async function readOplogChanges(r: OplogRead): Promise<ChangeBatch> {
  const window = await oplogWindow(r.client);
  const since = positionTime(r.since, "parent backup's log position");
  const copy = await linksToCopy(r, since, window);
  const from = copy.length ? positionTime(copy.at(-1)!.manifest.logPosition ?? {}, 'last stored incremental') : since;
  const end = compareTimes(window.newest, from) > 0 ? window.newest : from;
  const tally = new OplogTally();
  await tailOplog({ client: r.client, from, end, databases: r.databases, sink: r.sink, part: OPLOG_PART, tallies: [tally], before: copy, signal: r.signal });
  // The oplog only loses its oldest entries: still reaching `from` now, it reached it while being read.
  const after = await oplogWindow(r.client);
  if (compareTimes(after.oldest, from) > 0) throw rolled(after.oldest, from, 'while this backup read it');
  const index = Buffer.from(`${JSON.stringify(tally.index(since, end))}\n`, 'utf8');
  await r.sink.write({ name: OPLOG_INDEX_PART, role: 'changes', rawSize: index.length }, Readable.from([index]));
  const warnings = copy.length
    ? [`The oplog no longer reaches the full's end: this differential holds the entries of the ${copy.length} stored incremental(s) since it (${copy.map((c) => c.manifest.id).join(', ')}) and the server's oplog after them.`]
    : [];
  return {
    from: { ...r.since },
    to: { clusterTime: end, entry: true },
    consistentAt: new Date(compareTimes(end, window.newest) === 0 ? window.newestTime : (tally.last?.time ?? end.t * 1000)),
    changes: tally.entries,
    objects: tally.touched().map((name) => ({ name, type: 'collection' })),
    warnings,
    engineInfo: { oplog: { from: since, to: end, entries: tally.entries, bytes: tally.bytes, transactions: tally.transactions } },
  };
}

/**
 * The stored links a differential copies (oldest first) when the oplog lost the full's end but
 * still reaches the newest link's; none when the oplog reaches `since`. E_OPLOG_ROLLED otherwise.
 */
async function linksToCopy(r: OplogRead, since: OplogTime, window: OplogWindow): Promise<readonly PartSource[]> {
  const reached = (t: OplogTime, atEntry: boolean) => reaches(r.client, window, t, atEntry);
  if (await reached(since, r.since.entry === true)) return [];
  const newest = r.links.at(-1)?.manifest.logPosition;
  if (newest && (await reached(positionTime(newest, 'last stored incremental'), newest.entry === true))) {
    let at = since;
    for (const link of r.links) {
      // A link without an oplog index (a replicated segment) cannot be copied: the chain then ends.
      const index = await readOplogIndex(link, r.signal).catch(() => undefined);
      if (!index || index.from === null || compareTimes(index.from, at) !== 0) break;
      at = index.to;
    }
    if (compareTimes(at, positionTime(newest, 'last stored incremental')) === 0) return r.links;
  }
  throw rolled(window.oldest, since, '(the oplog rolled over, or the replica set rolled back)');
}

/** Whether the oplog still holds `t`: its oldest entry is at or before it, and when `atEntry`, the entry at `t` is there. */
export async function reaches(client: MongoClient, window: OplogWindow, t: OplogTime, atEntry: boolean): Promise<boolean> {
  if (compareTimes(window.oldest, t) > 0) return false;
  return !atEntry || (await client.db('local').collection('oplog.rs').find({ ts: toTimestamp(t) }, { limit: 1, projection: { ts: 1 } }).next()) !== null;
}

/** One oplog read into one part: the entries after `from` up to `end` (the chain's databases only), after the stored `before` links' entries. */
export interface OplogTail {
  client: MongoClient;
  from: OplogTime;
  end: OplogTime;
  databases: string[];
  sink: PartSink;
  part: string;
  /** Each entry written is counted in every one of these. */
  tallies: OplogTally[];
  before?: readonly PartSource[];
  signal: AbortSignal;
}

/** Streams the entries raw (never re-encoded) into the part, checking they come in log order. */
export async function tailOplog(t: OplogTail): Promise<void> {
  const filter: Document = { ts: { $gt: toTimestamp(t.from), $lte: toTimestamp(t.end) }, ...nsFilter(t.databases) };
  const cursor = t.client.db('local').collection('oplog.rs').find(filter, { raw: true, sort: { $natural: 1 }, batchSize: BATCH_SIZE });
  const onAbort = () => void cursor.close().catch(() => undefined);
  t.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const counted = { documents: 0, bytes: 0 };
    const entries = tallied(concat(t.before ?? [], t.signal, cursor as AsyncIterable<unknown> as AsyncIterable<Buffer>), t.tallies, t.signal);
    await t.sink.write({ name: t.part, role: 'changes' }, Readable.from(packDocuments(entries, counted)));
  } finally {
    t.signal.removeEventListener('abort', onAbort);
    await cursor.close().catch(() => undefined);
  }
}

/** E_OPLOG_ROLLED: the oplog (of `shard`, on a sharded cluster) no longer reaches `needed`. */
export function rolled(oldest: OplogTime, needed: OplogTime, how: string, shard?: string): DbBackupError {
  return new DbBackupError(
    'E_OPLOG_ROLLED',
    `${shard ? `Shard "${shard}": its` : "The server's"} oplog starts at ${timeText(oldest)}, and the entry at the parent's end ${timeText(needed)} is no longer in it ${how}: the chain ends here; take a full backup and size the oplog (replSetResizeOplog, or oplogMinRetentionHours) for longer than the time between backups.`,
  );
}

/** The entries of the copied links (their raw bytes as stored), then the server's. */
async function* concat(links: readonly PartSource[], signal: AbortSignal, server: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  for (const link of links) {
    const part = oplogPart(link, OPLOG_PART);
    if (!part) throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${link.manifest.id} has no oplog part (${OPLOG_PART}).`);
    for await (const raw of bsonDocuments(await link.open(part), `${part.name} of backup ${link.manifest.id}`)) {
      signal.throwIfAborted();
      yield Buffer.from(raw);
    }
  }
  yield* server;
}

async function* tallied(entries: AsyncIterable<Buffer>, tallies: OplogTally[], signal: AbortSignal): AsyncGenerator<Buffer> {
  let last: OplogEntry | undefined;
  for await (const raw of entries) {
    signal.throwIfAborted();
    const e = parseEntry(raw, 'the oplog');
    if (last && compareTimes(e.ts, last.ts) <= 0) throw new DbBackupError('E_BACKUP_FAILED', `The oplog returned entries out of order (${timeText(e.ts)} after ${timeText(last.ts)}).`);
    for (const tally of tallies) tally.add(e);
    last = e;
    yield raw;
  }
}

/** Only the chain's databases, and admin commands (transactions' applyOps, renames across databases). */
export function nsFilter(databases: string[]): Document {
  if (databases.length === 0) return {};
  const escaped = databases.map((d) => d.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return { $or: [{ ns: { $regex: `^(?:${escaped.join('|')})\\.` } }, { ns: 'admin.$cmd' }] };
}
