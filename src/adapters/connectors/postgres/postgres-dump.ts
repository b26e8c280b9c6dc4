import { Readable } from 'node:stream';
import type pg from 'pg';
import type { DumpRequest, DumpResult } from '../../../application/ports/dump.js';
import type { PartSink } from '../../../application/ports/parts.js';
import { DbBackupError, isDbBackupError } from '../../../domain/errors.js';
import { withTightHeapGrowth } from '../../../infrastructure/heap-tuning.js';
import type { ObjectEntry } from '../../../domain/manifest.js';
import { type PgEndpoint, connectionLost, describeEndpoint, isConnectionLost, openClient, quoteLiteral } from './connection.js';
import { dumpLargeObjects } from './postgres-blobs.js';
import { readCatalogRows } from './postgres-catalog.js';
import { type TableResult, blockCounts, copyJobs, planJobs } from './postgres-copy-out.js';
import { DEFAULT_LOCK_WAIT_MS, limitLockWaits, lockTables, lockWaitFailure } from './postgres-lock-wait.js';
import { buildSchema } from './postgres-schema.js';
import { selectItems } from './postgres-select.js';
import { sqlScriptLines } from './postgres-script.js';
import { type SkippedObject, notReproducible } from './postgres-skips.js';
import type { DataTable } from './postgres-schema-model.js';
import { type DatabaseLocale, TOC_PART, TOC_VERSION, type Toc, type TocItem, type TocKind, sortItems } from './postgres-toc.js';

export const MIN_SERVER_VERSION = 140000;

export interface DumpOptions {
  /** A data part is cut at the first row end after this many bytes. */
  partSize: number;
  /** Heap pages per chunk of a large table read in parallel (default 8192, 64 MiB). */
  chunkPages?: number;
  /** How long to wait for a table's lock (0: no limit; default DEFAULT_LOCK_WAIT_MS). */
  lockWaitMs?: number;
  /** An open connection (idle, outside a transaction) for the leader to use instead of opening one; it is closed with the others. */
  leader?: () => Promise<pg.Client> | undefined;
}

interface Snapshot {
  id: string | null;
  at: Date;
  lsn: string | null;
  serverVersion: string;
  versionNum: number;
  encoding: string;
  collate: string;
  ctype: string;
  database: string;
  locale: DatabaseLocale;
}

/** A snapshot exported elsewhere (a replication slot's, see postgres-changes.ts) to dump in, with its LSN. */
export interface ImportedSnapshot {
  id: string;
  lsn: string;
}

/**
 * A consistent logical dump: one REPEATABLE READ READ ONLY transaction whose snapshot is exported
 * and imported by `parallel - 1` more connections; each connection streams one table at a time
 * with COPY … TO STDOUT into parts of at most `partSize` bytes (cut at row ends). With `imported`,
 * every connection uses that snapshot instead (its exporter must stay open until this returns).
 */
export function dumpDatabase(...args: Parameters<typeof dumpInSnapshot>): Promise<DumpResult> {
  // The whole catalog and schema are in memory for a while, a few kB per table: the heap must not
  // grow 4× over them (heap-tuning.ts).
  return withTightHeapGrowth(() => dumpInSnapshot(...args));
}

