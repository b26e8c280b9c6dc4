import type pg from 'pg';
import { DbBackupError } from '../../../domain/errors.js';
import { waitedText } from '../lock-wait-timeout.js';
import { type PgEndpoint, describeEndpoint, openClient } from './connection.js';
import type { DataTable } from './postgres-schema-model.js';

export { DEFAULT_LOCK_WAIT_MS, lockWaitMs } from '../lock-wait-timeout.js';

const LOCK_NOT_AVAILABLE = '55P03';

/**
 * Bounds every lock wait of the transaction `client` is in (SET LOCAL ends with it) to `waitMs`
 * (0: no limit). Every connection of a dump does this: the catalog reads lock relations too
 * (pg_get_indexdef), and a worker's COPY queued behind another session's ACCESS EXCLUSIVE request,
 * itself queued behind the leader's lock, would wait forever where the server sees no deadlock.
 */
export async function limitLockWaits(client: pg.Client, waitMs: number): Promise<void> {
  await client.query(`SET LOCAL lock_timeout = ${Math.max(0, Math.floor(waitMs))}`);
}

/**
 * ACCESS SHARE locks keep the dumped tables from being dropped or altered until the dump ends (as
 * pg_dump takes them). A table another session holds in ACCESS EXCLUSIVE mode (or waits to) makes
 * this wait; past the transaction's limit (limitLockWaits) the backup fails with E_LOCK_TIMEOUT
 * naming the table, the lock and the session that holds it, instead of waiting as long as that
 * session lives.
 */
export async function lockTables(leader: pg.Client, endpoint: PgEndpoint, tables: DataTable[], waitMs: number): Promise<void> {
  for (let i = 0; i < tables.length; i += 500) {
    const batch = tables.slice(i, i + 500);
    try {
      await leader.query(`LOCK TABLE ${batch.map((t) => `ONLY ${t.ident}`).join(', ')} IN ACCESS SHARE MODE`);
    } catch (err) {
      if ((err as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw err;
      throw await lockTimeout(endpoint, batch, waitMs, err);
    }
  }
}

interface Holder {
  rel: string;
  mode: string;
  granted: boolean;
  pid: number;
  usename: string | null;
  application_name: string | null;
  state: string | null;
}

/** `err` as E_LOCK_TIMEOUT when it is a lock wait past the limit (any step of the dump); any other error unchanged. */
export async function lockWaitFailure(err: unknown, endpoint: PgEndpoint, waitMs: number): Promise<unknown> {
  if ((err as { code?: string })?.code !== LOCK_NOT_AVAILABLE) return err;
  return lockTimeout(endpoint, undefined, waitMs, err);
}

/**
 * E_LOCK_TIMEOUT naming who holds (or waits for) an ACCESS EXCLUSIVE lock on the batch's tables (or
 * on any relation of the database when the step is not a LOCK of known tables), looked up on a
 * connection of its own.
 */
async function lockTimeout(endpoint: PgEndpoint, batch: DataTable[] | undefined, waitMs: number, cause: unknown): Promise<DbBackupError> {
  let holders: Holder[] = [];
  try {
    const sql = await openClient(endpoint);
    try {
      holders = (
        await sql.query(
          `SELECT l.relation::regclass::text AS rel, l.mode, l.granted, l.pid, a.usename, a.application_name, a.state
             FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.pid <> pg_backend_pid()
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND ($1::oid[] IS NULL OR l.relation = ANY($1::oid[]))
            ORDER BY l.granted DESC, l.pid LIMIT 5`,
          [batch ? batch.map((t) => t.oid) : null],
        )
      ).rows as Holder[];
    } finally {
      await sql.end().catch(() => undefined);
    }
  } catch {
    // Who holds it is a help, not the error: the tables are named either way.
  }
  const waited = waitedText(waitMs);
  const fix = 'Nothing was recorded; end or wait for that session, or raise --lock-wait-timeout (0 waits as long as it takes).';
  const h = holders[0];
  if (h) {
    const who = [`pid ${h.pid}`, h.usename && `user ${h.usename}`, h.application_name && `application ${h.application_name}`, h.state && `state ${h.state}`].filter(Boolean).join(', ');
    return new DbBackupError(
      'E_LOCK_TIMEOUT',
      `The backup of ${describeEndpoint(endpoint)} waited ${waited} for a lock on table ${h.rel}: another session ${h.granted ? 'holds' : 'waits for'} it in ACCESS EXCLUSIVE mode (${who}). ${fix}`,
      { cause, details: { table: h.rel, mode: 'AccessExclusiveLock', pid: h.pid } },
    );
  }
  const names = (batch ?? []).slice(0, 5).map((t) => t.object);
  const what = names.length === 0 ? 'a table' : names.length === 1 ? `table ${names[0]}` : `one of the tables ${names.join(', ')}${batch!.length > 5 ? ' …' : ''}`;
  return new DbBackupError(
    'E_LOCK_TIMEOUT',
    `The backup of ${describeEndpoint(endpoint)} waited ${waited} for a lock on ${what}, which another session holds in a conflicting mode. ${fix}`,
    { cause, details: { tables: names } },
  );
}
