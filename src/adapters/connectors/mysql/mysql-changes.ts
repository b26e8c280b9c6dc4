import type { ApplyOnto, ChangeBatch, ChangeCapture, ChangeLimit, LogPosition, StoredChain } from '../../../application/ports/change-capture.js';
import type { PartSink, PartSource } from '../../../application/ports/parts.js';
import type { RestoreOutcome } from '../../../application/ports/restore-plan.js';
import { DbBackupError } from '../../../domain/errors.js';
import { applyBinlogChanges } from './mysql-binlog-apply.js';
import { readBinlogChanges } from './mysql-binlog-read.js';
import { segmentAsBinlog } from './mysql-binlog-segment.js';
import { checkBinlogSettings } from './mysql-binlog-settings.js';
import { closeConnection, type MysqlEndpoint, openConnection } from './mysql-connection.js';
import { detectFlavor } from './mysql-flavor.js';
import { type RestoreScope, restoreScope, scopeManifest } from './mysql-restore-scope.js';

/**
 * Change capture for MySQL and MariaDB from the binary log: every full records the binlog
 * position of its snapshot (mysql-dump.ts), an incremental reads the log from its parent's end
 * over the replication protocol (mysql-binlog-read.ts), and a restore replays it
 * (mysql-binlog-apply.ts). The server keeps its log by its own retention (binlog_expire_logs_seconds),
 * so there is nothing to confirm or retire; a log purged past a parent ends the chain (E_LOG_PURGED).
 */
export class MysqlChangeCapture implements ChangeCapture {
  /**
   * `restored`: the scope (databases and their new names, chosen tables) of the session's last
   * restore of a full, which the links of its chain follow (capabilities.changes.selective).
   */
  constructor(
    private readonly endpoint: MysqlEndpoint,
    private readonly restored: () => RestoreScope | undefined = () => undefined,
  ) {}

  /** The binlog position now ({ file, position, gtid?, flavor }); E_UNSUPPORTED when binary logging is off. */
  async position(): Promise<LogPosition> {
    const conn = await openConnection(this.endpoint);
    try {
      const flavor = await detectFlavor(conn);
      await checkBinlogSettings(conn, flavor);
      const p = await flavor.binlogPosition(conn);
      if (!p) throw new DbBackupError('E_UNSUPPORTED', 'Binary logging is off on the server (log_bin = OFF).');
      return { ...p };
    } finally {
      await closeConnection(conn);
    }
  }

  async readChanges(since: LogPosition, sink: PartSink, signal: AbortSignal, stored?: StoredChain): Promise<ChangeBatch> {
    const base = stored?.parent;
    const segments = stored?.links;
    const databases = (base?.manifest.engineInfo.databases as { name: string }[] | undefined)?.map((d) => d.name);
    const batch = await readBinlogChanges(this.endpoint, since, sink, signal, this.endpoint.partSize, databases, segments);
    // The parent's databases and tables (as its full recorded them) let a restore plan read this link alone.
    const inherited = base ? pick(base.manifest.engineInfo, ['databases', 'tables', 'loadData', 'timeZone', 'definers']) : {};
    return { ...batch, engineInfo: { ...inherited, ...batch.engineInfo } };
  }

  /** `--changes-only`: the GTID position (source's) where the last link applied onto the target in this session ended. */
  private ontoReached: string | undefined;

  async applyChanges(parts: PartSource, until: ChangeLimit | undefined, signal: AbortSignal, onto?: ApplyOnto): Promise<RestoreOutcome> {
    if (onto) {
      // No full restored first: the target is taken as it is, in the request's scope, and what it holds is skipped.
      const scope = restoreScope(scopeManifest(parts.manifest), this.endpoint, onto.request);
      const gtidOf = (p: unknown) => (p && typeof p === 'object' ? String((p as { gtid?: unknown }).gtid ?? '') : '');
      const continues = this.ontoReached !== undefined && this.ontoReached === gtidOf(parts.manifest.position?.from);
      const out = await applyBinlogChanges(this.endpoint, segmentAsBinlog(parts), until, signal, scope.dbMap, scope.tables, false, { ...onto, continues });
      this.ontoReached = until ? undefined : gtidOf(parts.manifest.position?.to);
      return out;
    }
    const restored = this.restored();
    const scope = restored ?? restoreScope(parts.manifest, this.endpoint, { clean: false });
    // A continuous segment (replicate) reads as a binlog incremental, stopping inside it at a time, GTID or position.
    // After a full restored in this session the target's data is the full's: no GTID it holds is skipped.
    return applyBinlogChanges(this.endpoint, segmentAsBinlog(parts), until, signal, scope.dbMap, scope.tables, restored !== undefined);
  }
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}
