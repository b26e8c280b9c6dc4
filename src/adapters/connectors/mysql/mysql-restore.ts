import { availableParallelism } from 'node:os';
import type { PartSource } from '../../../application/ports/parts.js';
import type { RestoreOutcome, RestoreRequest } from '../../../application/ports/restore-plan.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { PartEntry } from '../../../domain/manifest.js';
import { readSmallPart } from '../read-small-part.js';
import { closeConnection, connectionLost, describeEndpoint, destroyConnection, type MysqlConnection, type MysqlEndpoint, openConnection, qi, qn, sqlString, whenClosed } from './mysql-connection.js';
import { isLockWaitTimeout, lockWaitFailure } from './mysql-lock-wait.js';
import { RESTORE_SQL_MODE, sessionStatements } from './mysql-ddl.js';
import { binlogNotes, type RestoreSession, startRestoreSession } from './mysql-restore-session.js';
import { detectFlavor, type ServerFlavor } from './mysql-flavor.js';
import { insertPart, isLocalInfileRefused, type LoadColumn, loadDataPart, type LoadTarget } from './mysql-load.js';
import { loadSplit, rowChunks, SPLIT_CHUNK } from './mysql-load-split.js';
import { conflicts, dbOf, readTargetState, type RestoreScope, restoreScope, scopedObjects, type TargetDatabaseState } from './mysql-restore-scope.js';
import { restoreNotes, restoreStatements } from './mysql-restore-notes.js';
import { type BlockMeta, parseScript, type ScriptBlock } from './mysql-script.js';
import { checkBlocks, checkCharsets } from './mysql-restore-check.js';
import { incompleteTargetError, MARKER_COMMENT, MARKER_TABLE_FLAT, newMarker, type RestoreMarker } from '../restore-marker.js';

/**
 * Restores a MySQL backup: refuses (or, with --clean, clears) what is in the way, creates the
 * databases (--create), runs the schema, loads the data parts in parallel with LOAD DATA LOCAL
 * (multi-row INSERT where the server forbids it), building each table's secondary keys right after
 * its data, and creates triggers and events last.
 */
