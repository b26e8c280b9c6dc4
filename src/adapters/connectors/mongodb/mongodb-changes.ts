import type { MongoClient } from 'mongodb';
import type { ChangeBatch, ChangeCapture, ChangeLimit, LogPosition, StoredChain } from '../../../application/ports/change-capture.js';
import type { PartSink, PartSource } from '../../../application/ports/parts.js';
import type { RestoreOutcome } from '../../../application/ports/restore-plan.js';
import { DbBackupError } from '../../../domain/errors.js';
import { LOG_SEGMENT_PART, readLogSegment } from '../../../domain/log-segment.js';
import type { Manifest } from '../../../domain/manifest.js';
import { bsonDocuments } from './bson-stream.js';
import type { MongoEndpoint } from './mongodb-endpoint.js';
import { OplogApplier } from './mongodb-oplog-apply.js';
import { OPLOG_PART, oplogPart, readOplogIndex } from './mongodb-oplog-index.js';
import { oplogWindow, readOplogChanges } from './mongodb-oplog-read.js';
import { mergeByClusterTime, type ShardEntries } from './mongodb-oplog-merge.js';
import { replayEntries, ReplayState } from './mongodb-oplog-replay.js';
import { readShardedChanges, SHARD_PART } from './mongodb-oplog-shards.js';
import { replayScopeFromManifest, replayScopeOf } from './mongodb-oplog-scope.js';
import type { RestoreScope } from './mongodb-restore-scope.js';
import { describeServer } from './mongodb-server.js';

const MAX_WARNINGS = 20;

/** Runs `run`, mapping what the driver throws to a DbBackupError with `code` (the session's guard). */
export type Guard = <T>(run: () => Promise<T>, code: 'E_BACKUP_FAILED' | 'E_RESTORE_FAILED', what: string) => Promise<T>;

/**
 * Change capture for MongoDB from the oplog (local.oplog.rs), as PBM and `mongodump --oplog` read
 * it: every full records the cluster time of its snapshot (mongodb-dump.ts), an incremental holds
 * the raw entries after its parent's end (mongodb-oplog-read.ts), and a restore replays them on the
 * restored full with applyOps semantics (mongodb-oplog-replay.ts), renamed and filtered as the
 * full's restore was. The server keeps its oplog by size (and oplogMinRetentionHours), so there is
 * nothing to confirm or retire; an oplog that rolled past a parent ends the chain (E_OPLOG_ROLLED).
 */
export class MongodbChangeCapture implements ChangeCapture {
  private state = new ReplayState();

  /** `restored`: the scope of the session's last restore of a full, which the links of its chain follow. */
  /** `guard` maps driver errors as the session does (connection and credentials to E_CONN_REFUSED / E_AUTH). */
  constructor(
    private readonly open: () => Promise<MongoClient>,
    private readonly endpoint: MongoEndpoint,
    private readonly restored: () => RestoreScope | undefined = () => undefined,
    private readonly guard: Guard = (run) => run(),
  ) {}

  /** A new chain is being restored: transactions held from the last one are dropped. */
  reset(): void {
    this.state = new ReplayState();
  }

  /** The newest oplog entry's time ({ clusterTime, entry: true }); E_UNSUPPORTED on a standalone or a mongos. */
  async position(): Promise<LogPosition> {
    const w = await oplogWindow(await this.open());
    return { clusterTime: w.newest, entry: true };
  }

  readChanges(since: LogPosition, sink: PartSink, signal: AbortSignal, stored?: StoredChain): Promise<ChangeBatch> {
    return this.guard(() => this.read(since, sink, signal, stored), 'E_BACKUP_FAILED', 'Reading the oplog failed');
  }

  applyChanges(parts: PartSource, until: ChangeLimit | undefined, signal: AbortSignal): Promise<RestoreOutcome> {
    return this.guard(() => this.apply(parts, until, signal), 'E_RESTORE_FAILED', 'Replaying the oplog failed');
  }

