import type { Document, MongoClient } from 'mongodb';
import type { LogPosition } from '../../../application/ports/change-capture.js';
import type { ContinuousCapture, FollowStart, LogBatch } from '../../../application/ports/continuous-capture.js';
import type { DumpResult } from '../../../application/ports/dump.js';
import type { PartSink } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import { type LogCommit, oldestCommits } from '../../../domain/log-segment.js';
import { compareTimes, type OplogTime, parseEntry, timeText, toTimestamp } from './mongodb-oplog-entry.js';
import { nsFilter, oplogWindow, positionTime } from './mongodb-oplog-read.js';

/** An oplog entry waiting to be shipped: its raw bytes as the commit's payload, and its time. */
interface Waiting {
  commit: LogCommit;
  ts: OplogTime;
}

/**
 * Continuous capture of a replica set's oplog (what `replicate` ships): each poll reads the
 * entries after the last one read (the backup's databases and admin commands only, as an
 * incremental does) with a raw-BSON cursor; every entry becomes one commit of a log segment, its
 * payload the entry's raw bytes, timed by its wall clock. A restore replays segments through the
 * same path as an incremental (mongodb-changes.ts): a transaction split across segments is held
 * until its commit entry. The server keeps its oplog by size, so nothing is pinned: an oplog that
 * rolled past the last entry read ends the generation (E_CHAIN_BROKEN, a new one starts with a full).
 */
export class MongodbContinuousCapture implements ContinuousCapture {
  private waiting: Waiting[] = [];
  private waitingBytes = 0;
  private read: OplogTime | undefined;
  private lastTime = 0;
  private databases: string[] = [];

  constructor(
    private readonly open: () => Promise<MongoClient>,
    private readonly dumpFull: (sink: PartSink, signal: AbortSignal) => Promise<DumpResult>,
    private readonly chosenDatabases: () => Promise<string[]>,
  ) {}

  async start(resumeFrom: LogPosition | undefined, identity: string | undefined): Promise<FollowStart> {
    const client = await this.open();
    const window = await oplogWindow(client);
    const mine = await replicaSetIdentity(client);
    this.databases = await this.chosenDatabases();
    if (resumeFrom === undefined) return { identity: mine, resumable: false };
    if (identity !== mine) return { identity: mine, resumable: false, reason: 'the server is in another replica set than the generation’s' };
    const from = positionTime(resumeFrom, 'last segment shipped');
    const there = compareTimes(window.oldest, from) <= 0 && (await client.db('local').collection('oplog.rs').find({ ts: toTimestamp(from) }, { limit: 1, projection: { ts: 1 } }).next()) !== null;
    if (!there) return { identity: mine, resumable: false, reason: `the oplog no longer holds the last segment's end ${timeText(from)} (it starts at ${timeText(window.oldest)}): it rolled over while replicate was not running` };
    this.read = from;
    return { identity: mine, resumable: true };
  }

  async snapshot(sink: PartSink, signal: AbortSignal): Promise<DumpResult & { at: LogPosition }> {
    const result = await this.dumpFull(sink, signal);
    const at = positionTime(result.logPosition ?? {}, 'snapshot');
    this.waiting = [];
    this.waitingBytes = 0;
    this.read = at;
    return { ...result, at: { clusterTime: at } };
  }

  async poll(maxBytes: number, signal: AbortSignal): Promise<number> {
    if (this.waitingBytes >= maxBytes || !this.read) return this.waitingBytes;
    const client = await this.open();
    const oplog = client.db('local').collection('oplog.rs');
    const oldest = (await oplog.find({}, { sort: { $natural: 1 }, limit: 1, projection: { ts: 1 } }).next()) as Document | null;
    if (!oldest || compareTimes({ t: oldest.ts.t, i: oldest.ts.i }, this.read) > 0) {
      throw new DbBackupError('E_CHAIN_BROKEN', `The oplog rolled past the last entry replicate read (${timeText(this.read)}); a new generation starts with a full.`, { details: { reason: 'oplog-rolled' } });
    }
    const cursor = oplog.find({ ts: { $gt: toTimestamp(this.read) }, ...nsFilter(this.databases) }, { raw: true, sort: { $natural: 1 }, batchSize: 1000 });
    try {
      for await (const raw of cursor as AsyncIterable<unknown> as AsyncIterable<Buffer>) {
        signal.throwIfAborted();
        const e = parseEntry(Buffer.from(raw), 'the oplog');
        // Wall clocks need not grow in log order (a clock step); a segment's commit times must.
        this.lastTime = Math.max(this.lastTime, e.time);
        this.waiting.push({ commit: { time: this.lastTime, payload: e.raw }, ts: e.ts });
        this.waitingBytes += e.raw.length;
        this.read = e.ts;
        if (this.waitingBytes >= maxBytes) break;
      }
    } finally {
      await cursor.close().catch(() => undefined);
    }
    return this.waitingBytes;
  }

  take(from: LogPosition, maxBytes: number): LogBatch | null {
    const taken = oldestCommits(this.waiting, maxBytes);
    if (!taken) return null;
    return { from, to: { clusterTime: taken.last.ts, entry: true }, commits: taken.commits, bytes: taken.bytes };
  }

  async release(position: LogPosition): Promise<void> {
    const p = positionTime(position, 'released position');
    let n = 0;
    while (n < this.waiting.length && compareTimes(this.waiting[n]!.ts, p) <= 0) this.waitingBytes -= this.waiting[n++]!.commit.payload.length;
    this.waiting.splice(0, n);
  }

  async close(): Promise<void> {
    this.waiting = [];
    this.waitingBytes = 0;
  }
}

/** The replica set: its name and, where the user may read it, the id it got at rs.initiate() (a re-initiated set is another source). */
async function replicaSetIdentity(client: MongoClient): Promise<string> {
  const hello = (await client.db('admin').command({ hello: 1 })) as Document;
  const config = (await client.db('admin').command({ replSetGetConfig: 1 }).catch(() => undefined)) as Document | undefined;
  const id = config?.config?.settings?.replicaSetId;
  return [String(hello.setName ?? ''), id ? String(id) : ''].filter((s) => s !== '').join(':');
}
