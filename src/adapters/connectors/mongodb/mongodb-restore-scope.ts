import type { MongoClient } from 'mongodb';
import type { RestorePlan, RestoreRequest } from '../../../application/ports/restore-plan.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { Manifest, PartEntry } from '../../../domain/manifest.js';
import { type CollectionType, isSystemNamespace, nsName, splitNs } from './mongodb-catalog.js';
import type { MongoEndpoint } from './mongodb-endpoint.js';

/** One collection, view or time-series collection to restore, and where it goes. */
export interface RestoreItem {
  /** The namespace in the backup (`db.collection`). */
  object: string;
  type: CollectionType;
  target: { db: string; coll: string };
  rows?: number;
  bytes: number;
  metaPart?: PartEntry;
  dataPart?: PartEntry;
}

export interface RestoreScope {
  items: RestoreItem[];
  targetDbs: string[];
  /** True when --collections/--exclude-collections narrowed the restore. */
  selective: boolean;
}

/** What the target holds now: user collections per target database. */
export type TargetState = Map<string, Set<string>>;

const TYPES = new Set(['collection', 'view', 'timeseries']);

/**
 * Resolves what to restore and under which names. A backup of one database restores under
 * --target-database, else --database, else its own name; from a backup of several, --database picks
 * which (and --target-database may rename a single one). --collections/--exclude-collections take
 * `db.collection` or a bare collection name; names that match nothing are refused.
 */
export function restoreScope(manifest: Manifest, request: RestoreRequest, e: MongoEndpoint): RestoreScope {
  const objects = manifest.objects.filter((o) => TYPES.has(o.type));
  const sourceDbs = [...new Set(objects.map((o) => splitNs(o.name).db))];
  const dbMap = new Map<string, string>();
  if (sourceDbs.length === 1) {
    dbMap.set(sourceDbs[0]!, e.targetDatabase ?? (e.databases.length === 1 ? e.databases[0]! : sourceDbs[0]!));
  } else if (e.databases.length) {
    const missing = e.databases.filter((d) => !sourceDbs.includes(d));
    if (missing.length) throw new DbBackupError('E_USAGE', `Backup ${manifest.id} has no database ${missing.join(', ')}; it holds ${sourceDbs.join(', ')}.`);
    if (e.targetDatabase && e.databases.length !== 1) throw new DbBackupError('E_USAGE', 'Name exactly one --database to rename it with --target-database.');
    for (const d of e.databases) dbMap.set(d, e.targetDatabase ?? d);
  } else {
    if (e.targetDatabase) {
      throw new DbBackupError('E_USAGE', `Backup ${manifest.id} holds ${sourceDbs.length} databases (${sourceDbs.join(', ')}); pick one with --database before renaming it with --target-database.`);
    }
    for (const d of sourceDbs) dbMap.set(d, d);
  }
  // An entry names `db.collection` or a bare collection: sets of both, not a scan per object.
  const known = new Set(objects.flatMap((o) => [o.name, splitNs(o.name).coll]));
  const unknown = [...(request.tables ?? []), ...(request.excludeTables ?? [])].filter((t) => !known.has(t));
  if (unknown.length) {
    throw new DbBackupError('E_USAGE', `Backup ${manifest.id} has no collection ${unknown.map((u) => `"${u}"`).join(', ')}; it has: ${objects.map((o) => o.name).join(', ')}.`);
  }
  const included = request.tables === undefined ? undefined : new Set(request.tables);
  const excluded = new Set(request.excludeTables ?? []);
  const named = (set: Set<string>, name: string) => set.has(name) || set.has(splitNs(name).coll);
  const partsOf = new Map<string, PartEntry[]>();
  for (const p of manifest.parts) {
    if (p.object === undefined) continue;
    const list = partsOf.get(p.object);
    if (list) list.push(p);
    else partsOf.set(p.object, [p]);
  }
  const items = objects
    .filter((o) => dbMap.has(splitNs(o.name).db))
    .filter((o) => (included === undefined || named(included, o.name)) && !named(excluded, o.name))
    .map((o): RestoreItem => {
      const { db, coll } = splitNs(o.name);
      const parts = partsOf.get(o.name) ?? [];
      return {
        object: o.name,
        type: o.type as CollectionType,
        target: { db: dbMap.get(db)!, coll },
        rows: o.rows,
        bytes: parts.reduce((n, p) => n + p.rawSize, 0),
        metaPart: parts.find((p) => p.role === 'schema'),
        dataPart: parts.find((p) => p.role === 'data'),
      };
    });
  return { items, targetDbs: [...new Set(items.map((i) => i.target.db))], selective: request.tables !== undefined || request.excludeTables !== undefined };
}

export async function readTargetState(client: MongoClient, dbs: string[]): Promise<TargetState> {
  const state: TargetState = new Map();
  for (const db of dbs) {
    const names = (await client.db(db).listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    state.set(db, new Set(names.filter((n) => !isSystemNamespace(db, n))));
  }
  return state;
}

export function clashes(scope: RestoreScope, state: TargetState): RestoreItem[] {
  return scope.items.filter((i) => state.get(i.target.db)?.has(i.target.coll));
}

function isEmpty(state: TargetState): boolean {
  return [...state.values()].every((s) => s.size === 0);
}

/** Refuses to write into a non-empty target unless --drop/--clean (E_TARGET_EXISTS). */
export function refuseNonEmpty(scope: RestoreScope, state: TargetState, clean: boolean): void {
  if (clean) return;
  const clash = clashes(scope, state);
  if (clash.length === 0 && (scope.selective || isEmpty(state))) return;
  const what = clash.length
    ? `already has ${clash.slice(0, 5).map((c) => nsName(c.target.db, c.target.coll)).join(', ')}${clash.length > 5 ? ` and ${clash.length - 5} more` : ''}`
    : `is not empty (database ${[...state.entries()].filter(([, s]) => s.size).map(([d]) => d).join(', ')})`;
  throw new DbBackupError(
    'E_TARGET_EXISTS',
    `The target ${what}; pass --drop (or --clean) to replace the collections the backup holds, or restore under another name with --target-database.`,
  );
}

export function buildPlan(scope: RestoreScope, state: TargetState, request: RestoreRequest, e: MongoEndpoint): RestorePlan {
  const clash = new Set(clashes(scope, state).map((i) => i.object));
  const empty = isEmpty(state);
  const warnings: string[] = [];
  try {
    refuseNonEmpty(scope, state, request.clean);
  } catch (err) {
    warnings.push(`${(err as Error).message} The restore will refuse to run as asked.`);
  }
  const restored = new Set(scope.items.map((i) => nsName(i.target.db, i.target.coll)));
  const untouched = [...state.entries()].flatMap(([db, names]) => [...names].filter((n) => !restored.has(nsName(db, n))));
  if (untouched.length) warnings.push(`${untouched.length} other collection(s) in the target databases are left as they are.`);
  return {
    target: `mongodb ${e.hosts} ${scope.targetDbs.join(', ')}`,
    targetExists: !empty,
    targetEmpty: empty,
    effect: empty ? 'create' : clash.size && request.clean ? 'replace' : 'merge',
    items: scope.items.map((i) => ({
      object: nsName(i.target.db, i.target.coll),
      type: i.type,
      rows: i.rows,
      bytes: i.bytes,
      action: clash.has(i.object) ? (request.clean ? 'replace' : 'skip') : 'create',
    })),
    warnings,
  };
}