export async function runRestore(e: MysqlEndpoint, parts: PartSource, request: RestoreRequest, signal: AbortSignal): Promise<RestoreOutcome> {
  const scope = restoreScope(parts.manifest, e, request);
  const ctl = await openConnection(e);
  const pool: MysqlConnection[] = [];
  // The restore's connections stand or fall together: once one is lost (the server restarted, or
  // ended it) the others are closed too, so that nothing goes on alone (against a restarted server,
  // say) nor waits on what the lost one held; every statement still running fails at once.
  let finished = false;
  let lost = false;
  let marked = false;
  const stop = () => [ctl, ...pool].forEach(destroyConnection);
  const lose = () => {
    if (finished || signal.aborted) return;
    lost = true;
    stop();
  };
  const join = (c: MysqlConnection) => whenClosed(c, lose);
  let opening: Promise<PromiseSettledResult<void>[]> | undefined;
  join(ctl);
  signal.addEventListener('abort', stop, { once: true });
  try {
    const flavor = await detectFlavor(ctl);
    const state = await readTargetState(ctl, [...scope.dbMap.values()]);
    refuseConflicts(parts, scope, state, request);
    const schema = parseScript(await readText(parts, 'schema'));
    const postData = parseScript(await readText(parts, 'post-data'));
    checkBlocks([...schema, ...postData], parts.manifest);
    await checkCharsets(ctl, scope, parts.manifest.id, [...scope.dbMap].filter(([, target]) => !state.get(target)!.exists).map(([source]) => source));
    const session: RestoreSession = { keepBinlog: e.restoreBinlog, lockWaitMs: e.lockWaitMs };
    await startRestoreSession(ctl, flavor, session);
    const size = Math.max(1, Math.min(request.parallel ?? e.restoreParallel ?? (await serverCores(ctl)), 16));
    // The pool logs in and sets up its sessions (nothing that changes the target) while the stored
    // bytes are still checked and the schema is created; every attempt settles before a failure is
    // thrown, so that each connection opened is in the pool and closed with it.
    opening = Promise.allSettled(
      Array.from({ length: size }, async () => {
        const c = await openConnection(e);
        pool.push(c);
        join(c);
        // One opened after the server restarted would go on alone, against a server that lost the restore's work.
        if (connectionLost(ctl)) lose();
        await startRestoreSession(c, flavor, session);
      }),
    );
    // Everything above only read the target (and the schema parts, checked as they were read): the
    // first change waits for every part's stored bytes to have passed their checks.
    await parts.checked;
    marked = true;
    await prepareDatabases(ctl, scope, state, request, newMarker(parts.manifest));
    const run: RunOptions = { restoreOwner: request.restoreOwner === true, notes: [] };
    const schemaBlocks = sequencesFirst(schema.filter((b) => wanted(b.meta, scope, 'schema')));
    await runBlocks(ctl, schemaBlocks, scope, run);
    signal.throwIfAborted();
    const refused = (await opening).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (refused) throw refused.reason;
    // A table's secondary keys are built on its connection as soon as its data is in, while the
    // other connections still load: no connection waits idle for the largest table at the end.
    const indexBlocks = new Map(postData.filter((b) => b.meta.kind === 'indexes' && wanted(b.meta, scope, 'post')).map((b) => [`${b.meta.db}.${b.meta.table}`, b]));
    const buildKeys = async (conn: MysqlConnection, table: { db: string; name: string }) => {
      const block = indexBlocks.get(`${table.db}.${table.name}`);
      if (!block) return;
      indexBlocks.delete(`${table.db}.${table.name}`);
      await runBlocks(conn, [block], scope, run);
    };
    const { rows, insertFallback } = await loadData(pool, parts, scope, flavor, signal, buildKeys);
    await inParallel(pool, [...indexBlocks.values()], (c, b) => runBlocks(c, [b], scope, run));
    const postBlocks = postData.filter((b) => b.meta.kind !== 'indexes' && wanted(b.meta, scope, 'post'));
    await runBlocks(ctl, postBlocks, scope, run);
    const objects = scopedObjects(parts.manifest, scope).map((o) => o.name);
    const warnings = insertFallback
      ? ['The server refuses LOAD DATA LOCAL INFILE (local_infile=OFF), so the data was loaded with multi-row INSERTs, which is slower; SET GLOBAL local_infile=1 allows the fast path.']
      : [];
    warnings.push(...run.notes, ...(await binlogNotes(ctl, session)), ...(await restoreNotes(ctl, [...schemaBlocks, ...postBlocks], scope, run.restoreOwner)));
    // The last step ran: the target databases are no longer half-restored.
    await runStatements(ctl, [...scope.dbMap.values()].map((d) => `DROP TABLE IF EXISTS ${qn(d, MARKER_TABLE_FLAT)}`));
    return { objects, rows, warnings };
  } catch (err) {
    if (signal.aborted) throw signal.reason ?? err;
    // A write that failed (EPIPE) can tell before the socket's close does.
    lost ||= [ctl, ...pool].some(connectionLost);
    if (lost && (!(err instanceof DbBackupError) || err.code === 'E_RESTORE_FAILED')) throw lostConnection(e, err, marked);
    const cause = err instanceof DbBackupError ? err.cause : err;
    if (!isLockWaitTimeout(cause)) throw err;
    throw await lockWaitFailure(cause, e, [...scope.dbMap.values()], e.lockWaitMs, 'restore');
  } finally {
    finished = true;
    signal.removeEventListener('abort', stop);
    // A connection still logging in joins the pool first, so that it is closed too.
    await opening;
    await Promise.all([ctl, ...pool].map(closeConnection));
  }
}

/** A restore one of whose connections was lost (the others closed with it): `err` is what failed first. */
function lostConnection(e: MysqlEndpoint, err: unknown, marked: boolean): DbBackupError {
  const why = (err as Error)?.message ?? String(err);
  const target = marked ? 'the target is marked as not completely restored: restore again with --clean' : 'the target was not changed: restore again';
  return new DbBackupError(
    'E_RESTORE_FAILED',
    `The restore lost its connection to MySQL at ${describeEndpoint(e)} (the server restarted or ended the session; ${why.replace(/\.$/, '')}); ${target} once the server is back.`,
    { cause: err },
  );
}

/**
 * The default number of restore connections: the loading is the server's work, so its cores
 * (MariaDB's thread_pool_size defaults to them), at least 2 and at most 8; where the server does
 * not say, this machine's (at most 4).
 */
