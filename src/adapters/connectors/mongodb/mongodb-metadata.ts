import { BSON, type Db, type Document } from 'mongodb';
import { DbBackupError } from '../../../domain/errors.js';
import { type CollectionInfo, type CollectionType, EXACT } from './mongodb-catalog.js';

/**
 * A `<collection>.metadata.json` as mongodump writes it: one line of canonical Extended JSON with
 * the fields in mongodump's order — `options` (only when there are any), `indexes` (listIndexes
 * output, key order kept; empty for views), `uuid` (32 hex digits), `collectionName`, `type`.
 */
export interface CollectionMetadata {
  options?: Document;
  indexes: Document[];
  uuid?: string;
  collectionName: string;
  type: CollectionType;
}

export async function readIndexes(db: Db, info: CollectionInfo): Promise<Document[]> {
  if (info.type === 'view') return [];
  return (await db.collection(info.name).listIndexes({ ...EXACT }).toArray()) as Document[];
}

export function buildMetadata(info: CollectionInfo, indexes: Document[]): CollectionMetadata {
  return {
    ...(Object.keys(info.options).length ? { options: info.options } : {}),
    indexes,
    ...(info.uuid ? { uuid: info.uuid } : {}),
    collectionName: info.name,
    type: info.type,
  };
}

export function metadataJson(meta: CollectionMetadata): string {
  return BSON.EJSON.stringify(meta, { relaxed: false });
}

/** Parses a metadata file back into exact BSON values (Int32 stays Int32, Double stays Double). */
export function parseMetadata(text: string, where: string): CollectionMetadata {
  let value: unknown;
  try {
    value = BSON.EJSON.parse(text, { relaxed: false });
  } catch (err) {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `${where} is not valid Extended JSON: ${(err as Error).message}`);
  }
  const m = value as Partial<CollectionMetadata> | null;
  if (!m || typeof m !== 'object' || !Array.isArray(m.indexes)) {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `${where} is not a mongodump metadata file (no "indexes" array).`);
  }
  const options = (m.options ?? {}) as Document;
  const type: CollectionType =
    m.type === 'view' || options.viewOn !== undefined ? 'view' : m.type === 'timeseries' || options.timeseries !== undefined ? 'timeseries' : 'collection';
  return { options, indexes: m.indexes, uuid: m.uuid, collectionName: String(m.collectionName ?? ''), type };
}

/**
 * Fields of old servers' listIndexes replies that createIndexes refuses since 3.4: `ns` (before 4.4)
 * and `safe` (a 2.x write option stored with the index). A restore leaves them out.
 */
const LEGACY_INDEX_FIELDS = new Set(['ns', 'safe']);

/** The indexes a restore builds after the data: all but `_id` (and a clustered collection's key), without the legacy fields. */
export function indexesToBuild(meta: CollectionMetadata): Document[] {
  return meta.indexes.filter((i) => i.name !== '_id_' && i.clustered !== true).map((i) => Object.fromEntries(Object.entries(i).filter(([k]) => !LEGACY_INDEX_FIELDS.has(k))));
}

/**
 * The options of `create` a backup may carry (what listCollections reports for collections, views
 * and time-series collections). Anything else — `create` itself, which would rename the
 * collection, `$db`, `writeConcern`, `comment` and the like — is refused.
 */
export const CREATE_OPTIONS: ReadonlySet<string> = new Set([
  'capped',
  'size',
  'max',
  'autoIndexId',
  'flags',
  'storageEngine',
  'validator',
  'validationLevel',
  'validationAction',
  'indexOptionDefaults',
  'viewOn',
  'pipeline',
  'collation',
  'timeseries',
  'expireAfterSeconds',
  'clusteredIndex',
  'changeStreamPreAndPostImages',
  'recordPreImages',
  'encryptedFields',
]);

/** Fields of an index specification (listIndexes output) that createIndexes takes. */
export const INDEX_FIELDS: ReadonlySet<string> = new Set([
  'v',
  'key',
  'name',
  'unique',
  'sparse',
  'background',
  'expireAfterSeconds',
  'partialFilterExpression',
  'collation',
  'hidden',
  'storageEngine',
  'weights',
  'default_language',
  'language_override',
  'textIndexVersion',
  '2dsphereIndexVersion',
  'bits',
  'min',
  'max',
  'bucketSize',
  'wildcardProjection',
  'prepareUnique',
  'dropDups',
]);

/**
 * Refuses metadata that asks for more than the collection the manifest declares: options beyond
 * CREATE_OPTIONS, index specifications with other fields or no name and key, or another kind
 * (a view where the manifest has a collection).
 */
export function checkMetadata(meta: CollectionMetadata, declared: { ns: string; type: CollectionType }, where: string): void {
  const refuse = (found: string): never => {
    throw new DbBackupError('E_UNSAFE_BACKUP', `${where} ${found}: the backup was altered or damaged. Nothing was restored.`, { details: { ns: declared.ns, found } });
  };
  const extra = Object.keys(meta.options ?? {}).filter((k) => !CREATE_OPTIONS.has(k));
  if (extra.length) refuse(`gives ${declared.ns} options a backup does not carry (${extra.join(', ')})`);
  if (meta.type !== declared.type) refuse(`makes ${declared.ns} a ${meta.type}, but the manifest declares a ${declared.type}`);
  for (const index of meta.indexes) {
    if (!index || typeof index !== 'object' || typeof index.name !== 'string' || !index.key || typeof index.key !== 'object') refuse(`holds an index without a name and key`);
    const bad = Object.keys(index).filter((k) => !INDEX_FIELDS.has(k) && !LEGACY_INDEX_FIELDS.has(k) && k !== 'clustered');
    if (bad.length) refuse(`gives index ${String(index.name)} of ${declared.ns} fields createIndexes does not take (${bad.join(', ')})`);
  }
}

/** The `create` command for a collection, view or time-series collection with its recorded options (see checkMetadata). */
export function createCommand(name: string, meta: Pick<CollectionMetadata, 'options'>): Document {
  const options = Object.fromEntries(Object.entries(meta.options ?? {}).filter(([k]) => CREATE_OPTIONS.has(k)));
  return { create: name, ...options };
}
