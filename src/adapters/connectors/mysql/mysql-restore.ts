import { availableParallelism } from 'node:os';
import type { PartSource, RestoreOutcome, RestoreRequest } from '../../../application/ports/database-connector.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { PartEntry } from '../../../domain/manifest.js';
import { closeConnection, type MysqlConnection, type MysqlEndpoint, openConnection, qi, qn } from './mysql-connection.js';
import { sessionStatements } from './mysql-ddl.js';
import { detectFlavor, type ServerFlavor } from './mysql-flavor.js';
import { insertPart, isLocalInfileRefused, type LoadColumn, loadDataPart, type LoadTarget } from './mysql-load.js';
import { conflicts, dbOf, readTargetState, type RestoreScope, restoreScope, scopedObjects, type TargetDatabaseState } from './mysql-restore-scope.js';
import { type BlockMeta, parseScript, type ScriptBlock } from './mysql-script.js';

/**
 * Restores a MySQL backup: refuses (or, with --clean, clears) what is in the way, creates the
 * databases (--create), runs the schema, loads the data parts in parallel with LOAD DATA LOCAL
 * (multi-row INSERT where the server forbids it), then builds the secondary keys table by table in
 * parallel and creates triggers and events last.
 */
export async function runRestore(e: MysqlEndpoint, parts: PartSource, request: RestoreRequest, signal: AbortSignal): Promise<RestoreOutcome> {
  const scope = restoreScope(parts.manifest, e, request);
  const ctl = await openConnection(e);
  const pool: MysqlConnection[] = [];
  const onAbort = () => [ctl, ...pool].forEach((c) => c.destroy());
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const flavor = await detectFlavor(ctl);
    const state = await readTargetState(ctl, [...scope.dbMap.values()]);
    refuseConflicts(parts, scope, state, request);
    await runStatements(ctl, sessionStatements());
    await prepareDatabases(ctl, scope, state, request);
    const schema = parseScript(await readText(parts, 'schema'));
    const postData = parseScript(await readText(parts, 'post-data'));
    await runBlocks(ctl, schema.filter((b) => wanted(b.meta, scope, 'schema')), scope);
    signal.throwIfAborted();
    const size = Math.max(1, Math.min(request.parallel ?? e.restoreParallel ?? Math.min(4, availableParallelism()), 16));
    for (let i = 0; i < size; i++) {
      const c = await openConnection(e);
      pool.push(c);
      await runStatements(c, sessionStatements());
    }
    const { rows, insertFallback } = await loadData(pool, parts, scope, flavor, signal);
    const indexBlocks = postData.filter((b) => b.meta.kind === 'indexes' && wanted(b.meta, scope, 'post'));
    await inParallel(pool, indexBlocks, (c, b) => runBlocks(c, [b], scope));
    await runBlocks(ctl, postData.filter((b) => b.meta.kind !== 'indexes' && wanted(b.meta, scope, 'post')), scope);
    const objects = scopedObjects(parts.manifest, scope).map((o) => o.name);
    const warnings = insertFallback
      ? ['The server refuses LOAD DATA LOCAL INFILE (local_infile=OFF), so the data was loaded with multi-row INSERTs, which is slower; SET GLOBAL local_infile=1 allows the fast path.']
      : [];
    return { objects, rows, warnings };
  } catch (err) {
    if (signal.aborted) throw signal.reason ?? err;
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
    await Promise.all([ctl, ...pool].map(closeConnection));
  }
}