async function serverCores(conn: MysqlConnection): Promise<number> {
  const cores = await conn.query('SELECT @@GLOBAL.thread_pool_size AS n').then(
    ([rows]) => Number((rows as { n: number | string | null }[])[0]?.n ?? 0),
    () => 0,
  );
  return cores > 0 ? Math.max(2, Math.min(cores, 8)) : Math.min(4, availableParallelism());
}

function refuseConflicts(parts: PartSource, scope: RestoreScope, state: Map<string, TargetDatabaseState>, request: RestoreRequest): void {
  const missing = [...scope.dbMap.values()].filter((d) => !state.get(d)!.exists);
  if (missing.length && !scope.create) {
    throw new DbBackupError('E_NOT_FOUND', `Database ${missing.join(', ')} does not exist on the server; pass --create to create it.`);
  }
  if (request.clean) return;
  for (const d of scope.dbMap.values()) {
    const marker = state.get(d)!.incomplete;
    if (marker) throw incompleteTargetError(`Database ${d}`, marker);
  }
  const clashing = scopedObjects(parts.manifest, scope).filter((o) => conflicts(o, scope, state));
  if (clashing.length) {
    throw new DbBackupError(
      'E_TARGET_EXISTS',
      scope.tables
        ? `The target already has ${clashing.map((o) => o.name).join(', ')}; pass --clean to replace them.`
        : `Database ${[...new Set(clashing.map((o) => scope.dbMap.get(dbOf(o.name, scope.info))))].join(', ')} is not empty; pass --clean to replace its contents, or restore into a new database (--target-database NAME --create).`,
    );
  }
}

/**
 * Creates missing databases and marks each target as being restored before its first change (DDL
 * commits at once here, so the mark comes first; see restore-marker.ts); with --clean removes what
 * the restore replaces (everything, or the chosen objects).
 */
async function prepareDatabases(conn: MysqlConnection, scope: RestoreScope, state: Map<string, TargetDatabaseState>, request: RestoreRequest, marker: RestoreMarker): Promise<void> {
  for (const [source, target] of scope.dbMap) {
    const s = state.get(target)!;
    if (!s.exists) {
      const d = scope.info.databases.find((x) => x.name === source)!;
      await conn.query(`CREATE DATABASE ${qi(target)} CHARACTER SET ${d.charset} COLLATE ${d.collation}`);
    }
    await markIncomplete(conn, target, marker);
    if (!s.exists || !request.clean) continue;
    const drops: string[] = [];
    const chosen = scope.tables ? [...scope.tables].filter((o) => o.startsWith(`${source}.`)).map((o) => o.slice(source.length + 1)) : undefined;
    for (const [name, kind] of s.relations) {
      if (chosen && !chosen.includes(name)) continue;
      drops.push(`DROP ${kind === 'view' ? 'VIEW' : kind === 'sequence' ? 'SEQUENCE' : 'TABLE'} IF EXISTS ${qn(target, name)}`);
    }
    if (!chosen) {
      for (const r of s.routines.filter((x) => !x.kind.startsWith('PACKAGE'))) drops.push(`DROP ${r.kind} IF EXISTS ${qn(target, r.name)}`);
      // MariaDB parses DROP PACKAGE (which drops the body too) only under sql_mode ORACLE before 11.4.
      const packages = s.routines.filter((x) => x.kind === 'PACKAGE');
      if (packages.length) drops.push("SET SQL_MODE = 'ORACLE'", ...packages.map((p) => `DROP PACKAGE IF EXISTS ${qn(target, p.name)}`), `SET SQL_MODE = '${RESTORE_SQL_MODE}'`);
      for (const ev of s.events) drops.push(`DROP EVENT IF EXISTS ${qn(target, ev)}`);
    }
    await runStatements(conn, drops);
  }
}

async function markIncomplete(conn: MysqlConnection, db: string, m: RestoreMarker): Promise<void> {
  const table = qn(db, MARKER_TABLE_FLAT);
  await conn.query(
    `CREATE TABLE IF NOT EXISTS ${table} (backup_id VARCHAR(200), source VARCHAR(200), started_at VARCHAR(40), host VARCHAR(200), pid INT) COMMENT ${sqlString(MARKER_COMMENT)}`,
  );
  await conn.query(`DELETE FROM ${table}`);
  await conn.query(`INSERT INTO ${table} VALUES (?, ?, ?, ?, ?)`, [m.backupId, m.source, m.startedAt, m.host, m.pid]);
}

