import { Readable } from 'node:stream';
import type { Document, MongoClient } from 'mongodb';
import type { ChangeBatch, LogPosition } from '../../../application/ports/change-capture.js';
import type { PartSink } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { Manifest } from '../../../domain/manifest.js';
import type { MongoEndpoint } from './mongodb-endpoint.js';
import { compareTimes, type OplogTime, oplogTimeOf, toTimestamp } from './mongodb-oplog-entry.js';
import { OPLOG_INDEX_PART, type OplogIndex, OplogTally } from './mongodb-oplog-index.js';
import { type OplogWindow, positionTime, reaches, readWindow, rolled, tailOplog } from './mongodb-oplog-read.js';
import { balancerState, balancerWarning, listShards, openShards, type ShardInfo } from './mongodb-shards.js';

/** A shard's oplog part in a sharded link: mongodump's oplog.bson layout, one per replica set. */
export const shardOplogPart = (shard: string) => `changes/shards/${shard}/oplog.bson`;
export const SHARD_PART = /^changes\/shards\/([A-Za-z0-9_.-]{1,64})\/oplog\.bson(?:\.|$)/;

export interface ShardedRead {
  mongos: MongoClient;
  endpoint: MongoEndpoint;
  since: LogPosition;
  parent?: Manifest;
  databases: string[];
  sink: PartSink;
  signal: AbortSignal;
}

/** What a sharded link's index adds to a replica set's: each shard's counts and the oplog windows seen. */
export interface ShardedIndex extends OplogIndex {
  shards: Record<string, { replicaSet: string; oldest: OplogTime; newest: OplogTime; end: OplogTime | null } & Pick<OplogIndex, 'entries' | 'bytes' | 'first' | 'last'>>;
  /** The intersection of the shards' oplog windows when read: what the cluster's oplogs can still replay. */
  window: { oldest: OplogTime; newest: OplogTime };
}

/**
 * An incremental of a sharded cluster, read as PBM reads one: the shards come from the mongos
 * (listShards), and each shard's replica set's local.oplog.rs is tailed directly into a part of
 * its own. Every shard is read up to the same cluster time, the end: the oldest of the shards'
 * newest entries (a shard appends later entries only after its newest, so no entry at or before
 * the end can still appear; an idle primary writes a no-op every 10 s, so the end lags by that
 * at most). Each shard must still hold the parent's end (E_OPLOG_ROLLED naming the shard).
 */
export async function readShardedChanges(r: ShardedRead): Promise<ChangeBatch> {
  const shards = await listShards(r.mongos);
  checkSameShards(r.parent, shards);
  const balancer = await balancerState(r.mongos);
  const since = positionTime(r.since, "parent backup's log position");
  const opened = await openShards(r.endpoint, shards);
  try {
    const windows = new Map<string, OplogWindow>();
    for (const shard of shards) {
      const client = opened.clients.get(shard.id)!;
      const window = await readWindow(client);
      const recorded = shardEnd(r.since, shard.id);
      if (!(await reaches(client, window, recorded ?? since, recorded !== undefined))) {
        throw rolled(window.oldest, recorded ?? since, '(the oplog rolled over, or the replica set rolled back)', shard.id);
      }
      windows.set(shard.id, window);
    }
    const newest = [...windows.values()].reduce((a, w) => (compareTimes(w.newest, a.newest) < 0 ? w : a));
    const end = compareTimes(newest.newest, since) > 0 ? newest.newest : since;
    const all = new OplogTally();
    const sections: ShardedIndex['shards'] = {};
    const ends: Record<string, OplogTime | null> = {};
    for (const shard of shards) {
      const client = opened.clients.get(shard.id)!;
      const tally = new OplogTally();
      await tailOplog({ client, from: since, end, databases: r.databases, sink: r.sink, part: shardOplogPart(shard.id), tallies: [all, tally], signal: r.signal });
      const after = await readWindow(client);
      if (compareTimes(after.oldest, since) > 0) throw rolled(after.oldest, since, 'while this backup read it', shard.id);
      ends[shard.id] = await lastEntryAtOrBefore(client, end);
      const { entries, bytes, first, last } = tally.index(since, end);
      sections[shard.id] = { replicaSet: shard.replicaSet, entries, bytes, ...(first ? { first } : {}), ...(last ? { last } : {}), oldest: windows.get(shard.id)!.oldest, newest: windows.get(shard.id)!.newest, end: ends[shard.id] ?? null };
    }
    const index = shardedIndex(all, since, end, sections, windows);
    const json = Buffer.from(`${JSON.stringify(index)}\n`, 'utf8');
    await r.sink.write({ name: OPLOG_INDEX_PART, role: 'changes', rawSize: json.length }, Readable.from([json]));
    return {
      from: { ...r.since },
      to: { clusterTime: end, shards: ends },
      consistentAt: new Date(compareTimes(end, newest.newest) === 0 ? newest.newestTime : end.t * 1000),
      changes: all.entries,
      objects: all.touched().map((name) => ({ name, type: 'collection' })),
      warnings: balancerWarning(balancer),
      engineInfo: {
        shards: shards.map((s) => ({ id: s.id, replicaSet: s.replicaSet })),
        balancer,
        oplog: { from: since, to: end, entries: all.entries, bytes: all.bytes, transactions: all.transactions, window: index.window },
      },
    };
  } finally {
    await opened.close();
  }
}

