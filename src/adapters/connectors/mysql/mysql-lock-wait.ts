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
  await conn.query(lockWaitStatement(waitMs));
}

/** The SET statement limitLockWaits runs. */
export function lockWaitStatement(waitMs: number): string {
  const seconds = waitMs <= 0 ? FOREVER_S : Math.max(1, Math.ceil(waitMs / 1000));
  return `SET SESSION lock_wait_timeout = ${seconds}`;
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
 *
 * errno 1205 is either wait: a metadata lock's (bounded by lock_wait_timeout, which
 * --lock-wait-timeout sets) or an InnoDB row lock's (bounded by innodb_lock_wait_timeout, the
 * server's, 50 s by default). Only a statement that writes rows (or reads them FOR UPDATE) can wait
 * on a row lock; when no other session holds a metadata lock that blocks such writes, the message
 * names the row lock, its table and innodb_lock_wait_timeout as the session has it.
 */
export async function lockWaitFailure(err: unknown, e: MysqlEndpoint, databases: string[], waitMs: number, operation: 'backup' | 'restore' = 'backup'): Promise<unknown> {
  if (!isLockWaitTimeout(err)) return err;
  const rowTable = rowLockingTable(err);
  let held: Held[] = [];
  let inUse: string[] = [];
  let pluginMissing = false;
  let rowWaitS: number | null = null;
  try {
    const conn = await openConnection(e);
    try {
      [held, pluginMissing] = await metadataLocks(conn, databases, rowTable !== undefined ? 'writers' : operation === 'restore' ? 'all' : 'readers');
      if (!held.length) inUse = await openTablesInUse(conn, databases);
      if (rowTable !== undefined) rowWaitS = await innodbLockWait(conn);
    } finally {
      await closeConnection(conn);
    }
  } catch {
    // Who holds it is a help, not the error.
  }
  const where = `The ${operation} ${operation === 'backup' ? 'of' : 'into'} ${describeEndpoint(e)}`;
  const marked = 'The target is marked as not completely restored; ';
  // A row write that no metadata lock blocks (none held, or, without the plugin, its table in no one's use) waited on a row lock.
  if (rowTable !== undefined && !held.length && !(pluginMissing && rowTable !== null && inUse.includes(rowTable))) {
    const table = rowTable === null ? 'a table' : `table ${rowTable}`;
    const waited = rowWaitS === null ? 'innodb_lock_wait_timeout' : `${rowWaitS} s (innodb_lock_wait_timeout)`;
    const fix = `${operation === 'restore' ? marked : 'Nothing was recorded; '}commit or end that transaction (information_schema.INNODB_TRX lists the open ones), or raise the server's innodb_lock_wait_timeout (SET GLOBAL innodb_lock_wait_timeout = N, or in its configuration; --lock-wait-timeout bounds metadata locks only)${operation === 'restore' ? ', then restore again with --clean.' : '.'}`;
    return new DbBackupError('E_LOCK_TIMEOUT', `${where} waited ${waited} for a row lock on ${table}: another transaction holds a lock on a row it writes (an uncommitted write of the same key, say). ${fix}`, {
      cause: err,
      details: { ...(rowTable !== null && { table: rowTable }), lock: 'row', ...(rowWaitS !== null && { innodbLockWaitTimeout: rowWaitS }) },
    });
  }
  const waited = waitedText(waitMs);
  const fix =
    operation === 'backup'
      ? 'Nothing was recorded; end or wait for that session, or raise --lock-wait-timeout (0 waits as long as it takes).'
      : `${marked}end or wait for that session, or raise --lock-wait-timeout (0 waits as long as it takes), then restore again with --clean.`;
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

/** A statement that takes InnoDB row locks: one that writes rows, or reads them FOR UPDATE / FOR SHARE. */
const ROW_LOCKING = /^(?:INSERT|REPLACE|UPDATE|DELETE|LOAD\s+DATA)\b|^SELECT\b[\s\S]*\b(?:FOR\s+UPDATE|FOR\s+SHARE|LOCK\s+IN\s+SHARE\s+MODE)\b/i;
/** The table a writing statement names first: INSERT/REPLACE/LOAD DATA … INTO [TABLE] t, UPDATE t, DELETE FROM t. */
const WRITTEN_TABLE = /^(?:INSERT|REPLACE|LOAD\s+DATA)\b[\s\S]*?\bINTO\s+(?:TABLE\s+)?((?:`(?:[^`]|``)+`|\w+)(?:\s*\.\s*(?:`(?:[^`]|``)+`|\w+))?)|^UPDATE\s+(?:LOW_PRIORITY\s+|IGNORE\s+)*((?:`(?:[^`]|``)+`|\w+)(?:\s*\.\s*(?:`(?:[^`]|``)+`|\w+))?)|^DELETE\b[\s\S]*?\bFROM\s+((?:`(?:[^`]|``)+`|\w+)(?:\s*\.\s*(?:`(?:[^`]|``)+`|\w+))?)/i;

