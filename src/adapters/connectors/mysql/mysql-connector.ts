import type { LogPosition } from '../../../application/ports/change-capture.js';
import { MysqlScratch } from './mysql-scratch.js';
import type { ConnectionTarget } from '../../../application/ports/connection-target.js';
import type { ConnectorCapabilities } from '../../../application/ports/connector-capabilities.js';
import type { DatabaseConnector } from '../../../application/ports/database-connector.js';
import type { DatabaseDiagnosis, DiagnosisRequest } from '../../../application/ports/database-diagnosis.js';
import type { Finding } from '../../../domain/diagnosis.js';
import type { DatabaseSession } from '../../../application/ports/database-session.js';
import type { DumpRequest, DumpResult } from '../../../application/ports/dump.js';
import type { PartSink, PartSource } from '../../../application/ports/parts.js';
import type { RestoreOutcome, RestorePlan, RestoreRequest } from '../../../application/ports/restore-plan.js';
import { mysqlEngine } from './mysql-engine.js';
import { mysqlGrants } from './mysql-grants.js';
import type { Manifest, ObjectEntry } from '../../../domain/manifest.js';
import { sourceNameFrom } from '../../../domain/repository-layout.js';
import { filterCatalog, readCatalog } from './mysql-catalog.js';
import { type MysqlEndpoint, openConnection, resolveEndpoint } from './mysql-connection.js';
import { chooseDatabases, runDump } from './mysql-dump.js';
import { gtidReplayPlan } from './mysql-binlog-gtids.js';
import { detectFlavor } from './mysql-flavor.js';
import { MysqlChangeCapture } from './mysql-changes.js';
import { MysqlContinuousCapture } from './mysql-continuous.js';
import { locateBinlogTarget } from './mysql-binlog-locate.js';
import { planSlavePos } from './mysql-binlog-reached.js';
import { runRestore } from './mysql-restore.js';
import { MysqlContents } from './mysql-contents.js';
import { buildPlan, readTargetState, type RestoreScope, restoreScope, scopeManifest } from './mysql-restore-scope.js';

/**
 * MySQL and MariaDB through mysql2 alone (no mysqldump): a consistent snapshot shared by parallel
 * connections, DDL from SHOW CREATE, data as LOAD DATA-ready TSV, restored with LOAD DATA LOCAL.
 * Connection options beyond the common ones come in `target.options`: socket, sslMode, sslCa,
 * sslCert, sslKey, allDatabases, targetDatabase, create, parallel (restore) and partSize.
 */
export class MysqlConnector implements DatabaseConnector, DatabaseDiagnosis {
  /** Throwaway restore targets for `verify --deep`. */
  readonly scratch = new MysqlScratch();
  readonly engine: string = mysqlEngine.engine;
  readonly capabilities: ConnectorCapabilities = mysqlEngine.capabilities;

  async connect(target: ConnectionTarget, purpose: 'backup' | 'restore' = 'backup'): Promise<DatabaseSession> {
    return new MysqlSession(resolveEndpoint(target), purpose);
  }

  defaultSourceName(target: ConnectionTarget): string {
    const e = resolveEndpoint(target);
    if (e.allDatabases || e.databases.length !== 1) return sourceNameFrom(`mysql-${e.socketPath ? 'local' : e.host}`);
    return sourceNameFrom(e.databases[0]!);
  }

  async diagnose(target: ConnectionTarget, request: DiagnosisRequest): Promise<Finding[]> {
    return (await import('./mysql-diagnosis.js')).diagnoseMysql(resolveEndpoint(target), request);
  }

  grants(target?: ConnectionTarget): string {
    return mysqlGrants(target ? resolveEndpoint(target).databases[0] : undefined);
  }

  locateLogPosition(chain: Manifest[], at: LogPosition): number {
    return locateBinlogTarget(chain, at);
  }
}

