import { Readable } from 'node:stream';
import { RowDigest } from '../table-digest.js';
import { type ClientSession, type Document, type MongoClient, MongoServerError, type Timestamp } from 'mongodb';
import type { DumpRequest, DumpResult } from '../../../application/ports/dump.js';
import type { PartSink } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import { FIRST_ANSWER_FACTOR } from '../../../infrastructure/read-watchdog.js';
import type { ObjectEntry } from '../../../domain/manifest.js';
import { BATCH_SIZE, packDocuments } from './bson-stream.js';
import { bucketsName, type CollectionInfo, nsName, partBase } from './mongodb-catalog.js';
import { buildMetadata, metadataJson, readIndexes } from './mongodb-metadata.js';
import { describeServer, type ServerInfo, timestampJson } from './mongodb-server.js';
import { type BalancerState, balancerState, balancerWarning, listShards } from './mongodb-shards.js';
import { runPool } from './work-pool.js';
import type { MongoEndpoint } from './mongodb-endpoint.js';
import { mongoTimeoutError, timeStream } from './mongodb-timeouts.js';


/**
 * Dumps `collections` (already chosen and filtered) into `sink`, mongodump's layout and bytes.
 * Replica sets and sharded clusters are read in one snapshot session: the first read fixes the
 * snapshot's cluster time and every collection is read at it, in parallel. A standalone server has
 * no snapshots: each collection is read as it is at its own moment, and the result says so.
 */
export async function runDump(
  client: MongoClient,
  endpoint: Pick<MongoEndpoint, 'hosts' | 'timeouts'>,
  collections: CollectionInfo[],
  request: DumpRequest,
  sink: PartSink,
  signal: AbortSignal,
): Promise<DumpResult> {
  const server = await describeServer(client);
  const startedAt = new Date();
  const oplogStart = await lastOplogTime(client, server);
  const warnings: string[] = [];
  const cluster = server.topology === 'sharded' ? await describeCluster(client) : {};
  if (cluster.balancer) warnings.push(...balancerWarning(cluster.balancer));
  const session = server.topology === 'standalone' ? undefined : client.startSession({ snapshot: true });
  try {
    let snapshotTime: Timestamp | undefined;
    if (session) {
      snapshotTime = await fixSnapshot(client, session, collections);
      if (!snapshotTime && collections.some((c) => c.type !== 'view')) {
        warnings.push('The server did not confirm a snapshot time; collections may have been read at different moments.');
      }
    } else {
      warnings.push(
        'The server is a standalone mongod: it has no snapshots, so this backup is not point-in-time consistent (each collection is read at its own moment). Run it as a replica set (even a single-node one) for consistent backups.',
      );
    }
    const objects: ObjectEntry[] = [];
    await runPool(
      collections,
      request.parallel,
      async (info, stop) => {
        objects.push(await dumpCollection(client, endpoint, info, session, sink, stop));
      },
      signal,
    );
    const oplogEnd = await lastOplogTime(client, server);
    objects.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return {
      serverVersion: server.version,
      consistentAt: snapshotTime ? new Date(timestampJson(snapshotTime).t * 1000) : startedAt,
      logPosition: {
        clusterTime: snapshotTime ? timestampJson(snapshotTime) : server.clusterTime,
        snapshot: snapshotTime !== undefined,
        ...(oplogStart || oplogEnd ? { oplog: { start: oplogStart, end: oplogEnd } } : {}),
      },
      objects,
      warnings,
      engineInfo: {
        layout: 'mongodump',
        topology: server.topology,
        ...(server.setName ? { replicaSet: server.setName } : {}),
        ...cluster,
        readConcern: snapshotTime ? 'snapshot' : 'local',
        databases: [...new Set(collections.map((c) => c.db))],
      },
    };
  } catch (err) {
    throw snapshotError(err);
  } finally {
    await session?.endSession().catch(() => undefined);
  }
}