/** Whether a script block belongs to this restore. Routines and events come only with whole databases. */
function wanted(meta: BlockMeta, scope: RestoreScope, phase: 'schema' | 'post'): boolean {
  if (meta.kind === 'session') return true;
  if (meta.kind === 'database' || !meta.db || !scope.dbMap.has(meta.db)) return false;
  if (!scope.tables) return true;
  if (['function', 'procedure', 'package', 'package body', 'event'].includes(meta.kind)) return false;
  const owner = phase === 'post' ? (meta.table ?? meta.name) : meta.name;
  return scope.tables.has(`${meta.db}.${owner}`);
}

/**
 * Sequences before tables (a table's DEFAULT may call NEXTVAL() on one); otherwise the script's
 * order. Backups written before the dump put sequences first had them in name order.
 */
function sequencesFirst(blocks: ScriptBlock[]): ScriptBlock[] {
  const rank = (b: ScriptBlock) => (b.meta.kind === 'session' ? 0 : b.meta.kind === 'sequence' ? 1 : 2);
  return blocks.map((b, i) => ({ b, i })).sort((x, y) => rank(x.b) - rank(y.b) || x.i - y.i).map((x) => x.b);
}

/** How blocks run: with the original definers (--restore-owner); `notes` collects views that could not be created. */
interface RunOptions {
  restoreOwner: boolean;
  notes: string[];
}

/** Errors that mean a view's definition refers to something that is not there (an invalid view in the source). */
const INVALID_VIEW = new Set(['ER_NO_SUCH_TABLE', 'ER_VIEW_INVALID', 'ER_SP_DOES_NOT_EXIST', 'ER_BAD_FIELD_ERROR', 'ER_BAD_DB_ERROR']);

/** The database runBlocks last switched a connection to (with USE), while nothing since moved it. */
const inDatabase = new WeakMap<MysqlConnection, string>();

/**
 * Runs blocks on `conn`, switching to each block's (renamed) database first (unless it is there already). A view that refers to
 * something missing (invalid already in the source, or left out by --tables) is reported in
 * `notes` and skipped; anything else that fails stops the restore.
 */
async function runBlocks(conn: MysqlConnection, blocks: ScriptBlock[], scope: RestoreScope, options: RunOptions): Promise<void> {
  for (const block of blocks) {
    const target = block.meta.db ? scope.dbMap.get(block.meta.db) : undefined;
    if (target && inDatabase.get(conn) !== target) {
      await conn.query(`USE ${qi(target)}`);
      inDatabase.set(conn, target);
    }
    const statements = restoreStatements(block, scope, options.restoreOwner);
    // A block's own USE (a database block's) moves the session elsewhere: the next block says USE again.
    if (statements.some((s) => /^\s*USE\s/i.test(s))) inDatabase.delete(conn);
    try {
      await runStatements(conn, statements);
    } catch (err) {
      inDatabase.delete(conn);
      const what = `${block.meta.kind} ${target ?? ''}.${block.meta.name ?? ''}`;
      if (block.meta.kind === 'view' && INVALID_VIEW.has((err as { code?: string }).code ?? '')) {
        options.notes.push(`${what} could not be created (${(err as Error).message}); its definition is in schema.sql.`);
        await runStatements(conn, sessionStatements());
        continue;
      }
      throw new DbBackupError('E_RESTORE_FAILED', `Could not create ${what}: ${(err as Error).message}${hint(err)}`, { cause: err });
    }
  }
}

/** What to do about the failures a restore onto a differently configured server commonly meets. */
function hint(err: unknown): string {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'ER_BINLOG_UNSAFE_ROUTINE' || code === 'ER_BINLOG_CREATE_ROUTINE_NEED_SUPER') {
    return '. The target logs binary changes and refuses routines not declared DETERMINISTIC, NO SQL or READS SQL DATA (as the source allowed): SET GLOBAL log_bin_trust_function_creators = 1 on the target, then restore again with --clean.';
  }
  if (code === 'ER_SPECIFIC_ACCESS_DENIED_ERROR' && /SET USER|SUPER/i.test((err as Error).message)) {
    return '. Naming another DEFINER (--restore-owner) needs the SET USER (or SUPER) privilege; restore without --restore-owner to own the objects yourself.';
  }
  return '';
}

