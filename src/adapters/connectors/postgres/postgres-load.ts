import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import type { PartSource } from '../../../application/ports/parts.js';
import type { PartEntry } from '../../../domain/manifest.js';
import type { TocItem } from './postgres-toc.js';
import { copyStreams } from './pg-driver.js';

const { from: copyFrom } = copyStreams;

/** One unit of restore work run on a free connection once its dependencies are done. */
export interface Task {
  id: number;
  label: string;
  deps: number[];
  /** Tables the task locks so that nothing else may touch them meanwhile (ALTER TABLE …). */
  exclusive: string[];
  /** Tables the task reads or indexes; only exclusive holders conflict. */
  shared: string[];
  /** The TOC item the task builds, when its id is not that item's (an index built for a key). */
  item?: number;
  run(client: pg.Client, signal: AbortSignal): Promise<void>;
}

export interface TaskOutcome {
  done: Task[];
  failed?: { task: Task; error: unknown };
  notRun: Task[];
  /** Tasks given up (see runTasks' `skip`), the failed ones included. */
  skipped: Task[];
}

/**
 * Says whether a failed task is skipped rather than failing the run: the ids of the TOC items given
 * up with it (it and its dependents), or undefined to fail.
 */
export type SkipFailed = (task: Task, error: unknown) => number[] | undefined;

/**
 * Runs tasks over a pool of connections: a task starts when its dependencies among `tasks` are done
 * and no running task holds a conflicting lock on its tables (as pg_restore -j avoids lock waits
 * and deadlocks between foreign keys). After the first failure nothing new starts, unless `skip`
 * gives the task up: then the tasks of the items it names, and those that wait for a task given up,
 * are dropped and the rest carries on.
 */
export function runTasks(clients: pg.Client[], tasks: Task[], signal: AbortSignal, skip?: SkipFailed): Promise<TaskOutcome> {
  const ids = new Set(tasks.map((t) => t.id));
  const doneIds = new Set<number>();
  const done: Task[] = [];
  const idle = [...clients];
  const exclusive = new Map<string, number>();
  const shared = new Map<string, number>();
  const bump = (m: Map<string, number>, keys: string[], by: number) => keys.forEach((k) => m.set(k, (m.get(k) ?? 0) + by));
  const free = (t: Task) => t.exclusive.every((k) => !exclusive.get(k) && !shared.get(k)) && t.shared.every((k) => !exclusive.get(k));
  // Each task counts its dependencies not yet done; one at 0 joins `ready`, which stays in the
  // tasks' order, so a start scans only tasks that wait for a lock, not every pending one (a
  // restore of 10,000 tables has some 30,000 tasks).
  const waiting = tasks.map((t) => new Set(t.deps.filter((d) => ids.has(d))).size);
  const dependents = new Map<number, number[]>();
  tasks.forEach((t, at) => new Set(t.deps).forEach((d) => ids.has(d) && listIn(dependents, d).push(at)));
  const ready: number[] = tasks.flatMap((_, at) => (waiting[at] === 0 ? [at] : []));
  const started = new Array<boolean>(tasks.length).fill(false);
  const gone = new Array<boolean>(tasks.length).fill(false);
  const pendingTasks = () => tasks.filter((_, at) => !started[at] && !gone[at]);
  let running = 0;
  let failed: TaskOutcome['failed'];
  const skipped: Task[] = [];
  const finished = (task: Task) => {
    if (doneIds.has(task.id)) return;
    doneIds.add(task.id);
    for (const at of dependents.get(task.id) ?? []) if (--waiting[at]! === 0) insertSorted(ready, at);
  };
  const giveUp = (task: Task, items: number[]) => {
    const lost = new Set([task.id]);
    const itemIds = new Set(items);
    skipped.push(task);
    for (let changed = true; changed; ) {
      changed = false;
      for (let at = tasks.length - 1; at >= 0; at--) {
        const t = tasks[at]!;
        if (started[at] || gone[at]) continue;
        if (itemIds.has(t.item ?? t.id) || t.deps.some((d) => lost.has(d))) {
          gone[at] = true;
          lost.add(t.id);
          skipped.push(t);
          changed = true;
        }
      }
    }
  };
  const next = (): Task | undefined => {
    for (let i = 0; i < ready.length; i++) {
      const at = ready[i]!;
      if (gone[at]) {
        ready.splice(i--, 1);
        continue;
      }
      if (!free(tasks[at]!)) continue;
      ready.splice(i, 1);
      started[at] = true;
      return tasks[at];
    }
    return undefined;
  };
  return new Promise((resolve) => {
    const pump = () => {
      while (!failed && !signal.aborted && idle.length) {
        const task = next();
        if (!task) break;
        const client = idle.pop()!;
        bump(exclusive, task.exclusive, 1);
        bump(shared, task.shared, 1);
        running++;
        task
          .run(client, signal)
          .then(
            () => {
              finished(task);
              done.push(task);
            },
            (error: unknown) => {
              const items = failed || signal.aborted ? undefined : skip?.(task, error);
              if (items) giveUp(task, items);
              else failed ??= { task, error };
            },
          )
          .finally(() => {
            bump(exclusive, task.exclusive, -1);
            bump(shared, task.shared, -1);
            running--;
            idle.push(client);
            pump();
          });
      }
      if (running === 0) {
        const notRun = pendingTasks();
        if (!failed && signal.aborted) failed = { task: notRun[0] ?? tasks[0]!, error: signal.reason };
        resolve({ done, failed, notRun, skipped });
      }
    };
    pump();
  });
}