async function dumpCollection(
  client: MongoClient,
  endpoint: Pick<MongoEndpoint, 'hosts' | 'timeouts'>,
  info: CollectionInfo,
  session: ClientSession | undefined,
  sink: PartSink,
  stop: AbortSignal,
): Promise<ObjectEntry> {
  const db = client.db(info.db);
  const name = nsName(info.db, info.name);
  const base = partBase(info.db, info.name);
  const metadata = Buffer.from(metadataJson(buildMetadata(info, await readIndexes(db, info))), 'utf8');
  await sink.write({ name: `${base}.metadata.json`, role: 'schema', object: name, rawSize: metadata.length }, Readable.from([metadata]));
  if (info.type === 'view') return { name, type: 'view' };
  const source = info.type === 'timeseries' ? bucketsName(info.name) : info.name;
  const file = info.type === 'timeseries' ? partBase(info.db, source) : base;
  const cursor = timeStream(db.collection(source).find({}, { raw: true, batchSize: BATCH_SIZE, ...(session ? { session } : {}) }), endpoint.timeouts);
  const tally = { documents: 0, bytes: 0 };
  const digest = new RowDigest();
  const onStop = () => void cursor.close().catch(() => undefined);
  stop.addEventListener('abort', onStop, { once: true });
  try {
    await sink.write({ name: `${file}.bson`, role: 'data', object: name }, Readable.from(packDocuments(hashedDocuments(cursor as AsyncIterable<unknown> as AsyncIterable<Buffer>, stop, digest), tally)));
  } catch (err) {
    const t = endpoint.timeouts;
    throw mongoTimeoutError(err, endpoint.hosts, t, { what: `reading collection ${name} (its cursor waited for the next batch)`, ms: t.streamTimeoutMs ?? t.ioTimeoutMs * FIRST_ANSWER_FACTOR }) ?? err;
  } finally {
    stop.removeEventListener('abort', onStop);
    await cursor.close().catch(() => undefined);
  }
  const hash = digest.rows === tally.documents ? { contentHash: digest.hash } : {};
  return { name, type: info.type, rows: tally.documents, rawBytes: tally.bytes, ...hash };
}

/** The documents, each hashed as its raw BSON bytes (the order-free digest of table-digest.ts); stops when `stop` fires. */
async function* hashedDocuments(source: AsyncIterable<Buffer>, stop: AbortSignal, digest: RowDigest): AsyncGenerator<Buffer> {
  for await (const doc of source) {
    stop.throwIfAborted();
    digest.addRange(doc, 0, doc.length);
    yield doc;
  }
}

/**
 * Starts the snapshot: the first snapshot read returns the cluster time it was served at and the
 * driver pins the session to it. One tiny read of a collection that holds data is enough.
 */
async function fixSnapshot(client: MongoClient, session: ClientSession, collections: CollectionInfo[]): Promise<Timestamp | undefined> {
  const first = collections.find((c) => c.type !== 'view');
  if (!first) return undefined;
  const source = first.type === 'timeseries' ? bucketsName(first.name) : first.name;
  await client.db(first.db).collection(source).find({}, { session, limit: 1, projection: { _id: 1 } }).toArray();
  return (session as unknown as { snapshotTime?: Timestamp }).snapshotTime ?? undefined;
}

async function lastOplogTime(client: MongoClient, server: ServerInfo): Promise<{ t: number; i: number } | null> {
  if (server.topology !== 'replicaSet') return null;
  try {
    const last = (await client.db('local').collection('oplog.rs').find({}, { sort: { $natural: -1 }, limit: 1, projection: { ts: 1 } }).next()) as Document | null;
    return last?.ts ? timestampJson(last.ts as Timestamp) : null;
  } catch {
    return null; // no read access to local: the oplog range is simply not recorded
  }
}

/**
 * A sharded cluster's shards and balancer state, recorded in a full taken through a mongos (its
 * incrementals tail each shard's oplog). A user who may not list the shards still gets the full.
 */
async function describeCluster(client: MongoClient): Promise<{ shards?: { id: string; replicaSet: string }[]; balancer?: BalancerState }> {
  const shards = await listShards(client).catch(() => undefined);
  return { ...(shards ? { shards: shards.map((s) => ({ id: s.id, replicaSet: s.replicaSet })) } : {}), balancer: await balancerState(client) };
}

function snapshotError(err: unknown): unknown {
  if (err instanceof MongoServerError && (err.code === 239 || err.code === 246 || err.codeName === 'SnapshotTooOld' || err.codeName === 'SnapshotUnavailable')) {
    return new DbBackupError(
      'E_BACKUP_FAILED',
      'The server no longer holds the snapshot this backup reads from (it keeps minSnapshotHistoryWindowInSeconds of history, 300 s by default). ' +
        'Raise that parameter on the server, or back up fewer collections at once, and run the backup again.',
      { cause: err },
    );
  }
  return err;
}
