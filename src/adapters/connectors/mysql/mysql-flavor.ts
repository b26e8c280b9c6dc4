import type { MysqlConnection } from './mysql-connection.js';

/**
 * Every difference between MariaDB and MySQL the connector cares about, in one place. The rest of
 * the connector asks a ServerFlavor and never looks at version strings itself.
 */
export interface ServerFlavor {
  readonly name: 'mariadb' | 'mysql';
  readonly version: string;
  /** Binary log file/position (and GTID set) right now; null when binary logging is off. */
  binlogPosition(conn: MysqlConnection): Promise<BinlogPosition | null>;
  /** SQL condition on information_schema.COLUMNS (alias c) selecting columns that hold data (not generated). */
  readonly storedColumnCondition: string;
  /**
   * How a LOAD DATA (or INSERT) feeds a raw-bytes value into a column of this data type:
   * undefined = directly; otherwise an expression over `?`/`@var` (MySQL's JSON refuses binary strings).
   */
  loadExpression(dataType: string): string | undefined;
  /** Settings for a session that loads a consistent backup into empty tables (beyond the dump's session settings). */
  bulkLoadStatements(): string[];
}

export interface BinlogPosition {
  file: string;
  position: number;
  /** MariaDB: gtid_binlog_pos (domain-server-seq list); MySQL: Executed_Gtid_Set. Absent when GTIDs are off. */
  gtid?: string;
  flavor: 'mariadb' | 'mysql';
}

/** Schemas that belong to the server and are never part of an --all-databases backup. */
export const SYSTEM_SCHEMAS = ['mysql', 'information_schema', 'performance_schema', 'sys'];

export async function detectFlavor(conn: MysqlConnection): Promise<ServerFlavor> {
  const [rows] = await conn.query('SELECT VERSION() AS v, @@version_comment AS c');
  const { v, c } = (rows as { v: string; c: string | null }[])[0]!;
  return /mariadb/i.test(`${v} ${c ?? ''}`) ? new MariaDbFlavor(v) : new MySqlFlavor(v);
}

class MariaDbFlavor implements ServerFlavor {
  readonly name = 'mariadb' as const;
  readonly storedColumnCondition = "COALESCE(c.IS_GENERATED, 'NEVER') = 'NEVER'";
  constructor(readonly version: string) {}

  async binlogPosition(conn: MysqlConnection): Promise<BinlogPosition | null> {
    const status = await showStatus(conn, 'SHOW MASTER STATUS');
    if (!status) return null;
    const [rows] = await conn.query('SELECT @@GLOBAL.gtid_binlog_pos AS g');
    const gtid = (rows as { g: string | null }[])[0]?.g ?? '';
    return { file: status.File, position: Number(status.Position), ...(gtid ? { gtid } : {}), flavor: this.name };
  }

  loadExpression(): string | undefined {
    return undefined;
  }

  bulkLoadStatements(): string[] {
    // Not unique_checks = 0: with foreign_key_checks = 0 it turns on InnoDB's bulk insert into an
    // empty table (MDEV-24621), which sorts the rows again at commit. Measured on 10.11.19 with
    // LOAD DATA of 300 k rows in primary-key order (as a backup's parts are): 1.7–1.8 s of server
    // CPU against 0.74–0.87 s for row inserts, and slower wall time too.
    return [];
  }
}

class MySqlFlavor implements ServerFlavor {
  readonly name = 'mysql' as const;
  readonly storedColumnCondition = "c.EXTRA NOT LIKE '%VIRTUAL GENERATED%' AND c.EXTRA NOT LIKE '%STORED GENERATED%'";
  constructor(readonly version: string) {}

  async binlogPosition(conn: MysqlConnection): Promise<BinlogPosition | null> {
    // performance_schema.log_status (8.0.22+, BACKUP_ADMIN) gives the file, position and GTID set in one
    // consistent read; the caller holds FLUSH TABLES WITH READ LOCK (or LOCK INSTANCE FOR BACKUP) around it.
    const fromLogStatus = await conn.query('SELECT LOCAL AS l FROM performance_schema.log_status').then(
      ([rows]) => parseLogStatus((rows as { l: unknown }[])[0]?.l),
      () => undefined,
    );
    if (fromLogStatus !== undefined) return fromLogStatus;
    // 8.2 added SHOW BINARY LOG STATUS and 8.4 removed SHOW MASTER STATUS.
    const [major, minor] = this.version.split('.').map((n) => Number.parseInt(n, 10));
    const modern = (major ?? 0) > 8 || ((major ?? 0) === 8 && (minor ?? 0) >= 2);
    const status = await showStatus(conn, modern ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS');
    if (!status) return null;
    const gtid = String(status.Executed_Gtid_Set ?? '').replace(/\s+/g, '');
    return { file: status.File, position: Number(status.Position), ...(gtid ? { gtid } : {}), flavor: this.name };
  }

  loadExpression(dataType: string): string | undefined {
    // MySQL 8: "Cannot create a JSON value from a string with CHARACTER SET 'binary'".
    return dataType.toLowerCase() === 'json' ? 'CONVERT(? USING utf8mb4)' : undefined;
  }

  bulkLoadStatements(): string[] {
    return ['SET SESSION UNIQUE_CHECKS = 0'];
  }
}

async function showStatus(conn: MysqlConnection, sql: string): Promise<{ File: string; Position: number | string; Executed_Gtid_Set?: string } | null> {
  const [rows] = await conn.query(sql);
  const row = (rows as { File: string; Position: number | string; Executed_Gtid_Set?: string }[])[0];
  return row?.File ? row : null;
}

/**
 * MySQL 8's performance_schema.log_status LOCAL column, e.g. `{"gtid_executed": "uuid:1-5",
 * "binary_log_file": "binlog.000002", "binary_log_position": 3155}` (a JSON string or an object):
 * the position, null when binary logging is off (no file), undefined when it is not that shape.
 */
export function parseLogStatus(local: unknown): BinlogPosition | null | undefined {
  let v: unknown = local;
  if (typeof v === 'string' || Buffer.isBuffer(v)) {
    try {
      v = JSON.parse(v.toString());
    } catch {
      return undefined;
    }
  }
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (o.binary_log_file === undefined) return 'gtid_executed' in o ? null : undefined;
  const position = Number(o.binary_log_position);
  if (typeof o.binary_log_file !== 'string' || !Number.isSafeInteger(position)) return undefined;
  if (o.binary_log_file === '') return null;
  const gtid = typeof o.gtid_executed === 'string' ? o.gtid_executed.replace(/\s+/g, '') : '';
  return { file: o.binary_log_file, position, ...(gtid ? { gtid } : {}), flavor: 'mysql' };
}