  private async read(since: LogPosition, sink: PartSink, signal: AbortSignal, stored?: StoredChain): Promise<ChangeBatch> {
    const client = await this.open();
    const parent = stored?.parent?.manifest;
    const server = await describeServer(client);
    if (parent && (server.topology === 'sharded') !== (parent.engineInfo.topology === 'sharded')) {
      throw new DbBackupError('E_UNSUPPORTED', `The parent backup was taken from a ${String(parent.engineInfo.topology)}, this server is a ${server.topology}: its oplog does not continue the chain; take a full backup.`);
    }
    const parentSet = parent?.engineInfo.replicaSet;
    if (typeof parentSet === 'string' && server.setName !== undefined && parentSet !== server.setName) {
      throw new DbBackupError('E_UNSUPPORTED', `The parent backup was taken from replica set "${parentSet}", this server is in "${server.setName}": its oplog does not continue the chain.`);
    }
    // The full's databases (a database created after it is not in its chain: take a full to add it).
    const fromParent = parent ? databasesOf(parent) : [];
    const databases = fromParent.length ? fromParent : this.endpoint.databases;
    const batch =
      server.topology === 'sharded'
        ? await readShardedChanges({ mongos: client, endpoint: this.endpoint, since, ...(parent ? { parent } : {}), databases, sink, signal })
        : await readOplogChanges({ client, since, databases, links: stored?.links ?? [], sink, signal });
    return {
      ...batch,
      serverVersion: server.version,
      engineInfo: {
        layout: 'mongodump-oplog',
        topology: server.topology,
        ...(server.setName ? { replicaSet: server.setName } : {}),
        databases,
        ...(parent ? { collections: collectionsOf(parent) } : {}),
        ...batch.engineInfo,
      },
    };
  }

  private async apply(parts: PartSource, until: ChangeLimit | undefined, signal: AbortSignal): Promise<RestoreOutcome> {
    if (until?.position) throw new DbBackupError('E_UNSUPPORTED', 'MongoDB restores stop at a time (--at TIME), not at a log position.');
    const { entries, where } = await linkEntries(parts, signal);
    const restored = this.restored();
    const scope = restored ? replayScopeOf(restored) : replayScopeFromManifest(parts.manifest, this.endpoint);
    const applier = new OplogApplier(await this.open(), scope);
    const sharded = parts.manifest.engineInfo.topology === 'sharded';
    const stopped = await replayEntries(entries, applier, this.state, { ...(until?.time ? { until: until.time.getTime() } : {}), where, signal, sharded });
    const warnings = applier.warnings.slice(0, MAX_WARNINGS);
    if (applier.warnings.length > MAX_WARNINGS) warnings.push(`… and ${applier.warnings.length - MAX_WARNINGS} more entries not replayed.`);
    if (stopped && this.state.pending.size) warnings.push(`${this.state.pending.size} transaction(s) open at the restore point were left out (they committed after it).`);
    return {
      objects: [...applier.touched].sort(),
      rows: applier.applied,
      warnings,
      ...(this.state.lastTime !== undefined ? { point: new Date(this.state.lastTime).toISOString() } : {}),
    };
  }
}

/**
 * The raw entries of a link: an incremental's oplog part (its index checked first), or the
 * commits of a log segment `replicate` shipped (one entry each).
 */
async function linkEntries(parts: PartSource, signal: AbortSignal): Promise<{ entries: AsyncIterable<Buffer>; where: string }> {
  const segment = oplogPart(parts, LOG_SEGMENT_PART);
  if (segment) {
    const where = `${segment.name} of segment ${parts.manifest.id}`;
    const body = await parts.open(segment);
    return {
      where,
      entries: (async function* () {
        for await (const commit of readLogSegment(body, where)) yield commit.payload;
      })(),
    };
  }
  const shards = parts.manifest.parts.filter((p) => SHARD_PART.test(p.name));
  if (shards.length) {
    await readOplogIndex(parts, signal);
    const sources: ShardEntries[] = [];
    for (const p of shards) {
      const where = `${p.name} of backup ${parts.manifest.id}`;
      sources.push({ shard: SHARD_PART.exec(p.name)![1]!, where, entries: bsonDocuments(await parts.open(p), where) });
    }
    return { where: `the shards' oplog parts of backup ${parts.manifest.id} (merged by cluster time)`, entries: mergeByClusterTime(sources) };
  }
  const part = oplogPart(parts, OPLOG_PART);
  if (!part) throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${parts.manifest.id} has no oplog part (${OPLOG_PART}).`);
  await readOplogIndex(parts, signal);
  const where = `${part.name} of backup ${parts.manifest.id}`;
  return { where, entries: bsonDocuments(await parts.open(part), where) };
}

/** The databases a chain's full holds (a link inherits them). */
function databasesOf(m: Manifest): string[] {
  const dbs = m.engineInfo.databases;
  return Array.isArray(dbs) ? dbs.filter((d): d is string => typeof d === 'string') : [];
}

/** The full's collections and their types (a link inherits them), so that --collections on a chain names any of them. */
export function collectionsOf(m: Manifest): Record<string, string> {
  if (m.kind !== 'full' && typeof m.engineInfo.collections === 'object' && m.engineInfo.collections !== null) return m.engineInfo.collections as Record<string, string>;
  return Object.fromEntries(m.objects.filter((o) => ['collection', 'view', 'timeseries'].includes(o.type)).map((o) => [o.name, o.type]));
}
