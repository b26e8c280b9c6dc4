import type { RestorePlan, RestorePlanItem, RestoreRequest } from '../../../application/ports/restore-plan.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { Manifest, ObjectEntry } from '../../../domain/manifest.js';
import { describeEndpoint, type MysqlConnection, type MysqlEndpoint, qn } from './mysql-connection.js';
import { incompleteTargetWarning, MARKER_TABLE_FLAT, markerFromRow, type RestoreMarker } from '../restore-marker.js';
import type { MysqlEngineInfo } from './mysql-dump.js';

/** What a restore touches: which backed-up databases go where, and which objects. */
export interface RestoreScope {
  /** Source database → target database. */
  dbMap: Map<string, string>;
  /** Selected table/view/sequence object names (`db.name`, source names); undefined = everything. */
  tables?: Set<string>;
  info: MysqlEngineInfo;
  /** Create missing target databases (--create). */
  create: boolean;
}

export interface TargetDatabaseState {
  exists: boolean;
  /** Tables, views and sequences by name → 'table' | 'view' | 'sequence'. */
  relations: Map<string, string>;
  routines: { name: string; kind: string }[];
  events: string[];
  /** The mark of a restore into it that did not finish (restore-marker.ts); not among `relations`. */
  incomplete?: RestoreMarker;
}