async function runStatements(conn: MysqlConnection, statements: string[]): Promise<void> {
  for (const sql of statements) await conn.query(sql);
}

async function readText(parts: PartSource, role: 'schema' | 'post-data'): Promise<string> {
  const entry = parts.manifest.parts.find((p) => p.role === role);
  if (!entry) throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${parts.manifest.id} has no ${role} part.`);
  return (await readSmallPart(parts, entry)).toString('utf8');
}

/**
 * Loads every chosen table, several tables at once, each in one transaction over all its parts (a
 * part that fails its checksum leaves the table empty; a table split over several connections has
 * one transaction on each, all rolled back), then runs `afterTable` for it. Switches to INSERTs if
 * the server refuses LOAD DATA LOCAL.
 */
async function loadData(
  pool: MysqlConnection[],
  parts: PartSource,
  scope: RestoreScope,
  flavor: ServerFlavor,
  signal: AbortSignal,
  afterTable: (conn: MysqlConnection, table: { db: string; name: string }) => Promise<void>,
): Promise<{ rows: number; insertFallback: boolean }> {
  const chosen = parts.manifest.parts.filter((p) => p.role === 'data' && p.object && scope.info.tables[p.object] && wanted(tableMeta(p, scope), scope, 'schema'));
  const byTable = new Map<string, PartEntry[]>();
  for (const p of chosen) byTable.set(p.object!, [...(byTable.get(p.object!) ?? []), p]);
  const tasks = [...byTable].sort(([, a], [, b]) => size(b) - size(a));
  const [rows] = await pool[0]!.query('SELECT @@GLOBAL.local_infile AS v');
  const mode = { insert: Number((rows as { v: number | string }[])[0]?.v ?? 1) === 0 };
  let total = 0;
  const loadTable = async (conn: MysqlConnection, object: string, tableParts: PartEntry[]) => {
    const target = await loadTarget(conn, scope, object);
    await conn.query('START TRANSACTION');
    try {
      let loaded = 0;
      for (const part of inOrder(tableParts)) loaded += await loadPart(conn, parts, part, target, flavor, mode);
      await conn.query('COMMIT');
      total += loaded;
    } catch (err) {
      await conn.query('ROLLBACK').catch(() => undefined);
      throw loadError(err, target.db, target.table);
    }
  };
  // A table well over a connection's share of the whole is loaded over every connection at once
  // (row-aligned pieces of its parts), one such table after another; the rest one table per
  // connection. Not a table with an AUTO_INCREMENT column under innodb_autoinc_lock_mode < 2: each
  // LOAD DATA holds its table-level AUTO-INC lock, so the pieces would load one at a time anyway.
  const all = tasks.reduce((n, [, p]) => n + size(p), 0);
  const big = pool.length > 1 && !mode.insert ? tasks.filter(([, p]) => size(p) >= 2 * SPLIT_CHUNK && size(p) > (1.5 * all) / pool.length) : [];
  const split: typeof big = [];
  for (const task of big) if (!(await autoIncLocked(pool[0]!, scope, task[0]))) split.push(task);
  for (const [object, tableParts] of split) {
    signal.throwIfAborted();
    const target = await loadTarget(pool[0]!, scope, object);
    for (const c of pool.slice(1)) if (scope.info.tables[object]!.history) await allowHistoryInsert(c, object);
    try {
      total += await loadSplit(pool, piecesOf(parts, tableParts), target, flavor);
    } catch (err) {
      if (!isLocalInfileRefused(err)) throw loadError(err, target.db, target.table);
      mode.insert = true;
      await loadTable(pool[0]!, object, tableParts);
    }
  }
  const jobs: { object: string; tableParts?: PartEntry[] }[] = [...split.map(([object]) => ({ object })), ...tasks.filter((t) => !split.includes(t)).map(([object, tableParts]) => ({ object, tableParts }))];
  await inParallel(pool, jobs, async (conn, job) => {
    signal.throwIfAborted();
    if (job.tableParts) await loadTable(conn, job.object, job.tableParts);
    await afterTable(conn, scope.info.tables[job.object]!);
  });
  return { rows: total, insertFallback: mode.insert };
}

async function loadPart(conn: MysqlConnection, parts: PartSource, part: PartEntry, target: LoadTarget, flavor: ServerFlavor, mode: { insert: boolean }): Promise<number> {
  if (!mode.insert) {
    try {
      return await loadDataPart(conn, await parts.open(part), target, flavor);
    } catch (err) {
      if (!isLocalInfileRefused(err)) throw err;
      mode.insert = true;
    }
  }
  return insertPart(conn, await parts.open(part), target, flavor);
}

/** Whether concurrent LOAD DATA into this (target) table would queue on InnoDB's AUTO-INC table lock. */
async function autoIncLocked(conn: MysqlConnection, scope: RestoreScope, object: string): Promise<boolean> {
  const table = scope.info.tables[object]!;
  const [rows] = await conn.query(
    "SELECT @@GLOBAL.innodb_autoinc_lock_mode AS m, (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND EXTRA LIKE '%auto_increment%') AS n",
    [scope.dbMap.get(table.db), table.name],
  );
  const row = (rows as { m: number | string; n: number | string }[])[0]!;
  return Number(row.n) > 0 && Number(row.m) < 2;
}

function inOrder(parts: PartEntry[]): PartEntry[] {
  return [...parts].sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}

/** A table's parts, in order, as row-aligned pieces. */
async function* piecesOf(parts: PartSource, tableParts: PartEntry[]): AsyncGenerator<Buffer[]> {
  for (const part of inOrder(tableParts)) yield* rowChunks(await parts.open(part));
}

/** Where one table's rows go, with this session allowed to write a system-versioned table's history. */
async function loadTarget(conn: MysqlConnection, scope: RestoreScope, object: string): Promise<LoadTarget> {
  const table = scope.info.tables[object]!;
  const target = { db: scope.dbMap.get(table.db)!, table: table.name, columns: await columnsOf(conn, scope, object) };
  if (table.history) {
    await allowHistoryInsert(conn, object);
    target.columns.push({ name: table.history.start, type: 'timestamp' }, { name: table.history.end, type: 'timestamp' });
  }
  return target;
}

function size(parts: PartEntry[]): number {
  return parts.reduce((n, p) => n + p.rawSize, 0);
}

function tableMeta(part: PartEntry, scope: RestoreScope): BlockMeta {
  const t = scope.info.tables[part.object!]!;
  return { kind: 'table', db: t.db, name: t.name };
}

/** The target table's data columns, which must be the backup's (else the parts would load into the wrong columns). */
async function columnsOf(conn: MysqlConnection, scope: RestoreScope, object: string): Promise<LoadColumn[]> {
  const table = scope.info.tables[object]!;
  const [rows] = await conn.query(
    `SELECT COLUMN_NAME AS name, DATA_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [scope.dbMap.get(table.db), table.name],
  );
  const present = new Map((rows as LoadColumn[]).map((r) => [r.name, r]));
  const missing = table.columns.filter((c) => !present.has(c.name));
  if (missing.length) {
    throw new DbBackupError('E_RESTORE_FAILED', `Table ${object} in the target lacks the column(s) ${missing.map((c) => c.name).join(', ')} that the backup holds data for.`);
  }
  return table.columns.map((c) => present.get(c.name)!);
}