async function dumpInSnapshot(
  endpoint: PgEndpoint,
  request: DumpRequest,
  sink: PartSink,
  signal: AbortSignal,
  options: DumpOptions,
  imported?: ImportedSnapshot,
): Promise<DumpResult> {
  const lockWait = options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS;
  const leader = (await handedLeader(options)) ?? (await openClient(endpoint));
  const clients: pg.Client[] = [leader];
  /** Workers joining the snapshot, not yet in `clients` (each is closed whatever happens). */
  const joining: Promise<pg.Client>[] = [];
  const warnings: string[] = [];
  const onAbort = () => {
    for (const c of clients) (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const snap = await beginSnapshot(leader, endpoint.database, imported);
    await limitLockWaits(leader, lockWait);
    // The schema (catalog rows, TOC items and their SQL) is built, written and let go in one call:
    // the data copy keeps only the tables to copy and a few facts, not ~2 kB per object.
    const schema = await writeSchema(leader, request, sink, snap, warnings, (tables) => {
      // Each table is one job at least: that many workers (up to --parallel) join the snapshot while
      // the leader locks the tables and writes the schema, instead of one after another after that.
      // Joining reads nothing; every COPY still starts after the locks are held.
      if (snap.id) for (let i = 1; i < Math.min(request.parallel, tables.length); i++) joining.push(joinSnapshot(endpoint, snap.id, lockWait));
      joining.forEach((j) => j.catch(() => undefined));
      return lockTables(leader, endpoint, tables, lockWait);
    });
    const { tables } = schema;
    signal.throwIfAborted();

    let workers = Math.max(1, request.parallel);
    if (workers > 1 && !snap.id) {
      warnings.push('The server could not export a snapshot; the data was dumped over one connection.');
      workers = 1;
    }
    const pages = await blockCounts(leader, tables);
    // Heap pages of the default 8 KiB: near enough to what COPY streams for a percentage and a time left.
    request.estimate?.([...pages.values()].reduce((n, p) => n + p, 0) * 8192);
    const jobs = planJobs(tables, pages, workers, options.chunkPages);
    workers = Math.max(1, Math.min(workers, jobs.length));
    clients.push(...(await Promise.all(joining.splice(0))));
    // A large table cut into ranges may give more jobs than tables: more workers join now.
    while (clients.length < workers) clients.push(await joinSnapshot(endpoint, snap.id!, lockWait));
    const results = await copyJobs(clients, jobs, sink, signal, options.partSize).catch((err: unknown) => {
      throw permissionHint(err, endpoint.user);
    });
    const blobs = schema.largeObjects
      ? await dumpLargeObjects(leader, schema.largeObjects, sink, signal, options.partSize).catch((err: unknown) => {
          throw permissionHint(err, endpoint.user);
        })
      : undefined;
    await Promise.all(clients.map((c) => c.query('COMMIT')));
    return {
      serverVersion: snap.serverVersion,
      consistentAt: snap.at,
      logPosition: snap.lsn ? { lsn: snap.lsn } : null,
      objects: [...objectsOf(schema.listed, results), ...(blobs ? [blobs] : [])],
      warnings,
      engineInfo: {
        database: snap.database,
        serverVersionNum: snap.versionNum,
        encoding: snap.encoding,
        collate: snap.collate,
        ctype: snap.ctype,
        schemas: schema.schemas,
        tocItems: schema.tocItems,
        ...(schema.skipped.length ? { notReproducible: schema.skipped } : {}),
      },
    };
  } catch (err) {
    // The leader's connection ended while workers joined its snapshot: a join that found the
    // snapshot gone says so more plainly than the leader's lost connection.
    const gone = (await Promise.allSettled(joining)).find((j): j is PromiseRejectedResult => j.status === 'rejected' && isDbBackupError(j.reason, 'E_BACKUP_FAILED'));
    if (gone && isConnectionLost(err)) throw gone.reason;
    throw connectionLost(await lockWaitFailure(err, endpoint, lockWait), `the backup of ${describeEndpoint(endpoint)} ran`);
  } finally {
    signal.removeEventListener('abort', onAbort);
    for (const joined of await Promise.allSettled(joining)) if (joined.status === 'fulfilled') clients.push(joined.value);
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
}

/** The connection `options.leader` hands over, when it has one that is still open and idle (else it is closed). */
async function handedLeader(options: DumpOptions): Promise<pg.Client | undefined> {
  const handed = await options.leader?.()?.catch(() => undefined);
  const state = handed as unknown as { _queryable?: boolean; _ending?: boolean } | undefined;
  if (!handed || (state?._queryable !== false && !state?._ending && handed.getTransactionStatus() === 'I')) return handed;
  await handed.end().catch(() => undefined);
  return undefined;
}

async function beginSnapshot(leader: pg.Client, database: string, imported?: ImportedSnapshot): Promise<Snapshot> {
  await leader.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  if (imported) await leader.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(imported.id)}`);
  const info = (
    await leader.query(`SELECT current_setting('server_version') AS v, current_setting('server_version_num')::int AS num,
      pg_is_in_recovery() AS standby, clock_timestamp() AS at, pg_encoding_to_char(d.encoding) AS encoding,
      d.datcollate AS collate, d.datctype AS ctype, to_jsonb(d) ->> 'datlocprovider' AS provider,
      coalesce(to_jsonb(d) ->> 'datlocale', to_jsonb(d) ->> 'daticulocale') AS locale, to_jsonb(d) ->> 'daticurules' AS icu_rules
      FROM pg_database d WHERE d.datname = current_database()`)
  ).rows[0] as { v: string; num: number; standby: boolean; at: Date; encoding: string; collate: string; ctype: string } & DatabaseLocale;
  if (info.num < MIN_SERVER_VERSION) {
    throw new DbBackupError('E_UNSUPPORTED', `PostgreSQL ${info.v} is too old for dbbackup; it needs PostgreSQL 14 or newer.`);
  }
  let id: string | null = imported?.id ?? null;
  if (!imported) {
    try {
      id = ((await leader.query('SELECT pg_export_snapshot() AS id')).rows[0] as { id: string }).id;
    } catch {
      // Some servers (old standbys, poolers) cannot export one: start over without it.
      await leader.query('ROLLBACK');
      await leader.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    }
  }
  const lsnSql = info.standby ? 'SELECT pg_last_wal_replay_lsn()::text AS lsn' : 'SELECT pg_current_wal_lsn()::text AS lsn';
  const lsn = imported ? imported.lsn : ((await leader.query(lsnSql).catch(() => ({ rows: [{ lsn: null }] }))).rows[0] as { lsn: string | null }).lsn;
  const locale: DatabaseLocale = { provider: info.provider, locale: info.locale, icu_rules: info.icu_rules };
  return { id, at: info.at, lsn, serverVersion: info.v, versionNum: info.num, encoding: info.encoding, collate: info.collate, ctype: info.ctype, database, locale };
}

/**
 * A worker connection in the leader's snapshot. A connection that fails to join is closed here (it
 * is in no list that a caller closes: left open, it would keep the process alive after the backup
 * failed). The snapshot is gone when the leader's connection ended meanwhile (the server ended it,
 * or restarted): that is said plainly rather than as "invalid snapshot identifier".
 */
async function joinSnapshot(endpoint: PgEndpoint, id: string, lockWait: number): Promise<pg.Client> {
  const client = await openClient(endpoint);
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    await client.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(id)}`);
    await limitLockWaits(client, lockWait);
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    if ((err as { code?: string }).code !== '22023') throw err;
    throw new DbBackupError(
      'E_BACKUP_FAILED',
      `The connection to ${describeEndpoint(endpoint)} that holds the backup's snapshot ended before another connection could join it (the server ended it, or restarted); nothing was recorded: run the backup again.`,
      { cause: err },
    );
  }
}

