import { Readable } from 'node:stream';
import type { DumpRequest, DumpResult } from '../../../application/ports/dump.js';
import type { PartSink } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { ObjectEntry } from '../../../domain/manifest.js';
import { type Catalog, filterCatalog, listDatabases, readCatalog, type TableInfo } from './mysql-catalog.js';
import { closeConnection, destroyConnection, type MysqlConnection, type MysqlEndpoint, openConnection } from './mysql-connection.js';
import { DUMP_TIME_ZONE } from './mysql-ddl.js';
import { type BinlogPosition, detectFlavor, type ServerFlavor } from './mysql-flavor.js';
import { buildScripts } from './mysql-schema-dump.js';
import { renderScript } from './mysql-script.js';
import { dumpTable, type TableDumpResult, tableObjectName } from './mysql-table-dump.js';
import { isLockWaitTimeout, limitLockWaits, lockWaitFailure } from './mysql-lock-wait.js';
import { LOAD_DATA_OPTIONS } from './mysql-tsv.js';

export const SCHEMA_PART = 'schema.sql';
export const POST_DATA_PART = 'post-data.sql';

/** A table whose rows are in the backup: the columns each data row holds, in order. */
export interface MysqlTableEntry {
  db: string;
  name: string;
  columns: { name: string; type: string }[];
  /**
   * System-versioned table dumped with its history: every row ends with these two period
   * columns (row start, row end), loaded with system_versioning_insert_history.
   */
  history?: { start: string; end: string };
}

/** What a MySQL manifest's engineInfo holds; a restore reads it back. */
export interface MysqlEngineInfo {
  flavor: 'mariadb' | 'mysql';
  databases: { name: string; charset: string; collation: string }[];
  /** object name → table and the columns its data parts hold, in order. */
  tables: Record<string, MysqlTableEntry>;
  /** How to load a data part with native tools. */
  loadData: string;
  timeZone: string;
  definers: Record<string, string>;
}

/** The databases a backup covers: --all-databases, or the (comma-separated) --database names. */
export async function chooseDatabases(conn: MysqlConnection, e: MysqlEndpoint): Promise<string[]> {
  if (e.allDatabases) return listDatabases(conn);
  if (e.databases.length === 0) {
    throw new DbBackupError('E_USAGE', 'Name the database with --database NAME (or a list a,b, or the path of --url), or pass --all-databases.');
  }
  return e.databases;
}

/**
 * A consistent dump as mysqldump --single-transaction --source-data does it, shared by several
 * connections as mydumper does: under a brief FLUSH TABLES WITH READ LOCK every connection starts
 * a consistent-snapshot transaction and the binary log position is read; then the lock is released
 * and the connections read tables in parallel, all seeing the same instant.
 */
export async function runDump(e: MysqlEndpoint, request: DumpRequest, sink: PartSink, signal: AbortSignal): Promise<DumpResult> {
  // The connections log in at once (each login is a few round trips and the server's work).
  const [main, ...workers] = await openConnections(e, 1 + Math.max(1, request.parallel));
  let names: string[] = [];
  const onAbort = () => [main, ...workers].forEach(destroyConnection);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const flavor = await detectFlavor(main);
    names = await chooseDatabases(main, e);
    await Promise.all([main, ...workers].map((c) => prepareSession(c, e.lockWaitMs)));
    const snapshot = await takeSnapshot(main, workers, flavor);
    signal.throwIfAborted();
    const catalog = filterCatalog(await readCatalog(main, flavor, names), request.tables, request.excludeTables);
    const scripts = await buildScripts(main, catalog);
    await sink.write({ name: SCHEMA_PART, role: 'schema' }, textBody(renderScript('dbbackup MySQL schema (run first)', scripts.schema)));
    const withData = catalog.tables.filter(hasData);
    // information_schema's sizes (data and indexes, InnoDB's estimate): enough for a percentage and a time left.
    request.estimate?.(withData.reduce((n, t) => n + t.bytes, 0));
    const counted = await dumpTables(snapshot.sharing ? workers : [main], withData, sink, e.partSize);
    await sink.write({ name: POST_DATA_PART, role: 'post-data' }, textBody(renderScript('dbbackup MySQL post-data (run after loading data)', scripts.postData)));
    await main.query('COMMIT').catch(() => undefined);
    const warnings = [...snapshot.warnings, ...scripts.warnings, ...(await grantWarnings(main, catalog.databases.map((d) => d.name)))];
    return {
      serverVersion: `${flavor.name === 'mariadb' ? 'MariaDB' : 'MySQL'} ${flavor.version}`,
      consistentAt: snapshot.at,
      logPosition: snapshot.position ? { ...snapshot.position } : null,
      objects: objectEntries(catalog, counted),
      warnings,
      engineInfo: engineInfo(flavor, catalog, scripts.definers) as unknown as Record<string, unknown>,
    };
  } catch (err) {
    if (signal.aborted) throw signal.reason ?? err;
    throw asDumpError(await lockWaitFailure(err, e, names, e.lockWaitMs));
  } finally {
    signal.removeEventListener('abort', onAbort);
    await Promise.all([main, ...workers].map(closeConnection));
  }
}

