import { createHash } from 'node:crypto';
import { BSON, type Db, type Document, type MongoClient } from 'mongodb';
import { DbBackupError } from '../../../domain/errors.js';
import { MARKER_TABLE_FLAT } from '../restore-marker.js';
import { encodeObjectName } from '../../../domain/repository-layout.js';

/** Values decoded exactly as stored: Int32/Int64/Double stay distinct, regexes keep every flag. */
export const EXACT = { promoteValues: false, promoteLongs: false, promoteBuffers: false, bsonRegExp: true } as const;

export type CollectionType = 'collection' | 'view' | 'timeseries';

/** One entry of listCollections, as mongodump sees it. */
export interface CollectionInfo {
  db: string;
  name: string;
  type: CollectionType;
  /** Exactly as listCollections returns them (validator, capped/size/max, collation, timeseries, clusteredIndex, viewOn/pipeline, …). */
  options: Document;
  /** The collection UUID as 32 hex digits (mongodump's metadata `uuid`), when the server reports one. */
  uuid?: string;
}

/** `db.collection`: the object name in manifests and --collections. Database names never hold a dot. */
export function nsName(db: string, coll: string): string {
  return `${db}.${coll}`;
}

export function splitNs(name: string): { db: string; coll: string } {
  const dot = name.indexOf('.');
  if (dot <= 0) throw new DbBackupError('E_FOREIGN_ARCHIVE', `"${name}" is not a MongoDB namespace (db.collection).`);
  return { db: name.slice(0, dot), coll: name.slice(dot + 1) };
}

/** Databases a dump covers: those named, or every one but admin, local and config (as mongodump). */
export async function chooseDatabases(client: MongoClient, named: string[]): Promise<string[]> {
  if (named.length) return named;
  const { databases } = (await client.db('admin').command({ listDatabases: 1, nameOnly: true })) as { databases: { name: string }[] };
  return databases.map((d) => d.name).filter((n) => !['admin', 'local', 'config'].includes(n)).sort();
}

/**
 * mongodump's rule: skip `system.*` (but keep system.js) and the reserved namespaces of config.
 * Unlike mongodump, admin's users and roles are not dumped either (they restore through
 * createUser/createRole, not inserts): back them up with the server's own tools.
 */
export function isSystemNamespace(db: string, coll: string): boolean {
  // The mark of an unfinished restore (mongodb-restore-marker.ts): the tool's, not the user's.
  if (coll === MARKER_TABLE_FLAT) return true;
  if (db === 'config' && (['transactions', 'transaction_coordinators', 'image_collection', 'mongos'].includes(coll) || coll.startsWith('cache.'))) return true;
  if (coll === 'system.js') return false;
  if (coll.startsWith('system.')) return true;
  return coll.includes('$') && !coll.includes('.oplog.$');
}

export async function listCollectionInfos(db: Db): Promise<CollectionInfo[]> {
  const entries = (await db.listCollections({}, { ...EXACT }).toArray()) as Document[];
  const out: CollectionInfo[] = [];
  for (const e of entries) {
    const name = String(e.name);
    if (isSystemNamespace(db.databaseName, name)) continue;
    const type: CollectionType = e.type === 'view' ? 'view' : e.type === 'timeseries' ? 'timeseries' : 'collection';
    const uuid = e.info?.uuid instanceof BSON.Binary ? Buffer.from(e.info.uuid.buffer).toString('hex') : undefined;
    out.push({ db: db.databaseName, name, type, options: (e.options ?? {}) as Document, ...(uuid ? { uuid } : {}) });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Applies --collections / --exclude-collections. An entry names `db.collection` or a bare
 * `collection` (in every chosen database). Names that match nothing are returned so the caller can
 * refuse them instead of silently backing up less than asked.
 */
export function selectCollections(all: CollectionInfo[], include?: string[], exclude?: string[]): { chosen: CollectionInfo[]; unknown: string[] } {
  const matches = (entry: string, c: CollectionInfo) => entry === nsName(c.db, c.name) || entry === c.name;
  const unknown = [...(include ?? []), ...(exclude ?? [])].filter((n) => !all.some((c) => matches(n, c)));
  const chosen = all.filter((c) => (include === undefined || include.some((n) => matches(n, c))) && !(exclude ?? []).some((n) => matches(n, c)));
  return { chosen, unknown };
}

/**
 * mongodump's folder layout inside the backup: `data/<db>/<collection>` (the writer appends
 * `.bson` / `.metadata.json` and the codec suffix), so `data/` is a dump directory mongorestore
 * reads. Names are percent-encoded (mongorestore path-unescapes them); one that would make a file
 * name longer than 238 bytes is cut as mongodump cuts it: 208 bytes, `%24`, base64url(sha1(name)).
 */
export function partBase(db: string, coll: string): string {
  let file = encodeObjectName(coll);
  if (file.length > 238) {
    file = `${file.slice(0, 208).replace(/%[0-9A-F]?$/, '')}%24${createHash('sha1').update(coll).digest('base64url')}`;
  }
  return `data/${encodeObjectName(db)}/${file}`;
}

/** Where a time-series collection's data lives: its buckets collection (what mongodump dumps). */
export function bucketsName(coll: string): string {
  return `system.buckets.${coll}`;
}
