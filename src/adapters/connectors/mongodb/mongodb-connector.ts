import type { MongoClient } from 'mongodb';
import type { ConnectionTarget } from '../../../application/ports/connection-target.js';
import type { ConnectorCapabilities } from '../../../application/ports/connector-capabilities.js';
import type { DatabaseConnector } from '../../../application/ports/database-connector.js';
import type { DatabaseSession } from '../../../application/ports/database-session.js';
import type { DumpRequest, DumpResult } from '../../../application/ports/dump.js';
import type { PartSink, PartSource } from '../../../application/ports/parts.js';
import type { RestoreOutcome, RestorePlan, RestoreRequest } from '../../../application/ports/restore-plan.js';
import { MongodbContents } from './mongodb-contents.js';
import { MongodbScratch } from './mongodb-scratch.js';
import { mongodbEngine } from './mongodb-engine.js';
import { mongodbGrants } from './mongodb-diagnosis.js';
import type { DiagnosisRequest } from '../../../application/ports/database-diagnosis.js';
import type { Finding } from '../../../domain/diagnosis.js';
import { DbBackupError, isDbBackupError } from '../../../domain/errors.js';
import type { Manifest, ObjectEntry } from '../../../domain/manifest.js';
import { sourceNameFrom } from '../../../domain/repository-layout.js';
import { chooseDatabases, type CollectionInfo, listCollectionInfos, nsName, selectCollections } from './mongodb-catalog.js';
import { runDump } from './mongodb-dump.js';
import { connectionError, type MongoEndpoint, openClient, resolveEndpoint } from './mongodb-endpoint.js';
import { runRestore } from './mongodb-restore.js';
import { buildPlan, readTargetState, type RestoreScope, restoreScope } from './mongodb-restore-scope.js';
import { readMarkers } from './mongodb-restore-marker.js';
import { incompleteTargetWarning } from '../restore-marker.js';
import { collectionsOf, MongodbChangeCapture } from './mongodb-changes.js';
import { MongodbContinuousCapture } from './mongodb-continuous.js';

/**
 * MongoDB through the official driver alone (no mongodump): collections streamed with raw-BSON
 * cursors into mongodump's layout (`data/<db>/<coll>.bson` + `.metadata.json`), read in one
 * snapshot on replica sets and sharded clusters; restored with raw-BSON unordered inserts, indexes
 * after data. Connection choices beyond --url/--user/--password-env come in `target.options`
 * (see MongoEndpoint).
 */
export class MongodbConnector implements DatabaseConnector {
  readonly engine: string = mongodbEngine.engine;
  readonly capabilities: ConnectorCapabilities = mongodbEngine.capabilities;

  /** `verify --deep`: a scratch database on the named server. */
  readonly scratch = new MongodbScratch();

  async connect(target: ConnectionTarget, purpose: 'backup' | 'restore' = 'backup'): Promise<DatabaseSession> {
    return new MongodbSession(resolveEndpoint(target), purpose);
  }

  /** `doctor`: reachability, server and topology, the oplog window against the schedules' intervals (mongodb-diagnosis.ts). */
  async diagnose(target: ConnectionTarget, request: DiagnosisRequest): Promise<Finding[]> {
    return (await import('./mongodb-diagnosis.js')).diagnoseMongodb(resolveEndpoint(target), request);
  }

  grants(target?: ConnectionTarget): string {
    return mongodbGrants(target ? resolveEndpoint(target).databases[0] : undefined);
  }

  defaultSourceName(target: ConnectionTarget): string {
    const e = resolveEndpoint(target);
    if (e.databases.length === 1) return sourceNameFrom(e.databases[0]!);
    return sourceNameFrom(`mongodb-${e.hosts.split(',')[0]!.replace(/:\d+$/, '')}`);
  }
}

class MongodbSession implements DatabaseSession {
  private client: MongoClient | undefined;
  /** The scope of the last restore of a full, which a chain's links replay into. */
  private restored: RestoreScope | undefined;
  readonly changes: MongodbChangeCapture;
  readonly continuous?: MongodbContinuousCapture;
  readonly contents: MongodbContents;

  constructor(
    private readonly endpoint: MongoEndpoint,
    purpose: 'backup' | 'restore',
  ) {
    this.contents = new MongodbContents(() => this.open(), (client, filter) => this.choose(client, filter), endpoint.timeouts);
    this.changes = new MongodbChangeCapture(() => this.open(), endpoint, () => this.restored, (run, code, what) => this.guard(run, code, what));
    if (purpose === 'backup') {
      this.continuous = new MongodbContinuousCapture(
        () => this.open(),
        (sink, signal) => this.dump({ kind: 'full', parallel: 2 }, sink, signal),
        async () => chooseDatabases(await this.open(), this.endpoint.databases),
      );
    }
  }