/** Inserts `value` into the ascending `list` at its place. */
function insertSorted(list: number[], value: number): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, value);
}

function listIn<K, V>(map: Map<K, V[]>, key: K): V[] {
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  return list;
}

/**
 * Loads one table's parts in one transaction. TRUNCATE first lets COPY … FREEZE write frozen rows
 * (no later hint-bit or vacuum rewrite, and no WAL with wal_level=minimal), as pg_restore does;
 * rows that join an extension's own (CopyInfo.append) are copied in as they are. A small table
 * (PREFETCH_BYTES) is one COPY of its rows read beforehand.
 */
export function tableTask(item: TocItem, parts: PartEntry[], source: PartSource): Task {
  const copy = item.copy!;
  const cols = copy.columns.length ? ` (${copy.columns.join(', ')})` : '';
  return {
    id: item.id,
    label: `data of ${copy.object}`,
    deps: [],
    exclusive: [copy.object],
    shared: [],
    async run(client, signal) {
      // A small table's rows are read (and verified) before its transaction starts: the COPY then
      // takes one round trip instead of waiting on the part's stream stages while the table is open.
      const read = parts.reduce((n, p) => n + p.rawSize, 0) <= PREFETCH_BYTES ? await readParts(parts, source, signal) : undefined;
      if (read) {
        // One COPY, atomic on its own: no transaction, TRUNCATE or FREEZE for so few rows (the
        // TRUNCATE's new files and the old ones' removal at COMMIT cost more than freezing saves).
        await pipeline(Readable.from(read), client.query(copyFrom(`COPY ${copy.ident}${cols} FROM STDIN`)), { signal });
        return;
      }
      let freeze = !copy.append;
      try {
        // One round trip: the transaction, its savepoint and the TRUNCATE (on an error the rest of
        // the string is skipped; the transaction is open once BEGIN ran, which comes first).
        await client.query(freeze ? `BEGIN;\nSAVEPOINT t;\nTRUNCATE ONLY ${copy.ident};` : 'BEGIN');
      } catch (err) {
        if (!freeze) throw err;
        await client.query('ROLLBACK TO SAVEPOINT t').catch(async () => {
          // BEGIN or SAVEPOINT itself failed: start over without the TRUNCATE.
          await client.query('ROLLBACK').catch(() => undefined);
          await client.query('BEGIN');
        });
        freeze = false;
      }
      try {
        const sql = `COPY ${copy.ident}${cols} FROM STDIN${freeze ? ' (FREEZE)' : ''}`;
        for (const part of parts) await pipeline(await source.open(part), client.query(copyFrom(sql)), { signal });
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    },
  };
}

/** A table whose parts hold at most this many raw bytes is read into memory before it is loaded (see tableTask). */
const PREFETCH_BYTES = 256 << 10;

/** The raw bytes of `parts`, each checked as it is read (the stream fails on damage). */
async function readParts(parts: PartEntry[], source: PartSource, signal: AbortSignal): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const body = await source.open(part);
    await pipeline(
      body,
      new Writable({
        write(chunk: Buffer, _enc, done) {
          chunks.push(chunk);
          done();
        },
      }),
      { signal },
    );
  }
  return chunks;
}