/** `count` connections opened concurrently; if one fails, those that opened are closed and its error thrown. */
async function openConnections(e: MysqlEndpoint, count: number): Promise<[MysqlConnection, ...MysqlConnection[]]> {
  const opened = await Promise.allSettled(Array.from({ length: count }, () => openConnection(e)));
  const failed = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const conns = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (failed) {
    await Promise.all(conns.map(closeConnection));
    throw failed.reason;
  }
  return conns as [MysqlConnection, ...MysqlConnection[]];
}

/**
 * A neutral session whatever the server's defaults: sql_mode '' because ANSI_QUOTES would make
 * SHOW CREATE quote with double quotes, ORACLE/NO_*_OPTIONS would drop table options from it, and
 * PAD_CHAR_TO_FULL_LENGTH would pad CHAR values; routines keep their own stored sql_mode. A
 * backup's sessions also bound their metadata-lock waits (`lockWaitMs`, --lock-wait-timeout).
 */
export async function prepareSession(c: MysqlConnection, lockWaitMs?: number): Promise<void> {
  await c.query(
    `SET SESSION TIME_ZONE = '${DUMP_TIME_ZONE}', SESSION sql_mode = '', SESSION net_write_timeout = 3600, SESSION net_read_timeout = 3600, SESSION wait_timeout = 86400`,
  );
  await c.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
  if (lockWaitMs !== undefined) await limitLockWaits(c, lockWaitMs);
}

interface Snapshot {
  at: Date;
  position: BinlogPosition | null;
  warnings: string[];
  /** True when the workers share the snapshot; false means `main` alone holds it. */
  sharing: boolean;
}

