import { type Document, type MongoClient, MongoServerError } from 'mongodb';
import { CREATE_OPTIONS, INDEX_FIELDS } from './mongodb-metadata.js';
import { type OplogEntry, timeText } from './mongodb-oplog-entry.js';
import { type ReplayScope, targetOf } from './mongodb-oplog-scope.js';
import { QUIET_COMMAND } from './mongodb-timeouts.js';

/** Commands an entry may hold that replay leaves out on purpose, as PBM does. */
const SKIPPED = new Set(['startIndexBuild', 'abortIndexBuild', 'dbCheck', 'modifyCollectionShardingIndexCatalog', 'createDatabaseMetadata']);
/** Server codes that mean "already so": NamespaceExists, NamespaceNotFound, IndexNotFound, IndexAlreadyExists. */
const ALREADY = new Set([48, 26, 27, 68]);

/**
 * Replays one DDL entry (op "c") on its target, renamed by the scope: create (collections, views,
 * time-series, with their options), drop, renameCollection, dropDatabase, createIndexes,
 * commitIndexBuild (the index build's result), dropIndexes, collMod, emptycapped. Index-build start
 * and abort entries are skipped (commitIndexBuild carries the indexes), as are entries for
 * namespaces out of scope. Each is idempotent: "already exists" or "not found" counts as done.
 * Returns whether it changed the target; anything not understood becomes a warning, not a failure.
 */
export async function applyCommand(client: MongoClient, scope: ReplayScope, e: OplogEntry, warnings: string[]): Promise<boolean> {
  const o = e.doc.o as Document;
  const name = Object.keys(o)[0] ?? '';
  const db = e.ns.endsWith('.$cmd') ? e.ns.slice(0, -5) : e.ns;
  if (SKIPPED.has(name)) return false;
  if (name === 'renameCollection') return rename(client, scope, o);
  if (name === 'dropDatabase') return dropDatabase(client, scope, db);
  const coll = typeof o[name] === 'string' ? (o[name] as string) : undefined;
  const target = coll === undefined ? undefined : targetOf(scope, db, coll);
  if (!target) {
    if (coll === undefined && scope.dbMap.has(db)) warnings.push(`The oplog entry at ${timeText(e.ts)} (${name} on ${db}) was not replayed: it is not a command a restore replays.`);
    return false;
  }
  const dropped: string[] = [];
  const command = commandFor(name, target.coll, o, dropped);
  if (dropped.length) warnings.push(`The oplog entry at ${timeText(e.ts)} (${name} on ${db}.${coll}) was replayed without ${dropped.join(', ')}: not an option this restore passes on.`);
  if (!command) {
    warnings.push(`The oplog entry at ${timeText(e.ts)} (${name} on ${db}.${coll}) was not replayed: it is not a command a restore replays.`);
    return false;
  }
  return run(client, target.db, command);
}

/**
 * The command an entry stands for, on the target collection. What the entry carries is untrusted
 * (it was read back from storage): only the options a backup's metadata may carry are passed on
 * (CREATE_OPTIONS, INDEX_FIELDS, COLLMOD_OPTIONS); the others are named in `dropped`.
 */
function commandFor(name: string, coll: string, o: Document, dropped: string[]): Document | undefined {
  const only = (doc: Document, allowed: ReadonlySet<string>, skip: string[] = []) =>
    Object.fromEntries(
      Object.entries(doc).filter(([k]) => {
        if (k === name || skip.includes(k)) return false;
        if (allowed.has(k)) return true;
        dropped.push(k);
        return false;
      }),
    );
  switch (name) {
    case 'create':
      return { create: coll, ...only(o, CREATE_OPTIONS, ['idIndex']) };
    case 'drop':
      return { drop: coll };
    case 'createIndexes':
      return { createIndexes: coll, indexes: [only(o, INDEX_FIELDS, ['ns'])] };
    case 'commitIndexBuild':
      return { createIndexes: coll, indexes: ((o.indexes as Document[] | undefined) ?? []).map((spec) => only(spec, INDEX_FIELDS, ['ns'])) };
    case 'dropIndexes':
    case 'deleteIndexes':
      return typeof o.index === 'string' || (typeof o.index === 'object' && o.index !== null) ? { dropIndexes: coll, index: o.index } : undefined;
    case 'collMod':
      return { collMod: coll, ...only(o, COLLMOD_OPTIONS) };
    case 'emptycapped':
      return { emptycapped: coll };
    default:
      return undefined;
  }
}

/** What collMod may change on replay: index TTL/hidden/unique, validation, TTL, pre/post images, time-series, views. */
const COLLMOD_OPTIONS: ReadonlySet<string> = new Set([
  'index',
  'validator',
  'validationLevel',
  'validationAction',
  'expireAfterSeconds',
  'changeStreamPreAndPostImages',
  'timeseries',
  'viewOn',
  'pipeline',
  'cappedSize',
  'cappedMax',
  'recordPreImages',
]);

async function rename(client: MongoClient, scope: ReplayScope, o: Document): Promise<boolean> {
  const [from, to] = [String(o.renameCollection), String(o.to)].map((ns) => {
    const dot = ns.indexOf('.');
    return dot > 0 ? targetOf(scope, ns.slice(0, dot), ns.slice(dot + 1)) : undefined;
  });
  if (!from && !to) return false;
  if (!from || !to) {
    // Half in scope: the side in scope is dropped (renamed away) or holds data the replay cannot know.
    if (from) return run(client, from.db, { drop: from.coll });
    return false;
  }
  return run(client, 'admin', { renameCollection: `${from.db}.${from.coll}`, to: `${to.db}.${to.coll}`, dropTarget: o.dropTarget !== undefined && o.dropTarget !== false });
}

async function dropDatabase(client: MongoClient, scope: ReplayScope, db: string): Promise<boolean> {
  const target = scope.dbMap.get(db);
  if (target === undefined) return false;
  if (!scope.collections) return run(client, target, { dropDatabase: 1 });
  for (const ns of scope.collections) if (ns.startsWith(`${db}.`)) await run(client, target, { drop: ns.slice(db.length + 1) });
  return true;
}

async function run(client: MongoClient, db: string, command: Document): Promise<boolean> {
  try {
    await client.db(db).command(command, command.createIndexes === undefined ? {} : QUIET_COMMAND);
    return true;
  } catch (err) {
    if (err instanceof MongoServerError && typeof err.code === 'number' && ALREADY.has(err.code)) return true;
    throw err;
  }
}