/**
 * Loads one part of a large table in its own transaction, so that several connections fill one
 * table at once (the table is locked shared: only other parts of it run alongside).
 */
export function partTask(id: number, item: TocItem, part: PartEntry, source: PartSource): Task {
  const copy = item.copy!;
  const cols = copy.columns.length ? ` (${copy.columns.join(', ')})` : '';
  return {
    id,
    label: `data of ${copy.object}`,
    deps: [],
    exclusive: [],
    shared: [copy.object],
    async run(client, signal) {
      const body = await source.open(part);
      await pipeline(body, client.query(copyFrom(`COPY ${copy.ident}${cols} FROM STDIN`)), { signal });
    },
  };
}

const SHARED_KINDS = new Set(['index', 'statistics', 'sequence-set']);

/** A post-data (or sequence value) item as a task; `extra` adds owner/grant statements. */
export function statementTask(item: TocItem, extra: string[]): Task {
  const sql = [item.sql, ...extra].filter(Boolean).join('\n');
  const sharedKind = SHARED_KINDS.has(item.kind);
  // A key or unique constraint of a partition lists its ancestors after its own table: ATTACH only
  // needs them kept from a foreign key on the root (which locks every partition), so the keys of
  // sibling partitions still build side by side.
  const ownOnly = item.kind === 'constraint';
  return {
    id: item.id,
    label: `${item.kind} ${item.name}`,
    deps: item.deps,
    exclusive: sharedKind ? [] : ownOnly ? item.tables.slice(0, 1) : item.tables,
    shared: sharedKind ? item.tables : ownOnly ? item.tables.slice(1) : [],
    async run(client) {
      await client.query(sql);
    },
  };
}

/**
 * A post-data item's tasks, after `needs` (its tables' data). A key that can be built through its
 * index (TocItem.viaIndex) is two: the unique index, built under a share lock beside the table's
 * other indexes, then the constraint taking it over; everything that depends on the key waits for
 * the second (it keeps the item's id).
 */
export function postDataTasks(item: TocItem, extra: string[], needs: number[], newId: () => number): Task[] {
  if (!item.viaIndex) {
    const task = statementTask(item, extra);
    task.deps = [...task.deps, ...needs];
    return [task];
  }
  const index = statementTask({ ...item, id: newId(), kind: 'index', sql: item.viaIndex.index, deps: [...item.deps, ...needs] }, []);
  index.label = `index of ${item.kind} ${item.name}`;
  index.item = item.id;
  const attach = statementTask({ ...item, sql: item.viaIndex.attach, deps: [...item.deps, ...needs, index.id] }, extra);
  return [index, attach];
}

/** The data parts of each object, each list in the order its parts were written (`…/<object>.<n>.copy…`). */
export function dataPartsByObject(all: PartEntry[]): Map<string, PartEntry[]> {
  const index = (p: PartEntry) => Number(/\.(\d+)\.copy(?:\.|$)/.exec(p.name)?.[1] ?? 0);
  const out = new Map<string, PartEntry[]>();
  for (const p of all) if (p.role === 'data' && p.object !== undefined) listIn(out, p.object).push(p);
  for (const list of out.values()) if (list.length > 1) list.sort((a, b) => index(a) - index(b));
  return out;
}