async function takeSnapshot(main: MysqlConnection, workers: MysqlConnection[], flavor: ServerFlavor): Promise<Snapshot> {
  const warnings: string[] = [];
  try {
    await main.query('FLUSH TABLES WITH READ LOCK');
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (isLockWaitTimeout(err)) throw err;
    if (!/ACCESS_DENIED/.test(code)) throw lockError(err);
    // Without RELOAD: one connection, one snapshot; MariaDB still knows the snapshot's binlog position.
    await main.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    const position = flavor.name === 'mariadb' ? await snapshotPosition(main) : await readPosition(main, flavor, warnings);
    warnings.push('The user lacks the RELOAD privilege (FLUSH TABLES WITH READ LOCK), so the backup used one connection instead of --parallel.');
    if (flavor.name === 'mysql') warnings.push('Without RELOAD the recorded binary log position is approximate.');
    return { at: new Date(), position, warnings, sharing: false };
  }
  try {
    // The lock stops every commit, so the snapshots may start in any order: all see the same instant.
    await Promise.all([main, ...workers].map((c) => c.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY')));
    // MariaDB names the snapshot's own binlog position (and its GTID state); under the lock it is also SHOW MASTER STATUS's.
    const position = flavor.name === 'mariadb' ? await mariadbPosition(main, flavor, warnings) : await readPosition(main, flavor, warnings);
    return { at: new Date(), position, warnings, sharing: true };
  } finally {
    await main.query('UNLOCK TABLES');
  }
}

async function readPosition(conn: MysqlConnection, flavor: ServerFlavor, warnings: string[]): Promise<BinlogPosition | null> {
  try {
    const position = await flavor.binlogPosition(conn);
    if (!position) warnings.push('Binary logging is off on the server (no log-bin), so no log position was recorded; point-in-time recovery will not be possible.');
    return position;
  } catch (err) {
    warnings.push(`Could not read the binary log position (${(err as Error).message}); grant BINLOG MONITOR / REPLICATION CLIENT to record it.`);
    return null;
  }
}

async function mariadbPosition(conn: MysqlConnection, flavor: ServerFlavor, warnings: string[]): Promise<BinlogPosition | null> {
  let position: BinlogPosition | null;
  try {
    position = await snapshotPosition(conn, true);
  } catch {
    return readPosition(conn, flavor, warnings);
  }
  if (!position) warnings.push('Binary logging is off on the server (no log-bin), so no log position was recorded; point-in-time recovery will not be possible.');
  return position;
}

/**
 * MariaDB: the binlog position of the current consistent snapshot, no lock needed, and its GTID
 * position. Without the lock that is BINLOG_GTID_POS(file, offset), which reads the binlog file
 * from its start up to the offset (tens of ms per 50 MB, so up to seconds in a 1 GB file). Under
 * FLUSH TABLES WITH READ LOCK (`locked`) no transaction commits, so the snapshot's position is the
 * end of the binary log and its GTID position is @@gtid_binlog_pos, read in the same round trip
 * with SHOW MASTER STATUS's end to check it: the lock is held for two round trips instead.
 */
async function snapshotPosition(conn: MysqlConnection, locked = false): Promise<BinlogPosition | null> {
  const [rows] = await conn.query("SHOW STATUS LIKE 'binlog_snapshot_%'");
  const status = Object.fromEntries((rows as { Variable_name: string; Value: string }[]).map((r) => [r.Variable_name.toLowerCase(), r.Value]));
  if (!status.binlog_snapshot_file) return null;
  const gtid = (locked ? await lockedGtidPosition(conn, status.binlog_snapshot_file, Number(status.binlog_snapshot_position)) : undefined) ??
    (await gtidAt(conn, status.binlog_snapshot_file, Number(status.binlog_snapshot_position)));
  return { file: status.binlog_snapshot_file, position: Number(status.binlog_snapshot_position), ...(gtid ? { gtid } : {}), flavor: 'mariadb' };
}

async function gtidAt(conn: MysqlConnection, file: string, position: number): Promise<string> {
  const [g] = await conn.query('SELECT BINLOG_GTID_POS(?, ?) AS g', [file, position]);
  return (g as { g: string | null }[])[0]?.g ?? '';
}

/**
 * Under the global read lock: @@gtid_binlog_pos (the GTID position at the binary log's end) when
 * that end (SHOW MASTER STATUS) is the snapshot's position, as it is while nothing can commit;
 * undefined when it is not (then the caller asks BINLOG_GTID_POS).
 */
async function lockedGtidPosition(conn: MysqlConnection, file: string, position: number): Promise<string | undefined> {
  let rows: unknown;
  try {
    [rows] = await conn.query('SHOW MASTER STATUS');
  } catch (err) {
    // Without BINLOG MONITOR (or SUPER) SHOW MASTER STATUS is refused: BINLOG_GTID_POS needs neither.
    if (/ACCESS_DENIED/.test((err as { code?: string }).code ?? '')) return undefined;
    throw err;
  }
  const end = (rows as { File?: string; Position?: number | string }[])[0];
  if (end?.File !== file || Number(end.Position) !== position) return undefined;
  const [g] = await conn.query('SELECT @@GLOBAL.gtid_binlog_pos AS g');
  return (g as { g: string | null }[])[0]?.g ?? '';
}

/** Runs the tables on the connections, biggest first, one table per connection at a time. */
/** Raw bytes in each column's own character set: no conversion on the way out (nor in: LOAD DATA … CHARACTER SET binary). */
export const RAW_RESULTS = 'SET SESSION character_set_results = binary';

async function dumpTables(conns: MysqlConnection[], tables: TableInfo[], sink: PartSink, partSize: number): Promise<Map<string, TableDumpResult>> {
  const queue = [...tables].sort((a, b) => b.bytes - a.bytes);
  const counted = new Map<string, TableDumpResult>();
  const worker = async (conn: MysqlConnection) => {
    await conn.query(RAW_RESULTS);
    for (let t = queue.shift(); t; t = queue.shift()) {
      try {
        counted.set(tableObjectName(t), await dumpTable(conn, t, sink, partSize));
      } catch (err) {
        queue.length = 0;
        destroyConnection(conn);
        throw err;
      }
    }
  };
  await Promise.all(conns.map(worker));
  return counted;
}

function objectEntries(catalog: Catalog, counted: Map<string, TableDumpResult>): ObjectEntry[] {
  const name = (o: { db: string; name: string }) => `${o.db}.${o.name}`;
  return [
    ...catalog.tables.map((t) => {
      const c = counted.get(name(t));
      return { name: name(t), type: t.kind, ...(c ? { rows: c.rows, rawBytes: c.bytes, ...(c.contentHash ? { contentHash: c.contentHash } : {}) } : {}) };
    }),
    ...catalog.views.map((v) => ({ name: name(v), type: 'view' })),
    ...catalog.routines.map((r) => ({ name: name(r), type: r.kind.toLowerCase() })),
    ...catalog.triggers.map((t) => ({ name: name(t), type: 'trigger' })),
    ...catalog.events.map((e) => ({ name: name(e), type: 'event' })),
  ];
}

function engineInfo(flavor: ServerFlavor, catalog: Catalog, definers: Record<string, string>): MysqlEngineInfo {
  return {
    flavor: flavor.name,
    databases: catalog.databases.map((d) => ({ name: d.name, charset: d.charset, collation: d.collation })),
    tables: Object.fromEntries(
      catalog.tables
        .filter(hasData)
        .map((t) => [
          tableObjectName(t),
          { db: t.db, name: t.name, columns: t.columns.map((c) => ({ name: c.name, type: c.dataType })), ...(t.history ? { history: t.history } : {}) },
        ]),
    ),
    loadData: `LOAD DATA LOCAL INFILE '<part>' INTO TABLE <table> ${LOAD_DATA_OPTIONS} (<columns>)`,
    timeZone: DUMP_TIME_ZONE,
    definers,
  };
}

/**
 * Accounts and their GRANTs live at server level (the mysql schema), not in a database, so a
 * backup of databases does not hold them (as mysqldump without --system=users): say which
 * databases have grants a restore elsewhere will lack. Only grants the backup user may see count.
 */
async function grantWarnings(conn: MysqlConnection, names: string[]): Promise<string[]> {
  const inList = names.map(() => '?').join(', ');
  const [rows] = await conn.query(
    `SELECT TABLE_SCHEMA AS db, COUNT(DISTINCT GRANTEE) AS n FROM (
       SELECT TABLE_SCHEMA, GRANTEE FROM information_schema.SCHEMA_PRIVILEGES WHERE TABLE_SCHEMA IN (${inList})
       UNION ALL SELECT TABLE_SCHEMA, GRANTEE FROM information_schema.TABLE_PRIVILEGES WHERE TABLE_SCHEMA IN (${inList})
       UNION ALL SELECT TABLE_SCHEMA, GRANTEE FROM information_schema.COLUMN_PRIVILEGES WHERE TABLE_SCHEMA IN (${inList})
     ) g GROUP BY TABLE_SCHEMA ORDER BY TABLE_SCHEMA`,
    [...names, ...names, ...names],
  );
  return (rows as { db: string; n: number | string }[]).map(
    (r) => `${r.n} account(s) hold GRANTs on database ${r.db}; accounts and grants are server-level and not part of this backup (recreate them on the target).`,
  );
}

/** Tables whose rows the backup holds (not sequences, nor MERGE/FEDERATED-like tables whose rows live elsewhere). */
export function hasData(t: TableInfo): boolean {
  return t.kind === 'table' && !t.noData;
}

function textBody(text: string): Readable {
  return Readable.from([Buffer.from(text, 'utf8')]);
}

function lockError(err: unknown): DbBackupError {
  return new DbBackupError(
    'E_BACKUP_FAILED',
    `Could not take the brief global read lock (FLUSH TABLES WITH READ LOCK): ${(err as Error).message}. A long-running query or an open lock may be blocking it; retry when it is done.`,
    { cause: err },
  );
}

function asDumpError(err: unknown): unknown {
  if (err instanceof DbBackupError) return err;
  const code = (err as { code?: string }).code;
  if (code === 'ER_TABLEACCESS_DENIED_ERROR' || code === 'ER_SPECIFIC_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR') {
    return new DbBackupError('E_AUTH', `The MySQL user may not read everything to back up: ${(err as Error).message}`, { cause: err });
  }
  return err;
}