/** Lets this session write the row start/end of a system-versioned table's rows (MariaDB 10.11+). */
async function allowHistoryInsert(conn: MysqlConnection, object: string): Promise<void> {
  try {
    await conn.query('SET SESSION system_versioning_insert_history = 1');
  } catch (err) {
    throw new DbBackupError(
      'E_RESTORE_FAILED',
      `Table ${object} is system-versioned and its backup holds its history, which only MariaDB 10.11+ can load ` +
        `(system_versioning_insert_history; ${(err as Error).message}); restore it into such a server, or leave it out with --exclude-tables.`,
      { cause: err },
    );
  }
}

function loadError(err: unknown, db: string, table: string): unknown {
  if (err instanceof DbBackupError) return err;
  return new DbBackupError('E_RESTORE_FAILED', `Loading ${db}.${table} failed: ${(err as Error).message}`, { cause: err });
}

/** Runs `work` over `items` with one item per connection at a time; the first failure stops the rest. */
async function inParallel<T>(pool: MysqlConnection[], items: T[], work: (conn: MysqlConnection, item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  let failed = false;
  await Promise.all(
    pool.map(async (conn) => {
      for (let item = queue.shift(); item !== undefined && !failed; item = queue.shift()) {
        try {
          await work(conn, item);
        } catch (err) {
          failed = true;
          throw err;
        }
      }
    }),
  );
}
