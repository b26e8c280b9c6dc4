import type { Manifest } from '../../../domain/manifest.js';
import { splitNs } from './mongodb-catalog.js';
import type { MongoEndpoint } from './mongodb-endpoint.js';
import type { RestoreScope } from './mongodb-restore-scope.js';

/**
 * Which namespaces of the oplog a replay writes, and where: the databases the full restored (under
 * their new names, --target-database), and with --collections only the collections chosen.
 */
export interface ReplayScope {
  /** Source database → target database. */
  dbMap: Map<string, string>;
  /** Source namespaces (`db.coll`) when --collections/--exclude-collections narrowed the restore. */
  collections?: Set<string>;
}

/** The scope of a restore of the chain's full (the session restored it just before). */
export function replayScopeOf(scope: RestoreScope): ReplayScope {
  const dbMap = new Map<string, string>();
  for (const item of scope.items) dbMap.set(splitNs(item.object).db, item.target.db);
  return { dbMap, ...(scope.selective ? { collections: new Set(scope.items.map((i) => i.object)) } : {}) };
}

/** Without a restore of the full in this session: every database the chain's full backed up, renamed as --target-database says. */
export function replayScopeFromManifest(m: Manifest, e: MongoEndpoint): ReplayScope {
  const dbs = Array.isArray(m.engineInfo.databases) ? (m.engineInfo.databases as unknown[]).filter((d): d is string => typeof d === 'string') : [];
  const chosen = e.databases.length ? dbs.filter((d) => e.databases.includes(d)) : dbs;
  const rename = e.targetDatabase && chosen.length === 1 ? e.targetDatabase : undefined;
  return { dbMap: new Map(chosen.map((d) => [d, rename ?? d])) };
}

/**
 * The target namespace of a source one, or undefined when the replay leaves it out: config.*,
 * local.*, other databases, and system.* but a time-series collection's buckets
 * (`system.buckets.<name>`, where its data is written, chosen by `<name>`) and `system.js`, which
 * a backup holds too.
 */
export function targetOf(scope: ReplayScope, db: string, coll: string): { db: string; coll: string } | undefined {
  if (db === 'config' || db === 'local') return undefined;
  const buckets = coll.startsWith('system.buckets.') ? coll.slice('system.buckets.'.length) : undefined;
  if (coll.startsWith('system.') && buckets === undefined && coll !== 'system.js') return undefined;
  const target = scope.dbMap.get(db);
  if (target === undefined) return undefined;
  if (scope.collections && !scope.collections.has(`${db}.${buckets ?? coll}`)) return undefined;
  return { db: target, coll };
}
