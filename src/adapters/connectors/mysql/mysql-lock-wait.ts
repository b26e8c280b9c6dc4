import { DbBackupError } from '../../../domain/errors.js';
import { waitedText } from '../lock-wait-timeout.js';
import { closeConnection, describeEndpoint, type MysqlConnection, type MysqlEndpoint, openConnection } from './mysql-connection.js';

/** lock_wait_timeout's largest value (a year, in seconds): what `--lock-wait-timeout 0` ("as long as it takes") sets. */
const FOREVER_S = 31_536_000;

/**
 * Bounds every metadata-lock wait of the session (FLUSH TABLES WITH READ LOCK, a table read or a
 * SHOW CREATE behind another session's LOCK TABLES … WRITE or ALTER TABLE) to `waitMs`, rounded up
 * to whole seconds as lock_wait_timeout counts them (0: no limit).
 */
export async function limitLockWaits(conn: MysqlConnection, waitMs: number): Promise<void> {
  const seconds = waitMs <= 0 ? FOREVER_S : Math.max(1, Math.ceil(waitMs / 1000));
  await conn.query(`SET SESSION lock_wait_timeout = ${seconds}`);
}

/** True for MySQL's "Lock wait timeout exceeded" (errno 1205). */
export function isLockWaitTimeout(err: unknown): boolean {
  const e = err as { code?: string; errno?: number } | undefined;
  return e?.code === 'ER_LOCK_WAIT_TIMEOUT' || e?.errno === 1205;
}

interface Held {
  id: string;
  mode: string;
  type: string;
  db: string;
  name: string;
  user: string | null;
  host: string | null;
  command: string | null;
  time: number | null;
}

/**
 * `err` as E_LOCK_TIMEOUT when it is a lock wait past the limit, naming the table and the session
 * that holds it where the server tells: information_schema.METADATA_LOCK_INFO (MariaDB's
 * metadata_lock_info plugin) names both; without it, SHOW OPEN TABLES names the tables in use and the
 * message says how to learn the holder. Looked up on a connection of its own; any other error is
 * returned unchanged. A restore's wait (its DROP or CREATE behind a reader's transaction, say)
 * names readers too, and says the target is left marked.
 */
export async function lockWaitFailure(err: unknown, e: MysqlEndpoint, databases: string[], waitMs: number, operation: 'backup' | 'restore' = 'backup'): Promise<unknown> {
  if (!isLockWaitTimeout(err)) return err;
  let held: Held[] = [];
  let inUse: string[] = [];
  let pluginMissing = false;
  try {
    const conn = await openConnection(e);
    try {
      [held, pluginMissing] = await metadataLocks(conn, databases, operation === 'restore');
      if (!held.length) inUse = await openTablesInUse(conn, databases);
    } finally {
      await closeConnection(conn);
    }
  } catch {
    // Who holds it is a help, not the error.
  }
  const waited = waitedText(waitMs);
  const fix =
    operation === 'backup'
      ? 'Nothing was recorded; end or wait for that session, or raise --lock-wait-timeout (0 waits as long as it takes).'
      : 'The target is marked as not completely restored; end or wait for that session, or raise --lock-wait-timeout (0 waits as long as it takes), then restore again with --clean.';
  const where = `The ${operation} ${operation === 'backup' ? 'of' : 'into'} ${describeEndpoint(e)}`;
  const h = held[0];
  if (h) {
    const who = [`connection id ${h.id}`, h.user && `user ${h.user}`, h.host && `host ${h.host}`, h.command && `${h.command}${h.time !== null ? ` for ${h.time} s` : ''}`].filter(Boolean).join(', ');
    return new DbBackupError(
      'E_LOCK_TIMEOUT',
      `${where} waited ${waited} for a lock on table ${h.db}.${h.name}: another session holds it (${h.mode}, ${h.type}; ${who}). ${fix}`,
      { cause: err, details: { table: `${h.db}.${h.name}`, mode: h.mode, connectionId: Number(h.id) } },
    );
  }
  const what = inUse.length === 0 ? 'a table' : inUse.length === 1 ? `table ${inUse[0]}` : `one of the tables ${inUse.slice(0, 5).join(', ')}${inUse.length > 5 ? ' …' : ''}`;
  const learn = pluginMissing ? " (the server names the holding session once the metadata_lock_info plugin is installed: INSTALL SONAME 'metadata_lock_info')" : '';
  return new DbBackupError('E_LOCK_TIMEOUT', `${where} waited ${waited} for a lock on ${what}, which another session holds${learn}. ${fix}`, {
    cause: err,
    details: { tables: inUse.slice(0, 5) },
  });
}

/**
 * Table locks other sessions hold on the databases that keep a reader (or the global read lock)
 * waiting — not the shared read locks other readers, this backup's own included, hold, unless
 * `readers` (a writer waits on those too) — with who holds them; [[], true] when the plugin is not loaded.
 */
async function metadataLocks(conn: MysqlConnection, databases: string[], readers: boolean): Promise<[Held[], boolean]> {
  const [plugin] = await conn.query("SELECT 1 FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'");
  if (!(plugin as unknown[]).length) return [[], true];
  const [rows] = await conn.query(
    `SELECT m.THREAD_ID AS id, m.LOCK_MODE AS mode, m.LOCK_TYPE AS type, m.TABLE_SCHEMA AS db, m.TABLE_NAME AS name,
            p.USER AS user, p.HOST AS host, p.COMMAND AS command, p.TIME AS time
       FROM information_schema.METADATA_LOCK_INFO m LEFT JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID
      WHERE m.THREAD_ID <> CONNECTION_ID() AND m.TABLE_NAME <> '' AND m.LOCK_TYPE = 'Table metadata lock'
        AND (? OR m.LOCK_MODE NOT IN ('MDL_SHARED', 'MDL_SHARED_HIGH_PRIO', 'MDL_SHARED_READ'))
        AND m.TABLE_SCHEMA IN (${databases.map(() => '?').join(', ') || "''"})
      ORDER BY m.THREAD_ID LIMIT 5`,
    [readers, ...databases],
  );
  return [rows as Held[], false];
}

/** `db.table` of tables in use (a lock or a running statement) in the databases. */
async function openTablesInUse(conn: MysqlConnection, databases: string[]): Promise<string[]> {
  const [rows] = await conn.query('SHOW OPEN TABLES WHERE In_use > 0');
  return (rows as { Database: string; Table: string }[]).filter((r) => databases.includes(r.Database)).map((r) => `${r.Database}.${r.Table}`);
}
