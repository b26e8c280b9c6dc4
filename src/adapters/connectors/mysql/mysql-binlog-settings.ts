import type { LogPosition } from '../../../application/ports/change-capture.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { FilePosition } from './mysql-binlog-transactions.js';
import type { MysqlConnection } from './mysql-connection.js';
import type { ServerFlavor } from './mysql-flavor.js';

/** Validates a binlog position this connector wrote ({ file, position, gtid?, flavor }). */
export function binlogPositionOf(p: LogPosition | null | undefined, what: string): FilePosition & { gtid?: string } {
  const ok = p && typeof p.file === 'string' && /^[\w.-]{1,255}\.\d+$/.test(p.file) && Number.isSafeInteger(p.position) && (p.position as number) >= 4;
  if (!ok) throw new DbBackupError('E_UNSUPPORTED', `The ${what} is not a binary log position (file, position): the parent was taken while binary logging was off; take a full backup.`);
  return { file: p.file as string, position: p.position as number, ...(typeof p.gtid === 'string' ? { gtid: p.gtid } : {}) };
}

interface Settings {
  log_bin: string | number;
  format: string | null;
  row_image: string | null;
}

/**
 * What reading changes from the binary log needs, each with the setting and its fix: binary
 * logging on (else E_UNSUPPORTED); row-based logging and full row images (else warnings: statements
 * replay, but a restore is then only as exact as re-running them). The privileges (REPLICATION
 * SLAVE, and REPLICATION CLIENT / BINLOG MONITOR for SHOW MASTER STATUS) are checked by the calls
 * that need them, whose errors name the grant.
 */
export async function checkBinlogSettings(conn: MysqlConnection, flavor: ServerFlavor): Promise<string[]> {
  const [rows] = await conn.query('SELECT @@GLOBAL.log_bin AS log_bin, @@GLOBAL.binlog_format AS format, @@GLOBAL.binlog_row_image AS row_image');
  const s = (rows as Settings[])[0]!;
  if (Number(s.log_bin) !== 1 && String(s.log_bin).toUpperCase() !== 'ON') {
    throw new DbBackupError('E_UNSUPPORTED', 'Binary logging is off on the server (log_bin = OFF): start it with --log-bin --server-id=N --binlog-format=ROW to take incremental backups.');
  }
  try {
    await conn.query(flavor.name === 'mariadb' ? 'SHOW BINLOG STATUS' : 'SHOW BINARY LOGS');
  } catch (err) {
    if (!isAccessDenied(err)) throw err;
    throw new DbBackupError(
      'E_AUTH',
      `The MySQL user may not look at the binary log (${(err as Error).message}); GRANT ${flavor.name === 'mariadb' ? 'BINLOG MONITOR, REPLICATION SLAVE' : 'REPLICATION CLIENT, REPLICATION SLAVE'} ON *.* TO the backup user for incremental backups.`,
      { cause: err },
    );
  }
  const warnings: string[] = [];
  const format = String(s.format ?? '').toUpperCase();
  if (format !== 'ROW') {
    warnings.push(`binlog_format is ${format} (not ROW): statements are replayed as they ran, which is exact only for deterministic ones; SET GLOBAL binlog_format = 'ROW' (and in the server's config).`);
  }
  const image = String(s.row_image ?? 'FULL').toUpperCase();
  if (image !== 'FULL') {
    warnings.push(`binlog_row_image is ${image} (not FULL): row events carry only some columns, which replay only onto a target whose rows match the source's exactly; SET GLOBAL binlog_row_image = 'FULL' (and in the server's config).`);
  }
  if (flavor.name === 'mysql') {
    const [c] = await conn.query('SELECT @@GLOBAL.binlog_transaction_compression AS c').catch(() => [[{ c: 0 }]] as unknown as [unknown]);
    if (Number((c as { c: number | string }[])[0]?.c ?? 0) === 1) {
      warnings.push('binlog_transaction_compression is ON: compressed transactions are stored as they are, but this version cannot replay them (SET GLOBAL binlog_transaction_compression = OFF).');
    }
  }
  return warnings;
}

/** The server's clock now, to the millisecond (the binlog's times come from it). */
export async function serverNow(conn: MysqlConnection): Promise<Date> {
  const [rows] = await conn.query('SELECT UNIX_TIMESTAMP(NOW(3)) AS t');
  const t = Number((rows as { t: string | number }[])[0]?.t);
  return Number.isFinite(t) ? new Date(Math.round(t * 1000)) : new Date();
}

/** The server refused for lack of a privilege. */
export function isAccessDenied(err: unknown): boolean {
  const e = err as { code?: string; errno?: number };
  return e.code === 'ER_SPECIFIC_ACCESS_DENIED_ERROR' || e.code === 'ER_ACCESS_DENIED_ERROR' || e.code === 'ER_BINLOG_CREATE_ROUTINE_NEED_SUPER' || e.errno === 1227;
}