/** The sequences' current values as data items (setval), read in the snapshot's session. */
async function sequenceValues(leader: pg.Client, sequences: { ident: string; itemId: number }[], firstId: number): Promise<TocItem[]> {
  const out: TocItem[] = [];
  for (let i = 0; i < sequences.length; i += 200) {
    const batch = sequences.slice(i, i + 200);
    const sql = batch.map((s, j) => `SELECT ${j} AS j, last_value::text AS v, is_called FROM ${s.ident}`).join(' UNION ALL ');
    for (const row of (await leader.query(sql)).rows as { j: number; v: string; is_called: boolean }[]) {
      const s = batch[row.j]!;
      out.push({
        id: firstId + out.length + 1,
        kind: 'sequence-set',
        section: 'data',
        schema: null,
        name: s.ident,
        tables: [],
        deps: [s.itemId],
        sql: `SELECT pg_catalog.setval(${quoteLiteral(s.ident)}, ${row.v}, ${row.is_called});`,
      });
    }
  }
  return out;
}

/** What the dump keeps of the schema once its parts are written. */
interface SchemaSummary {
  tables: DataTable[];
  /** The large objects to copy; undefined when the TOC has no large-objects item. */
  largeObjects: number[] | undefined;
  /** The items the manifest lists (tables, views, sequences…), in TOC order. */
  listed: { kind: TocKind; name: string }[];
  schemas: string[];
  tocItems: number;
  skipped: SkippedObject[];
}

const LISTED = new Set<TocKind>(['table', 'view', 'matview', 'foreign-table', 'sequence']);

/**
 * Reads the catalog, builds the TOC, locks the selected tables (`lock`, handed them first), reads
 * the sequences' values and writes toc.json, schema.sql and post-data.sql; returns what the rest
 * of the dump needs. Everything else it built is garbage once it returns.
 */
