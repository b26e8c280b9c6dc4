import { availableParallelism } from 'node:os';
import type pg from 'pg';
import type { PartSource } from '../../../application/ports/parts.js';
import type { RestoreOutcome, RestoreRequest } from '../../../application/ports/restore-plan.js';
import { DbBackupError, isDbBackupError } from '../../../domain/errors.js';
import type { Manifest } from '../../../domain/manifest.js';
import { type PgEndpoint, describeEndpoint, openClient } from './connection.js';
import { type SkipFailed, type Task, dataPartsByObject, partTask, postDataTasks, runTasks, statementTask, tableTask } from './postgres-load.js';
import { LARGE_OBJECTS, largeObjectsTask } from './postgres-blobs.js';
import { readSmallPart } from '../read-small-part.js';
import { RESTORE_SETTINGS } from './postgres-script.js';
import { selectItems } from './postgres-select.js';
import { Ledger, partialRestore, strictRefusal, subscriptionNote } from './postgres-restore-report.js';
import { SkipList, label, reasonOf } from './postgres-skips.js';
import { CLEAR_MARKER_SQL, createDatabase, dropDatabase, existingRelations, readMarker, userObjects, writeMarkerSql } from './postgres-target.js';
import { incompleteTargetError, newMarker, type RestoreMarker } from '../restore-marker.js';
import { TOC_PART, TOC_VERSION, type Toc, type TocItem } from './postgres-toc.js';
import { checkToc } from './postgres-toc-check.js';

const RELATION_KINDS = new Set(['table', 'view', 'matview', 'foreign-table']);

/** A restore request with PostgreSQL's own choices (plugin options). */
export interface PgRestoreRequest extends RestoreRequest {
  /** Any object that would be skipped fails the restore instead, leaving nothing restored. */
  strict?: boolean;
}