  private async open(): Promise<MongoClient> {
    this.client ??= await openClient(this.endpoint);
    return this.client;
  }

  async test(): Promise<void> {
    await this.open();
  }

  async inspect(filter: { tables?: string[]; excludeTables?: string[] }): Promise<ObjectEntry[]> {
    const client = await this.open();
    const chosen = await this.choose(client, filter);
    const out: ObjectEntry[] = [];
    for (const c of chosen) {
      if (c.type === 'view') {
        out.push({ name: nsName(c.db, c.name), type: 'view' });
        continue;
      }
      const db = client.db(c.db);
      const source = c.type === 'timeseries' ? `system.buckets.${c.name}` : c.name;
      const rows = await db.collection(source).estimatedDocumentCount().catch(() => undefined);
      const stats = (await db.command({ collStats: source }).catch(() => undefined)) as { size?: number } | undefined;
      out.push({ name: nsName(c.db, c.name), type: c.type, ...(rows === undefined ? {} : { rows }), ...(typeof stats?.size === 'number' ? { rawBytes: stats.size } : {}) });
    }
    return out;
  }

  async dump(request: DumpRequest, sink: PartSink, signal: AbortSignal): Promise<DumpResult> {
    const client = await this.open();
    const chosen = await this.choose(client, request);
    return this.guard(() => runDump(client, this.endpoint, chosen, request, sink, signal), 'E_BACKUP_FAILED', 'The backup failed');
  }

  async planRestore(manifest: Manifest, request: RestoreRequest): Promise<RestorePlan> {
    const client = await this.open();
    // A link lists the namespaces its entries touched; --collections names any collection of its full (engineInfo.collections).
    const planned = manifest.kind === 'full' ? manifest : { ...manifest, objects: Object.entries(collectionsOf(manifest)).map(([name, type]) => ({ name, type })) };
    const scope = restoreScope(planned, request, this.endpoint);
    const plan = buildPlan(scope, await readTargetState(client, scope.targetDbs), request, this.endpoint);
    for (const [db, m] of await readMarkers(client, scope.targetDbs)) plan.warnings.push(incompleteTargetWarning(`database ${db}`, m));
    if (manifest.kind !== 'full') {
      plan.warnings.push(
        scope.selective
          ? "The chain replays the oplog entries of the chosen collections only, after the full's (renamed by --target-database)."
          : "The chain replays the oplog entries of the full's databases after it (renamed by --target-database), collections created since included.",
      );
    }
    return plan;
  }

  async restore(parts: PartSource, request: RestoreRequest, signal: AbortSignal): Promise<RestoreOutcome> {
    const client = await this.open();
    const scope = restoreScope(parts.manifest, request, this.endpoint);
    this.restored = scope;
    this.changes.reset();
    const parallel = request.parallel ?? this.endpoint.restoreParallel ?? 4;
    return this.guard(() => runRestore(client, scope, parts, request, parallel, signal), 'E_RESTORE_FAILED', 'The restore failed');
  }

  async close(): Promise<void> {
    await this.client?.close().catch(() => undefined);
    this.client = undefined;
  }

  /** The collections a dump with these filters covers; refuses filter names that match nothing. */
  private async choose(client: MongoClient, filter: { tables?: string[]; excludeTables?: string[] }): Promise<CollectionInfo[]> {
    const all: CollectionInfo[] = [];
    for (const db of await chooseDatabases(client, this.endpoint.databases)) all.push(...(await listCollectionInfos(client.db(db))));
    const { chosen, unknown } = selectCollections(all, filter.tables, filter.excludeTables);
    if (unknown.length) {
      throw new DbBackupError('E_USAGE', `No collection ${unknown.map((u) => `"${u}"`).join(', ')} in ${this.endpoint.hosts}; check --collections/--exclude-collections (db.collection or collection).`);
    }
    if (this.endpoint.databases.length && all.length === 0) {
      throw new DbBackupError('E_NOT_FOUND', `Database ${this.endpoint.databases.join(', ')} on ${this.endpoint.hosts} has no collections; check --database.`);
    }
    return chosen;
  }

  /** Driver errors that mean the connection or credentials failed become E_CONN_REFUSED / E_AUTH; a silent network, E_NETWORK_TIMEOUT. */
  private async guard<T>(run: () => Promise<T>, code: 'E_BACKUP_FAILED' | 'E_RESTORE_FAILED', what: string): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (isDbBackupError(err) || (err as Error)?.name === 'AbortError') throw err;
      const mapped = connectionError(err, this.endpoint);
      if (mapped.code === 'E_AUTH' || mapped.code === 'E_NETWORK_TIMEOUT' || /ECONNREFUSED|ECONNRESET|topology|server selection/i.test((err as Error)?.message ?? '')) throw mapped;
      throw new DbBackupError(code, `${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
  }
}