async function writeSchema(
  leader: pg.Client,
  request: DumpRequest,
  sink: PartSink,
  snap: Snapshot,
  warnings: string[],
  lock: (tables: DataTable[]) => Promise<void>,
): Promise<SchemaSummary> {
  const model = buildSchema(await readCatalogRows(leader));
  warnings.push(...model.warnings);
  const selection = selectItems(model.items, request);
  warnings.push(...selection.warnings);
  const tables = model.tables.filter((t) => selection.keep.has(t.itemId));
  await lock(tables);
  const items = model.items.filter((i) => selection.keep.has(i.id));
  items.push(...(await sequenceValues(leader, model.sequences.filter((s) => selection.keep.has(s.itemId)), items.length + model.items.length)));
  const toc: Toc = {
    version: TOC_VERSION, serverVersion: snap.serverVersion, encoding: snap.encoding, collate: snap.collate, ctype: snap.ctype,
    ...(snap.locale.provider && snap.locale.provider !== 'c' ? { locale: snap.locale } : {}),
    items: sortItems(items),
  };
  await writeSchemaParts(sink, toc, snap);
  return {
    tables,
    largeObjects: toc.items.some((i) => i.kind === 'large-objects') ? model.largeObjects : undefined,
    listed: toc.items.filter((i) => LISTED.has(i.kind)).map((i) => ({ kind: i.kind, name: i.name })),
    schemas: [...new Set(toc.items.map((i) => i.schema).filter((s): s is string => s !== null))].sort(),
    tocItems: toc.items.length,
    skipped: notReproducible(toc.items),
  };
}

/**
 * toc.json, schema.sql and post-data.sql, each streamed in pieces of ~64 kB as it is written out
 * (the same bytes as JSON.stringify(toc) and sqlScript()): none of them is ever one string.
 */
async function writeSchemaParts(sink: PartSink, toc: Toc, snap: Snapshot): Promise<void> {
  await sink.write({ name: TOC_PART, role: 'schema' }, textStream(tocJson(toc)));
  const pre = toc.items.filter((i) => i.section === 'pre-data');
  await sink.write({ name: 'schema.sql', role: 'schema' }, textStream(sqlScriptLines(pre, 'pre-data', snap.database, snap.at)));
  const post = toc.items.filter((i) => i.section !== 'pre-data');
  await sink.write({ name: 'post-data.sql', role: 'post-data' }, textStream(sqlScriptLines(post, 'post-data', snap.database, snap.at)));
}

/** `${JSON.stringify(toc)}\n`, one item at a time (items is the TOC's last key). */
function* tocJson(toc: Toc): Generator<string> {
  yield JSON.stringify({ ...toc, items: [] }).slice(0, -2);
  let first = true;
  for (const item of toc.items) {
    yield `${first ? '' : ','}${JSON.stringify(item)}`;
    first = false;
  }
  yield ']}\n';
}

function textStream(pieces: Iterable<string>): Readable {
  return Readable.from(
    (function* () {
      let batch = '';
      for (const piece of pieces) {
        batch += piece;
        if (batch.length >= 1 << 16) {
          yield Buffer.from(batch, 'utf8');
          batch = '';
        }
      }
      if (batch) yield Buffer.from(batch, 'utf8');
    })(),
  );
}

function objectsOf(listed: { kind: TocKind; name: string }[], results: TableResult[]): ObjectEntry[] {
  const data = new Map(results.map((r) => [r.object, r]));
  const out: ObjectEntry[] = [];
  for (const item of listed) {
    if (item.kind === 'table') {
      const r = data.get(item.name);
      // The digest counts the lines it hashed: equal to the server's row count unless the stream was not one row per line.
      const hash = r && r.digest.rows === r.rows ? { contentHash: r.digest.hash } : {};
      out.push(r ? { name: item.name, type: 'table', rows: r.rows, rawBytes: r.bytes, ...hash } : { name: item.name, type: 'partitioned table' });
    } else if (item.kind === 'view') out.push({ name: item.name, type: 'view' });
    else if (item.kind === 'matview') out.push({ name: item.name, type: 'materialized view' });
    else if (item.kind === 'foreign-table') out.push({ name: item.name, type: 'foreign table' });
    else if (item.kind === 'sequence') out.push({ name: item.name, type: 'sequence' });
  }
  return out;
}

/**
 * The server's refusals a backup role commonly meets, with what to do about them; any other error
 * passes through unchanged. (pg_read_all_data reads every table, but neither bypasses row-level
 * security nor reads large objects.)
 */
function permissionHint(err: unknown, user: string): unknown {
  const e = err as { code?: string; message?: string };
  if (e?.code !== '42501' || typeof e.message !== 'string') return err;
  if (/row-level security/i.test(e.message)) {
    return new DbBackupError('E_BACKUP_FAILED', `${e.message}: the role ${user} must see every row; give it BYPASSRLS (ALTER ROLE … BYPASSRLS), or back up as the table's owner or a superuser.`, { cause: err });
  }
  if (/large object/i.test(e.message)) {
    return new DbBackupError('E_BACKUP_FAILED', `${e.message}: the role ${user} may not read it; grant it (GRANT SELECT ON LARGE OBJECT …), or back up as its owner or a superuser.`, { cause: err });
  }
  return err;
}