/** Reads and checks toc.json from a backup (verified as it streams). */
export async function readToc(parts: PartSource): Promise<Toc> {
  const m = parts.manifest;
  const part = m.parts.find((p) => p.role === 'schema' && (p.name === TOC_PART || p.name.startsWith(`${TOC_PART}.`)));
  if (!part) throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${m.id} has no ${TOC_PART}; it was not written by the PostgreSQL connector.`);
  const toc = JSON.parse((await readSmallPart(parts, part)).toString('utf8')) as Toc;
  if (typeof toc.version !== 'number' || toc.version > TOC_VERSION || !Array.isArray(toc.items)) {
    throw new DbBackupError('E_FORMAT_VERSION', `Backup ${m.id} has a ${TOC_PART} of a newer format (${String(toc.version)}); upgrade dbbackup to restore it.`);
  }
  return checkToc(toc, m);
}

/**
 * Restores a backup: schema (pre-data) in one transaction, then table data over `parallel`
 * connections with COPY FROM STDIN, then indexes, constraints, triggers and the rest in parallel.
 * An object that fails on the target (a C function whose library is missing here) is skipped with
 * everything that depends on it, and the rest restored: the restore then ends in E_PARTIAL naming
 * each. With `strict`, the first such failure fails the restore and undoes it.
 */
export async function restoreDatabase(endpoint: PgEndpoint, parts: PartSource, request: PgRestoreRequest, signal: AbortSignal, opened?: OpenedTarget): Promise<RestoreOutcome> {
  const manifest = parts.manifest;
  // The TOC is read while the first connection opens and looks at the target (unless the plan did
  // that already and handed its connection on). Nothing changes the target before the stored bytes
  // are checked (parts.checked): all of this overlaps the checks.
  const [tocRead, targetOpened] = await Promise.allSettled([readToc(parts), opened ?? openTarget(endpoint)]);
  let first = targetOpened.status === 'fulfilled' ? targetOpened.value.client : undefined;
  const clients: pg.Client[] = [];
  const connects: Promise<void>[] = [];
  const onAbort = () => clients.forEach((c) => (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy());
  signal.addEventListener('abort', onAbort, { once: true });
  let ledger: Ledger | undefined;
  let items: TocItem[] = [];
  try {
    if (tocRead.status === 'rejected') throw tocRead.reason;
    if (targetOpened.status === 'rejected') throw targetOpened.reason;
    const toc = tocRead.value;
    const state = targetOpened.value.state;
    const selective = request.tables !== undefined || request.schemas !== undefined;
    const { keep, warnings } = selectItems(toc.items, { tables: request.tables, excludeTables: request.excludeTables, schemas: request.schemas });
    items = toc.items.filter((i) => keep.has(i.id));
    const skips = new SkipList(items);
    for (const item of items) if (item.skip) skips.skip(item, item.skip);
    if (request.strict && skips.size) throw strictRefusal(skips, describeEndpoint(endpoint));
    ledger = new Ledger(describeEndpoint(endpoint), [], []);

    if (!first) {
      if (!request.create) {
        throw new DbBackupError('E_NOT_FOUND', `The database "${endpoint.database}" does not exist on ${endpoint.host}:${endpoint.port}; pass --create to create it.`);
      }
      await parts.checked;
      warnings.push(...(await createDatabase(endpoint, toc)));
      ledger.createdDatabase = true;
      first = await restoreClient(endpoint);
    }
    clients.push(first);
    const parallel = Math.max(1, request.parallel ?? availableParallelism());
    // The other connections open while the schema is created on the first.
    const workers = Math.min(parallel, Math.max(1, items.filter((i) => i.copy).length, items.filter((i) => i.section === 'post-data').length));
    for (let i = 1; i < workers; i++) connects.push(restoreClient(endpoint).then((c) => void clients.push(c)));
    const opening = Promise.all(connects);
    opening.catch(() => undefined);
    const main = first;
    if (!request.clean && state.incomplete) throw incompleteTargetError(describeEndpoint(endpoint), state.incomplete);
    if (!request.clean) await refuseOccupied(main, items, selective, state.count, state.objects, endpoint);
    await parts.checked;
    // The incomplete-restore mark commits with the schema (the first change) and goes with the last step.
    const unmarked = await preData(main, items, request, ledger, skips, writeMarkerSql(newMarker(manifest)));
    if (unmarked) warnings.push(unmarked);
    signal.throwIfAborted();
    await opening;
    // The database's own grants and per-role settings come with a database the restore creates.
    const grants = (item: TocItem) => request.restoreGrants || (item.kind === 'database' && ledger!.createdDatabase);
    const extra = (item: TocItem) => [request.restoreOwner ? item.owner : undefined, grants(item) ? item.acl : undefined].filter((s): s is string => !!s);

    const left = items.filter((i) => !skips.has(i.id));
    const dataItems = left.filter((i) => i.copy);
    const post = left.filter((i) => i.section === 'post-data');
    ledger.tables = dataItems.map((i) => i.copy!.object);
    ledger.post = post;
    const { tasks, tableOf } = restoreTasks(left, manifest, parts, workers, extra);
    const byId = new Map(left.map((i) => [i.id, i]));
    // A data load never is skipped: its rows would be lost without a trace of which.
    const skip: SkipFailed | undefined = request.strict
      ? undefined
      : (task, error) => {
          const item = tableOf.has(task.id) ? undefined : byId.get(task.item ?? task.id);
          return item && skips.skip(item, reasonOf(error));
        };
    const outcome = await runTasks(clients, tasks, signal, skip);
    ledger.record(outcome.done, tableOf, new Map(post.map((p) => [p.id, p.name])));
    const stuck = outcome.failed ?? (outcome.notRun.length ? { task: outcome.notRun[0]!, error: new Error('its dependencies could not be met') } : undefined);
    if (stuck) throw ledger.failure(stuck.task.label, stuck.error);
    // Every step ran (skips are reported below, by name): the target is no longer half-restored.
    await main.query(CLEAR_MARKER_SQL);
    warnings.push(...left.filter((i) => i.kind === 'subscription' && !skips.has(i.id)).map(subscriptionNote));
    const restored: RestoreOutcome = {
      objects: left.filter((i) => RELATION_KINDS.has(i.kind) && !skips.has(i.id)).map((i) => i.name),
      rows: rowsOf(manifest, dataItems),
      ...(warnings.length ? { warnings } : {}),
    };
    if (skips.size) throw partialRestore(skips, ledger.target, restored);
    return restored;
  } catch (err) {
    if (!request.strict || !ledger || isDbBackupError(err, 'E_PARTIAL') || (!ledger.createdDatabase && !ledger.preData)) throw err;
    // --strict: what this restore made is undone before the failure is reported.
    await Promise.allSettled(connects);
    await undo(endpoint, clients, items, ledger);
    if (!ledger.undone) throw err;
    throw isDbBackupError(err) ? ledger.failure(String(err.details.step ?? 'the restore'), err.cause ?? err) : ledger.failure('the restore', err);
  } finally {
    signal.removeEventListener('abort', onAbort);
    await Promise.allSettled(connects); // every connection that opens is closed below
    if (first && !clients.includes(first)) clients.push(first);
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
}

/**
 * --strict after a failure: drops the database the restore created, or else every object it made
 * (the target was empty, or --clean had dropped them), in one transaction.
 */
async function undo(endpoint: PgEndpoint, clients: pg.Client[], items: TocItem[], ledger: Ledger): Promise<void> {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  clients.length = 0;
  try {
    if (ledger.createdDatabase) {
      await dropDatabase(endpoint);
    } else {
      const client = await restoreClient(endpoint);
      clients.push(client);
      await client.query('BEGIN');
      await client.query(CLEAR_MARKER_SQL);
      for (const item of [...items].reverse()) {
        if (!item.drop) continue;
        await client.query('SAVEPOINT d');
        await client.query(item.drop).catch(() => client.query('ROLLBACK TO SAVEPOINT d'));
        await client.query('RELEASE SAVEPOINT d');
      }
      await client.query('COMMIT');
    }
    ledger.undone = true;
  } catch {
    // The failure is reported as it stands: the ledger says what was restored.
  }
}

export interface OpenedTarget {
  /** A restore connection to the target, or undefined when its database does not exist. */
  client: pg.Client | undefined;
  /** The target's user objects when it was looked at (none if it does not exist), and the mark of an unfinished restore. */
  state: { count: number; objects: string[]; incomplete?: RestoreMarker };
}

/** Connects to the restore target and looks at what it holds (read-only). */
export async function openTarget(endpoint: PgEndpoint): Promise<OpenedTarget> {
  const client = await restoreClient(endpoint).catch((err: unknown) => {
    if (isDbBackupError(err, 'E_NOT_FOUND')) return undefined;
    throw err;
  });
  if (!client) return { client, state: { count: 0, objects: [] } };
  try {
    const [objects, incomplete] = await Promise.all([userObjects(client), readMarker(client)]);
    return { client, state: { ...objects, ...(incomplete ? { incomplete } : {}) } };
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
}

/** A connection with the restore's settings; one whose settings fail is closed here (no caller holds it yet). */
function restoreClient(endpoint: PgEndpoint): Promise<pg.Client> {
  return openClient(endpoint, endpoint.database, { settings: `${RESTORE_SETTINGS.join('\n')}\nSET synchronous_commit = off;\nSET maintenance_work_mem = '256MB';` });
}

/**
 * Every data and post-data step as tasks: one per table, loaded in one transaction with COPY FREEZE
 * (see tableTask), then each index, constraint and trigger as soon as its tables are loaded (as
 * pg_restore -j does), sequence values at any time. Only a table too large to share out evenly
 * (see loadsInParallel) is loaded part by part over several connections. `tableOf` maps data
 * tasks to tables.
 */
function restoreTasks(items: TocItem[], manifest: Manifest, parts: PartSource, workers: number, extra: (i: TocItem) => string[]) {
  const tasks: Task[] = [];
  const tableOf = new Map<number, string>();
  const byTable = new Map<string, number[]>();
  const bytes = tableBytes(manifest);
  const total = [...bytes.values()].reduce((a, b) => a + b, 0);
  let nextId = items.reduce((max, i) => Math.max(max, i.id), 0) + 1;
  const partsBy = dataPartsByObject(manifest.parts);
  for (const item of items.filter((i) => i.copy)) {
    const object = item.copy!.object;
    const own = partsBy.get(object) ?? [];
    const split = own.length > 1 && loadsInParallel(bytes.get(object) ?? 0, total, workers);
    const made = split ? own.map((p) => partTask(nextId++, item, p, parts)) : [tableTask(item, own, parts)];
    for (const t of made) tableOf.set(t.id, object);
    byTable.set(object, made.map((t) => t.id));
    tasks.push(...made);
  }
  const blobParts = partsBy.get(LARGE_OBJECTS) ?? [];
  if (blobParts.length && items.some((i) => i.kind === 'large-objects')) tasks.push(largeObjectsTask(nextId++, blobParts, parts));
  const allData = [...tableOf.keys()];
  for (const item of items.filter((i) => i.section === 'data')) tasks.push(statementTask(item, []));
  for (const item of items.filter((i) => i.section === 'post-data')) {
    const needs = item.kind === 'refresh' || item.kind === 'view' || item.kind === 'matview' ? allData : item.tables.flatMap((t) => byTable.get(t) ?? []);
    // A small table's key is one statement (its index is built with it): two cost a round trip and
    // a transaction more per table, and nothing builds beside them on a table that small.
    const direct = item.viaIndex && byTable.has(item.tables[0]!) && (bytes.get(item.tables[0]!) ?? 0) <= DIRECT_KEY_BYTES;
    tasks.push(...postDataTasks(direct ? { ...item, viaIndex: undefined } : item, extra(item), needs, () => nextId++));
  }
  return { tasks: sortByLevel(tasks, tableOf, bytes), tableOf };
}

/** A key on a table of at most this many raw bytes is added in one statement, not through its index first. */
export const DIRECT_KEY_BYTES = 1 << 20;

/**
 * Whether to load one table over several connections at once. Concurrent COPYs into one table
 * cannot use FREEZE and contend for the relation's extension lock, so this pays only when the
 * table alone would keep one connection busy long after the others ran out of work: when it
 * holds more than 1.5 times an even share of the data.
 */
export function loadsInParallel(tableBytes: number, totalBytes: number, workers: number): boolean {
  return workers > 1 && tableBytes > (1.5 * totalBytes) / workers;
}

/** The rows the manifest counts in the tables `dataItems` load. */
function rowsOf(manifest: Manifest, dataItems: TocItem[]): number {
  const rows = new Map(manifest.objects.map((o) => [o.name, o.rows ?? 0]));
  return dataItems.reduce((n, i) => n + (rows.get(i.copy!.object) ?? 0), 0);
}

function tableBytes(manifest: Manifest): Map<string, number> {
  const bytes = new Map<string, number>();
  for (const p of manifest.parts) if (p.role === 'data' && p.object) bytes.set(p.object, (bytes.get(p.object) ?? 0) + p.rawSize);
  return bytes;
}

/**
 * Longest chain first (list scheduling by level): a task costs the size of the largest table it
 * loads or works on, and its level is that cost plus the highest level among the tasks that wait
 * for it. The largest table's load and its index builds still start first (as pg_restore -j orders
 * them), but a small table that a foreign key on a large one needs is loaded early, not after every
 * larger table's indexes, so the key does not wait at the end. Equal levels keep their order (data
 * before post-data). Split loads (shared locks on their table) are data, not index builds, here.
 */
export function sortByLevel(tasks: Task[], tableOf: Map<number, string>, bytes: Map<string, number>): Task[] {
  const cost = (t: Task) => {
    const object = tableOf.get(t.id);
    if (object !== undefined) return bytes.get(object) ?? 0;
    return Math.max(0, ...[...t.exclusive, ...t.shared].map((o) => bytes.get(o) ?? 0));
  };
  const dependents = new Map<number, Task[]>();
  const follow = (before: number, after: Task) => listIn(dependents, before).push(after);
  for (const t of tasks) for (const d of t.deps) follow(d, t);
  // A task that locks a table exclusively (a foreign key, say) also waits for the index builds on
  // that table, so those count as coming before it: an index that holds up a key is not left for last.
  const exclusiveOn = new Map<string, Task[]>();
  for (const t of tasks) if (!tableOf.has(t.id)) for (const o of t.exclusive) listIn(exclusiveOn, o).push(t);
  for (const t of tasks) if (!tableOf.has(t.id)) for (const o of t.shared) for (const x of exclusiveOn.get(o) ?? []) if (x !== t) follow(t.id, x);
  const levels = new Map<number, number>();
  const level = (t: Task, seen: Set<number>): number => {
    const known = levels.get(t.id);
    if (known !== undefined) return known;
    if (seen.has(t.id)) return 0; // a dependency loop: count the rest of it once
    seen.add(t.id);
    const v = cost(t) + Math.max(0, ...(dependents.get(t.id) ?? []).map((d) => level(d, seen)));
    seen.delete(t.id);
    levels.set(t.id, v);
    return v;
  };
  return tasks
    .map((task, order) => ({ task, order, level: level(task, new Set()) }))
    .sort((a, b) => b.level - a.level || a.order - b.order)
    .map((e) => e.task);
}

/** Pre-data statements sent in one query: at most this many objects, */
const BATCH_ITEMS = 250;
/** and about this much SQL (memory stays bounded whatever the schema's size). */
const BATCH_BYTES = 1 << 20;

/** The pre-data items not skipped, in their order, grouped into the batches preData sends in one query each. */
function* preDataBatches(items: TocItem[], skips: SkipList): Generator<TocItem[]> {
  let batch: TocItem[] = [];
  let bytes = 0;
  for (const item of items) {
    if (item.section !== 'pre-data') continue;
    if (batch.length && (batch.length >= BATCH_ITEMS || bytes + item.sql.length > BATCH_BYTES)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    // Checked after the yield: the batch before may have skipped this one (a dependency failed).
    if (skips.has(item.id)) continue;
    batch.push(item);
    bytes += item.sql.length;
  }
  if (batch.length) yield batch;
}

function listIn<K, V>(map: Map<K, V[]>, key: K): V[] {
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  return list;
}

async function refuseOccupied(client: pg.Client, items: TocItem[], selective: boolean, count: number, objects: string[], endpoint: PgEndpoint) {
  if (selective) {
    const clash = await existingRelations(client, items.filter((i) => RELATION_KINDS.has(i.kind)).map((i) => i.name));
    if (clash.length) {
      throw new DbBackupError('E_TARGET_EXISTS', `${describeEndpoint(endpoint)} already has ${clash.slice(0, 10).join(', ')}; pass --clean to replace them.`);
    }
  } else if (count > 0) {
    throw new DbBackupError(
      'E_TARGET_EXISTS',
      `The database ${describeEndpoint(endpoint)} is not empty (${count} objects, e.g. ${objects.slice(0, 5).join(', ')}); ` +
        'restore into a new database (--create), or pass --clean to replace what the backup holds.',
    );
  }
}

/**
 * --clean drops, then the schema, all in one transaction. Each object runs under a savepoint: one
 * that fails is rolled back and skipped with its dependents (with --strict, the whole step is).
 */
async function preData(client: pg.Client, items: TocItem[], request: PgRestoreRequest, ledger: Ledger, skips: SkipList, marker: string): Promise<string | undefined> {
  await client.query('BEGIN');
  let current = 'the schema';
  try {
    if (request.clean) {
      for (const item of [...items].reverse()) {
        if (!item.drop) continue;
        current = `dropping ${item.kind} ${item.name}`;
        await client.query('SAVEPOINT d');
        // Schemas and extensions may still hold objects the backup does not have: they stay.
        await client.query(item.drop).catch(async (err: unknown) => {
          await client.query('ROLLBACK TO SAVEPOINT d');
          if (item.kind !== 'schema' && item.kind !== 'extension') throw err;
        });
        await client.query('RELEASE SAVEPOINT d');
      }
    }
    const attempt = async (sql: string): Promise<unknown> => {
      // One round trip: the savepoint, the statements, its release (the rest of the string is skipped on an error).
      try {
        await client.query(`SAVEPOINT o;\n${sql}\n;\nRELEASE SAVEPOINT o;`);
        return undefined;
      } catch (err) {
        if (request.strict) throw err;
        await client.query('ROLLBACK TO SAVEPOINT o; RELEASE SAVEPOINT o;');
        return err;
      }
    };
    const extras = (item: TocItem): [string, string][] => {
      const out: [string, string][] = [];
      if (request.restoreOwner && item.owner) out.push(['owner', item.owner]);
      if (request.restoreGrants && item.acl) out.push(['grants', item.acl]);
      return out;
    };
    const oneByOne = async (item: TocItem) => {
      current = label(item);
      const failed = await attempt(item.sql);
      if (failed) return skips.skip(item, reasonOf(failed));
      for (const [what, sql] of extras(item)) {
        current = `${what} of ${label(item)}`;
        const err = await attempt(sql);
        if (err) skips.note(current, reasonOf(err));
      }
    };
    for (const batch of preDataBatches(items, skips)) {
      if (batch.length > 1) {
        current = `${label(batch[0]!)} … ${label(batch[batch.length - 1]!)}`;
        const sql = batch.flatMap((item) => [item.sql, ...extras(item).map((e) => e[1])]).join('\n;\n');
        // Many objects in one round trip; the first error rolls the batch back and it runs again object by object.
        const sent = await client.query(`SAVEPOINT o;\n${sql}\n;\nRELEASE SAVEPOINT o;`).then(
          () => true,
          async () => {
            await client.query('ROLLBACK TO SAVEPOINT o; RELEASE SAVEPOINT o;');
            return false;
          },
        );
        if (sent) continue;
      }
      for (const item of batch) if (!skips.has(item.id)) await oneByOne(item);
    }
    // A role that may not create a schema here still restores, unmarked, with a warning.
    let unmarked: string | undefined;
    try {
      await client.query(`SAVEPOINT m;\n${marker};\nRELEASE SAVEPOINT m;`);
    } catch (err) {
      await client.query('ROLLBACK TO SAVEPOINT m; RELEASE SAVEPOINT m;');
      unmarked = `The target could not be marked as being restored (${reasonOf(err)}): had this restore been interrupted, nothing in the target would have said so.`;
    }
    await client.query('COMMIT');
    ledger.preData = true;
    return unmarked;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw ledger.failure(current, err);
  }
}
