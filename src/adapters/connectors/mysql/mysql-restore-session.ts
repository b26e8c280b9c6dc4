import type { MysqlConnection } from './mysql-connection.js';
import { sessionStatements } from './mysql-ddl.js';
import { lockWaitStatement } from './mysql-lock-wait.js';
import type { ServerFlavor } from './mysql-flavor.js';

/** How the restore's sessions are set up; `binlog` is what became of binary logging for them. */
export interface RestoreSession {
  /** Keep writing the restore to the binary log (the default; the endpoint's `binlog=off` turns it off). */
  keepBinlog: boolean;
  /** How long a statement waits for a lock another session holds (`--lock-wait-timeout`; 0: as long as it takes). */
  lockWaitMs: number;
  /** 'off' once a session turned sql_log_bin off; 'denied' when the user may not. */
  binlog?: 'off' | 'denied';
}

/** MySQL/MariaDB's "you need the SUPER (or BINLOG ADMIN …) privilege" error. */
const ACCESS_DENIED = new Set([1227, 1044, 1045]);

/**
 * Sets up one restore session: the dump's session settings (names, time zone, SQL mode, no
 * foreign-key checks: the backup is consistent), the flavor's bulk-load settings (unique_checks),
 * lock waits bounded (a DROP or CREATE behind another session's metadata lock — lock_wait_timeout
 * defaults to a year — fails with E_LOCK_TIMEOUT instead of waiting unseen), and, when asked
 * (`binlog=off`, as myloader's default), no binary logging of the restore: a user without the
 * privilege to turn it off gets it logged, and `state.binlog` says so.
 */
export async function startRestoreSession(conn: MysqlConnection, flavor: ServerFlavor, state: RestoreSession): Promise<void> {
  // One round trip: the SET statements' assignments as one list (SET NAMES may be one of them).
  await conn.query(joinSets([...sessionStatements(), ...flavor.bulkLoadStatements(), lockWaitStatement(state.lockWaitMs)]));
  if (state.keepBinlog || state.binlog === 'denied') return;
  try {
    await conn.query('SET SESSION SQL_LOG_BIN = 0');
    state.binlog = 'off';
  } catch (err) {
    if (!ACCESS_DENIED.has((err as { errno?: number }).errno ?? 0)) throw err;
    state.binlog = 'denied';
  }
}

/** `SET a = 1`, `SET b = 2` → `SET a = 1, b = 2`. */
export function joinSets(statements: string[]): string {
  return `SET ${statements.map((s) => s.replace(/^SET /i, '')).join(', ')}`;
}

/** What the user should know about binary logging after a restore on a server that logs (none when it does not). */
export async function binlogNotes(conn: MysqlConnection, state: RestoreSession): Promise<string[]> {
  const [rows] = await conn.query('SELECT @@GLOBAL.log_bin AS b');
  if (Number((rows as { b: number | string }[])[0]?.b ?? 0) !== 1) return [];
  if (state.binlog === 'off') {
    return ['The restore was not written to the server\'s binary log (binlog=off): replicas of this server did not receive it.'];
  }
  if (state.binlog === 'denied') {
    return ['binlog=off was asked, but the restore was written to the binary log: this user may not turn it off for its session (SUPER or BINLOG ADMIN).'];
  }
  return [];
}