export function engineInfoOf(manifest: Manifest): MysqlEngineInfo {
  const info = manifest.engineInfo as unknown as MysqlEngineInfo;
  if (!Array.isArray(info?.databases) || typeof info.tables !== 'object') {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${manifest.id} lacks the MySQL details a restore needs (engineInfo.databases/tables).`);
  }
  return info;
}

/**
 * Resolves the target names: one backed-up database goes to --target-database, else the database
 * named by --database/--url, else its own name. From a backup of several databases, --database
 * picks one of them (and --target-database may rename it); without it all keep their names.
 */
export function restoreScope(manifest: Manifest, e: MysqlEndpoint, request: RestoreRequest): RestoreScope {
  const info = engineInfoOf(manifest);
  const source = info.databases.map((d) => d.name);
  const dbMap = new Map<string, string>();
  if (e.databases.length > 1) throw new DbBackupError('E_USAGE', 'A restore goes into one --database at a time (or, with no --database, every database of the backup).');
  if (source.length === 1) {
    dbMap.set(source[0]!, e.targetDatabase ?? e.databases[0] ?? source[0]!);
  } else if (e.databases.length === 1) {
    const chosen = e.databases[0]!;
    if (!source.includes(chosen)) {
      throw new DbBackupError('E_USAGE', `Backup ${manifest.id} holds the databases ${source.join(', ')}; --database names which one to restore.`);
    }
    dbMap.set(chosen, e.targetDatabase ?? chosen);
  } else {
    if (e.targetDatabase) throw new DbBackupError('E_USAGE', `Backup ${manifest.id} holds ${source.length} databases; pick one with --database before renaming it with --target-database.`);
    for (const s of source) dbMap.set(s, s);
  }
  let tables: Set<string> | undefined;
  if (request.tables || request.excludeTables) {
    const candidates = manifest.objects.filter((o) => ['table', 'view', 'sequence'].includes(o.type) && dbMap.has(dbOf(o.name, info)));
    const single = dbMap.size === 1 ? [...dbMap.keys()][0] : undefined;
    const find = (t: string) => candidates.find((o) => o.name === t || (single !== undefined && o.name === `${single}.${t}`));
    const unknown = [...(request.tables ?? []), ...(request.excludeTables ?? [])].filter((t) => !find(t));
    if (unknown.length) {
      throw new DbBackupError(
        'E_USAGE',
        `Backup ${manifest.id} has no table or view ${unknown.map((u) => `"${u}"`).join(', ')}; it has: ${candidates.map((o) => o.name).join(', ')}.`,
      );
    }
    const excluded = new Set((request.excludeTables ?? []).map((t) => find(t)!.name));
    const included = request.tables ? request.tables.map((t) => find(t)!.name) : candidates.map((o) => o.name);
    tables = new Set(included.filter((n) => !excluded.has(n)));
  }
  return { dbMap, tables, info, create: e.create || request.create === true };
}

/**
 * The manifest a restore's scope is read from: a full as it is; a link lists the tables its
 * changes touched, and --tables names any table of its full (engineInfo.tables); a continuous
 * segment (below).
 */
export function scopeManifest(m: Manifest): Manifest {
  if (m.kind === 'full') return m;
  if (m.continuous) return segmentAsLink(m);
  return { ...m, objects: Object.keys((m.engineInfo.tables as Record<string, unknown> | undefined) ?? {}).map((name) => ({ name, type: 'table' })) };
}

/**
 * A continuous segment (replicate) lists its generation's objects but carries none of the full's
 * MySQL details: its databases are those its objects (`db.name`) are in, its tables the objects
 * that hold rows. Enough to plan a restore of its chain; the full restored first gives the rest.
 */
function segmentAsLink(m: Manifest): Manifest {
  if (Array.isArray(m.engineInfo.databases)) return m;
  const objects = m.objects.filter((o) => ['table', 'sequence'].includes(o.type) && o.name.includes('.'));
  const databases = [...new Set(m.objects.filter((o) => o.name.includes('.')).map((o) => o.name.slice(0, o.name.indexOf('.'))))].map((name) => ({ name }));
  return { ...m, objects, engineInfo: { ...m.engineInfo, databases, tables: Object.fromEntries(objects.map((o) => [o.name, {}])) } };
}

/** The database part of an object name `db.name`, using the backup's database list. */
export function dbOf(object: string, info: MysqlEngineInfo): string {
  const db = info.databases.map((d) => d.name).find((d) => object.startsWith(`${d}.`));
  return db ?? object.slice(0, object.indexOf('.'));
}

export function localName(object: string, info: MysqlEngineInfo): string {
  return object.slice(dbOf(object, info).length + 1);
}

/** The objects of the manifest a restore in `scope` creates. */
export function scopedObjects(manifest: Manifest, scope: RestoreScope): ObjectEntry[] {
  return manifest.objects.filter((o) => {
    if (!scope.dbMap.has(dbOf(o.name, scope.info))) return false;
    if (!scope.tables) return true;
    return scope.tables.has(o.name);
  });
}

export async function readTargetState(conn: MysqlConnection, dbs: string[]): Promise<Map<string, TargetDatabaseState>> {
  const state = new Map<string, TargetDatabaseState>(dbs.map((d) => [d, { exists: false, relations: new Map(), routines: [], events: [] }]));
  const inList = dbs.map(() => '?').join(', ');
  const q = async <T>(sql: string): Promise<T[]> => (await conn.query(sql, dbs))[0] as T[];
  for (const r of await q<{ db: string }>(`SELECT SCHEMA_NAME AS db FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN (${inList})`)) {
    state.get(r.db)!.exists = true;
  }
  for (const r of await q<{ db: string; name: string; type: string }>(
    `SELECT TABLE_SCHEMA AS db, TABLE_NAME AS name, TABLE_TYPE AS type FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (${inList})`,
  )) {
    if (r.name === MARKER_TABLE_FLAT && r.type !== 'VIEW') {
      const [rows] = await conn.query(`SELECT backup_id, source, started_at, host, pid FROM ${qn(r.db, MARKER_TABLE_FLAT)} LIMIT 1`);
      state.get(r.db)!.incomplete = markerFromRow((rows as Record<string, unknown>[])[0] ?? {});
      continue;
    }
    state.get(r.db)!.relations.set(r.name, r.type === 'VIEW' ? 'view' : r.type === 'SEQUENCE' ? 'sequence' : 'table');
  }
  for (const r of await q<{ db: string; name: string; kind: string }>(
    `SELECT ROUTINE_SCHEMA AS db, ROUTINE_NAME AS name, ROUTINE_TYPE AS kind FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA IN (${inList})`,
  )) {
    state.get(r.db)!.routines.push({ name: r.name, kind: r.kind });
  }
  for (const r of await q<{ db: string; name: string }>(
    `SELECT EVENT_SCHEMA AS db, EVENT_NAME AS name FROM information_schema.EVENTS WHERE EVENT_SCHEMA IN (${inList})`,
  )) {
    state.get(r.db)!.events.push(r.name);
  }
  return state;
}

export function isEmptyDatabase(s: TargetDatabaseState): boolean {
  return s.relations.size === 0 && s.routines.length === 0 && s.events.length === 0;
}

/** True when restoring `object` would meet something already in the target. */
export function conflicts(object: ObjectEntry, scope: RestoreScope, state: Map<string, TargetDatabaseState>): boolean {
  const target = state.get(scope.dbMap.get(dbOf(object.name, scope.info))!);
  if (!target?.exists) return false;
  if (!scope.tables) return !isEmptyDatabase(target);
  return target.relations.has(localName(object.name, scope.info));
}

export function buildPlan(
  manifest: Manifest,
  e: MysqlEndpoint,
  request: RestoreRequest,
  scope: RestoreScope,
  state: Map<string, TargetDatabaseState>,
  localInfile: boolean,
): RestorePlan {
  const objects = scopedObjects(manifest, scope);
  const targets = [...scope.dbMap.values()];
  const existing = targets.filter((d) => state.get(d)?.exists);
  const nonEmpty = existing.filter((d) => !isEmptyDatabase(state.get(d)!));
  const items: RestorePlanItem[] = objects.map((o) => ({
    object: `${scope.dbMap.get(dbOf(o.name, scope.info))}.${localName(o.name, scope.info)}`,
    type: o.type,
    rows: o.rows,
    bytes: o.rawBytes ?? 0,
    action: conflicts(o, scope, state) ? (request.clean ? 'replace' : 'skip') : 'create',
  }));
  const warnings: string[] = [];
  for (const d of targets) {
    const marker = state.get(d)?.incomplete;
    if (marker) warnings.push(incompleteTargetWarning(`Database ${d}`, marker));
  }
  const missing = targets.filter((d) => !state.get(d)?.exists);
  if (missing.length && !scope.create) warnings.push(`Database ${missing.join(', ')} does not exist; the restore will refuse to run without --create.`);
  if (!request.clean && items.some((i) => i.action === 'skip')) {
    warnings.push(`${scope.tables ? 'Some chosen objects already exist' : `Database ${nonEmpty.join(', ')} is not empty`}; the restore will refuse to run without --clean.`);
  }
  if (!localInfile) {
    warnings.push('The server has local_infile=OFF, so data will be loaded with multi-row INSERTs (slower); SET GLOBAL local_infile=1 allows LOAD DATA LOCAL.');
  }
  if (Object.keys(scope.info.definers ?? {}).length) {
    warnings.push(
      request.restoreOwner
        ? 'Views, routines, triggers and events get their original DEFINERs (--restore-owner), which needs the SET USER (or SUPER) privilege.'
        : 'Views, routines, triggers and events are created with the restoring user as DEFINER (their original definers are noted in schema.sql; --restore-owner keeps them).',
    );
  }
  const renamed = [...scope.dbMap].filter(([s, t]) => s !== t).map(([s, t]) => `${s} → ${t}`);
  if (renamed.length) warnings.push(`Restoring into a database of another name: ${renamed.join(', ')}.`);
  return {
    target: `mysql://${describeEndpoint(e)}/${targets.join(',')}`,
    targetExists: existing.length > 0,
    targetEmpty: nonEmpty.length === 0,
    effect: scope.tables ? 'merge' : nonEmpty.length ? 'replace' : 'create',
    items,
    warnings,
  };
}