/** The shard's end recorded by a sharded incremental (an entry on that shard), when there is one. */
function shardEnd(p: LogPosition, shard: string): OplogTime | undefined {
  const shards = p.shards as Record<string, unknown> | undefined;
  return shards && typeof shards === 'object' ? oplogTimeOf(shards[shard]) : undefined;
}

/** The time of the newest entry at or before `end` (scanned back from the newest: few entries). */
async function lastEntryAtOrBefore(client: MongoClient, end: OplogTime): Promise<OplogTime | null> {
  const doc = (await client.db('local').collection('oplog.rs').find({ ts: { $lte: toTimestamp(end) } }, { sort: { $natural: -1 }, limit: 1, projection: { ts: 1 } }).next()) as Document | null;
  return doc?.ts ? { t: doc.ts.t, i: doc.ts.i } : null;
}

/** The parent's shards must be the cluster's: a shard added or removed since has no oplog in the chain. */
function checkSameShards(parent: Manifest | undefined, shards: ShardInfo[]): void {
  const recorded = parent?.engineInfo.shards;
  if (!Array.isArray(recorded)) {
    if (parent && parent.engineInfo.topology !== 'sharded') throw new DbBackupError('E_UNSUPPORTED', 'The parent backup was not taken through a mongos: a sharded cluster\'s chain starts with a full taken through its mongos.');
    return;
  }
  const ids = (list: unknown[]) => list.map((s) => String((s as { id?: unknown })?.id)).sort().join(', ');
  if (ids(recorded) !== ids(shards)) {
    throw new DbBackupError('E_UNSUPPORTED', `The cluster's shards (${ids(shards)}) are not the parent backup's (${ids(recorded)}): a shard added or removed ends the chain; take a full backup.`);
  }
}

function shardedIndex(all: OplogTally, since: OplogTime, end: OplogTime, sections: ShardedIndex['shards'], windows: Map<string, OplogWindow>): ShardedIndex {
  const base = all.index(since, end);
  const firsts = Object.values(sections).flatMap((s) => (s.first ? [s.first] : []));
  const lasts = Object.values(sections).flatMap((s) => (s.last ? [s.last] : []));
  delete base.first;
  delete base.last;
  delete base.firstTime;
  delete base.lastTime;
  const list = [...windows.values()];
  return {
    ...base,
    ...(firsts.length ? { first: firsts.reduce((a, b) => (compareTimes(b, a) < 0 ? b : a)) } : {}),
    ...(lasts.length ? { last: lasts.reduce((a, b) => (compareTimes(b, a) > 0 ? b : a)) } : {}),
    shards: sections,
    window: {
      oldest: list.map((w) => w.oldest).reduce((a, b) => (compareTimes(b, a) > 0 ? b : a)),
      newest: list.map((w) => w.newest).reduce((a, b) => (compareTimes(b, a) < 0 ? b : a)),
    },
  };
}


/**
 * A sharded cluster's oplog window (doctor): the intersection of its shards' windows, the newest
 * of their oldest entries to the oldest of their newest, which is what a chain can rely on.
 */
export async function clusterOplogWindow(mongos: MongoClient, endpoint: MongoEndpoint): Promise<OplogWindow & { shards: number }> {
  const shards = await listShards(mongos);
  const opened = await openShards(endpoint, shards);
  try {
    const windows: OplogWindow[] = [];
    for (const shard of shards) windows.push(await readWindow(opened.clients.get(shard.id)!));
    const oldest = windows.map((w) => w.oldest).reduce((a, b) => (compareTimes(b, a) > 0 ? b : a));
    const newest = windows.reduce((a, w) => (compareTimes(w.newest, a.newest) < 0 ? w : a));
    return { oldest, newest: newest.newest, newestTime: newest.newestTime, shards: windows.length };
  } finally {
    await opened.close();
  }
}