function refuseConflicts(parts: PartSource, scope: RestoreScope, state: Map<string, TargetDatabaseState>, request: RestoreRequest): void {
  const missing = [...scope.dbMap.values()].filter((d) => !state.get(d)!.exists);
  if (missing.length && !scope.create) {
    throw new DbBackupError('E_NOT_FOUND', `Database ${missing.join(', ')} does not exist on the server; pass --create to create it.`);
  }
  if (request.clean) return;
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

/** Creates missing databases; with --clean removes what the restore replaces (everything, or the chosen objects). */
async function prepareDatabases(conn: MysqlConnection, scope: RestoreScope, state: Map<string, TargetDatabaseState>, request: RestoreRequest): Promise<void> {
  for (const [source, target] of scope.dbMap) {
    const s = state.get(target)!;
    if (!s.exists) {
      const d = scope.info.databases.find((x) => x.name === source)!;
      await conn.query(`CREATE DATABASE ${qi(target)} CHARACTER SET ${d.charset} COLLATE ${d.collation}`);
      continue;
    }
    if (!request.clean) continue;
    const drops: string[] = [];
    const chosen = scope.tables ? [...scope.tables].filter((o) => o.startsWith(`${source}.`)).map((o) => o.slice(source.length + 1)) : undefined;
    for (const [name, kind] of s.relations) {
      if (chosen && !chosen.includes(name)) continue;
      drops.push(`DROP ${kind === 'view' ? 'VIEW' : kind === 'sequence' ? 'SEQUENCE' : 'TABLE'} IF EXISTS ${qn(target, name)}`);
    }
    if (!chosen) {
      for (const r of s.routines) drops.push(`DROP ${r.kind} IF EXISTS ${qn(target, r.name)}`);
      for (const ev of s.events) drops.push(`DROP EVENT IF EXISTS ${qn(target, ev)}`);
    }
    await runStatements(conn, drops);
  }
}

/** Whether a script block belongs to this restore. Routines and events come only with whole databases. */
function wanted(meta: BlockMeta, scope: RestoreScope, phase: 'schema' | 'post'): boolean {
  if (meta.kind === 'session') return true;
  if (meta.kind === 'database' || !meta.db || !scope.dbMap.has(meta.db)) return false;
  if (!scope.tables) return true;
  if (['function', 'procedure', 'event'].includes(meta.kind)) return false;
  const owner = phase === 'post' ? (meta.table ?? meta.name) : meta.name;
  return scope.tables.has(`${meta.db}.${owner}`);
}

/** Runs blocks on `conn`, switching to each block's (renamed) database first. */
async function runBlocks(conn: MysqlConnection, blocks: ScriptBlock[], scope: RestoreScope): Promise<void> {
  for (const block of blocks) {
    const target = block.meta.db ? scope.dbMap.get(block.meta.db) : undefined;
    if (target) await conn.query(`USE ${qi(target)}`);
    try {
      await runStatements(conn, block.statements);
    } catch (err) {
      throw new DbBackupError(
        'E_RESTORE_FAILED',
        `Could not create ${block.meta.kind} ${target ?? ''}.${block.meta.name ?? ''}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
}

async function runStatements(conn: MysqlConnection, statements: string[]): Promise<void> {
  for (const sql of statements) await conn.query(sql);
}

async function readText(parts: PartSource, role: 'schema' | 'post-data'): Promise<string> {
  const entry = parts.manifest.parts.find((p) => p.role === role);
  if (!entry) throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${parts.manifest.id} has no ${role} part.`);
  const chunks: Buffer[] = [];
  for await (const chunk of await parts.open(entry)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Loads every chosen table, several tables at once, each in one transaction over all its parts (a
 * part that fails its checksum leaves the table empty). Switches to INSERTs if the server refuses
 * LOAD DATA LOCAL.
 */
async function loadData(
  pool: MysqlConnection[],
  parts: PartSource,
  scope: RestoreScope,
  flavor: ServerFlavor,
  signal: AbortSignal,
): Promise<{ rows: number; insertFallback: boolean }> {
  const chosen = parts.manifest.parts.filter((p) => p.role === 'data' && p.object && scope.info.tables[p.object] && wanted(tableMeta(p, scope), scope, 'schema'));
  const byTable = new Map<string, PartEntry[]>();
  for (const p of chosen) byTable.set(p.object!, [...(byTable.get(p.object!) ?? []), p]);
  const tasks = [...byTable].sort(([, a], [, b]) => size(b) - size(a));
  const [rows] = await pool[0]!.query('SELECT @@GLOBAL.local_infile AS v');
  const mode = { insert: Number((rows as { v: number | string }[])[0]?.v ?? 1) === 0 };
  let total = 0;
  await inParallel(pool, tasks, async (conn, [object, tableParts]) => {
    signal.throwIfAborted();
    const table = scope.info.tables[object]!;
    const target = { db: scope.dbMap.get(table.db)!, table: table.name, columns: await columnsOf(conn, scope, object) };
    await conn.query('START TRANSACTION');
    try {
      let loaded = 0;
      for (const part of tableParts.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }))) {
        loaded += await loadPart(conn, parts, part, target, flavor, mode);
      }
      await conn.query('COMMIT');
      total += loaded;
    } catch (err) {
      await conn.query('ROLLBACK').catch(() => undefined);
      throw loadError(err, target.db, target.table);
    }
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