class MysqlSession implements DatabaseSession {
  readonly changes: MysqlChangeCapture;
  /** `replicate`'s binlog follower (backup sessions only). */
  readonly continuous?: MysqlContinuousCapture;
  readonly contents: MysqlContents;

  /** The scope of the last restore, which applying the links of its chain follows. */
  private restored: RestoreScope | undefined;

  constructor(
    private readonly endpoint: MysqlEndpoint,
    purpose: 'backup' | 'restore',
  ) {
    this.changes = new MysqlChangeCapture(endpoint, () => this.restored);
    this.contents = new MysqlContents(endpoint);
    if (purpose === 'backup') this.continuous = new MysqlContinuousCapture(endpoint);
  }

  /** Set once a test login succeeded: a backup is tested by the retrying connector, then by the run (no second login). */
  private tested = false;

  async test(): Promise<void> {
    if (this.tested) return;
    const conn = await openConnection(this.endpoint);
    await conn.end();
    this.tested = true;
  }

  async inspect(filter: { tables?: string[]; excludeTables?: string[] }): Promise<ObjectEntry[]> {
    const conn = await openConnection(this.endpoint);
    try {
      const flavor = await detectFlavor(conn);
      const catalog = filterCatalog(await readCatalog(conn, flavor, await chooseDatabases(conn, this.endpoint)), filter.tables, filter.excludeTables);
      const name = (o: { db: string; name: string }) => `${o.db}.${o.name}`;
      return [
        ...catalog.tables.map((t) => ({ name: name(t), type: t.kind, rows: t.rowsEstimate, rawBytes: t.bytes })),
        ...catalog.views.map((v) => ({ name: name(v), type: 'view' })),
        ...catalog.routines.map((r) => ({ name: name(r), type: r.kind.toLowerCase() })),
        ...catalog.triggers.map((t) => ({ name: name(t), type: 'trigger' })),
        ...catalog.events.map((ev) => ({ name: name(ev), type: 'event' })),
      ];
    } finally {
      await conn.end();
    }
  }

  dump(request: DumpRequest, sink: PartSink, signal: AbortSignal): Promise<DumpResult> {
    return runDump(this.endpoint, request, sink, signal);
  }

  async planRestore(manifest: Manifest, request: RestoreRequest): Promise<RestorePlan> {
    const scope = restoreScope(scopeManifest(manifest), this.endpoint, request);
    const conn = await openConnection(this.endpoint);
    try {
      const state = await readTargetState(conn, [...scope.dbMap.values()]);
      const [rows] = await conn.query('SELECT @@GLOBAL.local_infile AS v');
      const localInfile = Number((rows as { v: number | string }[])[0]?.v ?? 1) !== 0;
      const plan = buildPlan(manifest, this.endpoint, request, scope, state, localInfile);
      if (manifest.kind !== 'full') {
        plan.warnings.push(
          request.tables || request.excludeTables
            ? 'The chain replays the binary log for the chosen tables only; a DDL statement of the backup\'s databases in the range stops it (restore without --tables then).'
            : 'The chain replays the binary log of the backup\'s databases (renamed by --target-database).',
        );
        if (this.endpoint.replayGtids === 'keep') {
          const gtids = await gtidReplayPlan(conn, this.endpoint);
          plan.warnings.push(
            ...gtids.notes,
            gtids.carry
              ? '--replay-gtids keep: the replay runs on one connection and commits each source transaction alone with its GTID (the target records them); after the full restored here, none is skipped.'
              : '--replay-gtids keep: the replay goes on without carrying GTIDs.',
          );
        }
      }
      if (this.endpoint.setGtidSlavePos) plan.warnings.push(await planSlavePos(conn, this.endpoint, manifest, request));
      return plan;
    } finally {
      await conn.end();
    }
  }

  restore(parts: PartSource, request: RestoreRequest, signal: AbortSignal): Promise<RestoreOutcome> {
    this.restored = restoreScope(parts.manifest, this.endpoint, request);
    return runRestore(this.endpoint, parts, request, signal);
  }

  async close(): Promise<void> {}
}