/**
 * For a lock wait on a statement that takes row locks (mysql2 puts the statement on the error as
 * `sql`): the `db.table` it writes (null when the statement does not say); undefined when the
 * statement takes no row locks or is unknown (a metadata lock's wait).
 */
export function rowLockingTable(err: unknown): string | null | undefined {
  const sql = (err as { sql?: unknown } | undefined)?.sql;
  if (typeof sql !== 'string') return undefined;
  const text = sql.slice(0, 4096).replace(/^(?:\s+|\/\*(?![!M])[\s\S]*?\*\/|--[^\n]*\n|#[^\n]*\n)*/, '');
  if (!ROW_LOCKING.test(text)) return undefined;
  const m = WRITTEN_TABLE.exec(text);
  const name = m?.[1] ?? m?.[2] ?? m?.[3];
  if (!name) return null;
  return name
    .split(/\s*\.\s*/)
    .map((p) => (p.startsWith('`') ? p.slice(1, -1).replace(/``/g, '`') : p))
    .join('.');
}

/** The session's innodb_lock_wait_timeout in seconds (what a new session of this user gets), or null. */
async function innodbLockWait(conn: MysqlConnection): Promise<number | null> {
  const [rows] = await conn.query('SELECT @@SESSION.innodb_lock_wait_timeout AS s');
  const s = Number((rows as { s: number | string | null }[])[0]?.s);
  return Number.isFinite(s) ? s : null;
}

/** The metadata lock modes that block a row write (its MDL_SHARED_WRITE): LOCK TABLES … READ/WRITE, an ALTER TABLE's, a DROP's. */
const BLOCKS_WRITERS = ['MDL_SHARED_READ_ONLY', 'MDL_SHARED_NO_WRITE', 'MDL_SHARED_NO_READ_WRITE', 'MDL_EXCLUSIVE'];

/**
 * Table locks other sessions hold on the databases that keep the waiter waiting, with who holds
 * them: 'readers' (a reader or the global read lock) — not the shared read locks other readers, this
 * backup's own included, hold; 'all' (a DDL waits on those too); 'writers' (a row write) — the modes
 * that block writes. [[], true] when the plugin is not loaded.
 */
async function metadataLocks(conn: MysqlConnection, databases: string[], waiter: 'readers' | 'writers' | 'all'): Promise<[Held[], boolean]> {
  const [plugin] = await conn.query("SELECT 1 FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'");
  if (!(plugin as unknown[]).length) return [[], true];
  const [rows] = await conn.query(
    `SELECT m.THREAD_ID AS id, m.LOCK_MODE AS mode, m.LOCK_TYPE AS type, m.TABLE_SCHEMA AS db, m.TABLE_NAME AS name,
            p.USER AS user, p.HOST AS host, p.COMMAND AS command, p.TIME AS time
       FROM information_schema.METADATA_LOCK_INFO m LEFT JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID
      WHERE m.THREAD_ID <> CONNECTION_ID() AND m.TABLE_NAME <> '' AND m.LOCK_TYPE = 'Table metadata lock'
        AND (? OR m.LOCK_MODE NOT IN ('MDL_SHARED', 'MDL_SHARED_HIGH_PRIO', 'MDL_SHARED_READ'))
        AND (? OR m.LOCK_MODE IN (${BLOCKS_WRITERS.map(() => '?').join(', ')}))
        AND m.TABLE_SCHEMA IN (${databases.map(() => '?').join(', ') || "''"})
      ORDER BY m.THREAD_ID LIMIT 5`,
    [waiter === 'all', waiter !== 'writers', ...BLOCKS_WRITERS, ...databases],
  );
  return [rows as Held[], false];
}

/** `db.table` of tables in use (a lock or a running statement) in the databases. */
async function openTablesInUse(conn: MysqlConnection, databases: string[]): Promise<string[]> {
  const [rows] = await conn.query('SHOW OPEN TABLES WHERE In_use > 0');
  return (rows as { Database: string; Table: string }[]).filter((r) => databases.includes(r.Database)).map((r) => `${r.Database}.${r.Table}`);
}
