import { type Document, type MongoClient, MongoServerError } from 'mongodb';
import { type OplogEntry, timeText } from './mongodb-oplog-entry.js';
import { type ReplayScope, targetOf } from './mongodb-oplog-scope.js';

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
  const command = commandFor(name, target.coll, o);
  if (!command) {
    warnings.push(`The oplog entry at ${timeText(e.ts)} (${name} on ${db}.${coll}) was not replayed: it is not a command a restore replays.`);
    return false;
  }
  return run(client, target.db, command);
}

function commandFor(name: string, coll: string, o: Document): Document | undefined {
  const rest = (skip: string[]) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== name && !skip.includes(k)));
  switch (name) {
    case 'create':
      return { create: coll, ...rest(['idIndex']) };
    case 'drop':
      return { drop: coll };
    case 'createIndexes':
      return { createIndexes: coll, indexes: [indexSpec(rest([]))] };
    case 'commitIndexBuild':
      return { createIndexes: coll, indexes: ((o.indexes as Document[] | undefined) ?? []).map(indexSpec) };
    case 'dropIndexes':
    case 'deleteIndexes':
      return { dropIndexes: coll, index: o.index };
    case 'collMod':
      return { collMod: coll, ...rest([]) };
    case 'emptycapped':
      return { emptycapped: coll };
    default:
      return undefined;
  }
}

/** An index spec as the oplog stores it, minus what createIndexes refuses (`ns` of pre-4.4 entries). */
function indexSpec(spec: Document): Document {
  const { ns: _ns, ...rest } = spec;
  return rest;
}

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
    await client.db(db).command(command);
    return true;
  } catch (err) {
    if (err instanceof MongoServerError && typeof err.code === 'number' && ALREADY.has(err.code)) return true;
    throw err;
  }
}
