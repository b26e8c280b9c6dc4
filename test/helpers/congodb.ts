import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MongoClient } from 'mongodb';
import { freePort } from './free-port.js';
import { patchMongos, patchReplicaSet, type RecordedCluster, type RecordedOplog, recordWrites } from './congodb-oplog.js';

/**
 * CongoDB, the MongoDB wire-protocol server in `@push.rocks/smartmongo` (TESTING.md): no mongod can
 * be installed on these machines, so the MongoDB suites run against it. Its code is never committed:
 * `ensureCongo()` fetches it into the ignored `.test-servers/congodb/` (npm pack of the package, npm
 * install of the few packages it imports, under /tmp/npm.lock) once and reuses it afterwards.
 *
 * CongoDB is a stand-in, and in four ways it does not keep what mongod keeps. `startCongo()` closes
 * those gaps with small runtime shims (below, nothing in its files is edited) so that the round trip
 * exercises OUR code and not CongoDB's simplifications; each shim only stores and returns data, so
 * the server semantics behind them (validators enforced, capped eviction, time-series bucketing,
 * collations, TTL) are NOT tested here — that is what the MONGODB_URI suite is for:
 *  1. inserted documents keep their exact BSON types (CongoDB decodes with promoteValues, so a
 *     Double 1.0 came back as Int32 1 and an Int64 5 as Int32 5) — document sequences are re-decoded
 *     with promoteValues:false / bsonRegExp:true;
 *  2. `_id` of any type (CongoDB turned every `_id` into an ObjectId), also when an update or delete
 *     names it (`{ _id: 1 }` finds a document inserted as Int32 1: the oplog replay's writes);
 *  3. collection options and types (`create` options, views, time-series) as listCollections shows them;
 *  4. index specs as given (CongoDB dropped partialFilterExpression, collation, weights, …).
 */
export const CONGO_PACKAGE = '@push.rocks/smartmongo@2.2.0';
const CONGO_DEPS = [
  'bson@6.10.4',
  'mingo@7.2.7',
  '@push.rocks/smartfs@1.5.0',
  '@push.rocks/smartpath@6.0.0',
  '@push.rocks/smartpromise@4.2.3',
  '@push.rocks/smartrx@3.0.10',
];
export const CONGO_ROOT = fileURLToPath(new URL('../../.test-servers/congodb/', import.meta.url));
const READY_KEY = [CONGO_PACKAGE, ...CONGO_DEPS].join(' ');
const ENTRY = join(CONGO_ROOT, 'node_modules/@push.rocks/smartmongo/dist_ts/congodb/index.js');

/** Installs CongoDB into .test-servers/congodb once (fails loudly when npm cannot fetch it). */
export function ensureCongo(): string {
  const ready = join(CONGO_ROOT, 'READY');
  if (existsSync(ready) && readFileSync(ready, 'utf8').trim() === READY_KEY) return ENTRY;
  mkdirSync(CONGO_ROOT, { recursive: true });
  const script = [
    'set -e',
    `cd '${CONGO_ROOT}'`,
    `if [ -f READY ] && [ "$(cat READY)" = '${READY_KEY}' ]; then exit 0; fi`,
    'rm -rf node_modules package.json package-lock.json *.tgz READY',
    `echo '{"name":"congodb-test-server","private":true,"type":"module"}' > package.json`,
    `npm install --no-audit --no-fund --loglevel=error ${CONGO_DEPS.join(' ')}`,
    `npm pack --silent ${CONGO_PACKAGE} > /dev/null`,
    'mkdir -p node_modules/@push.rocks/smartmongo',
    'tar xzf push.rocks-smartmongo-*.tgz -C node_modules/@push.rocks/smartmongo --strip-components=1',
    `echo '${READY_KEY}' > READY`,
  ].join('\n');
  execFileSync('flock', ['/tmp/npm.lock', 'bash', '-c', script], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
  return ENTRY;
}

export interface CongoHandle {
  readonly port: number;
  /**
   * `mongodb://127.0.0.1:PORT/[db]?directConnection=true&serverMonitoringMode=poll`: CongoDB
   * advertises a topologyVersion but cannot stream hello replies (moreToCome), which makes the
   * driver's streaming monitor fail and clear the pool mid-operation; polling avoids that.
   */
  url(database?: string): string;
  /** A connected client for seeding and checking. */
  readonly client: MongoClient;
  stop(): Promise<void>;
}

/* The loaded module's shapes, as far as the shims touch them. */
type Doc = Record<string, any>;
interface Ctx { database: string; command: Doc; storage: Doc }
interface Handler { handle(ctx: Ctx): Promise<Doc> }
interface CongoModule {
  CongoServer: new (o: { port: number; host: string }) => { start(): Promise<void>; stop(): Promise<void>; getStorage(): Doc };
  WireProtocol: Doc;
  plugins: { bson: Doc };
}

/**
 * `replicaSet`: answer as a replica set's primary whose oplog holds the recorded entries; `mongos`:
 * answer as a sharded cluster's router listing those shards (congodb-oplog.ts).
 */
export async function startCongo(options: { replicaSet?: RecordedOplog; mongos?: RecordedCluster } = {}): Promise<CongoHandle> {
  const mod = (await import(pathToFileURL(ensureCongo()).href)) as CongoModule;
  patchExactDocumentSequences(mod);
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const server = new mod.CongoServer({ port, host: '127.0.0.1' });
    try {
      await server.start();
    } catch (err) {
      if (attempt < 3 && /EADDRINUSE/.test(String(err))) continue;
      throw err;
    }
    const internals = server as unknown as { commandRouter: { handlers: Map<string, Handler> } };
    patchStorageIds(server.getStorage(), mod.plugins.bson);
    patchCatalog(internals.commandRouter.handlers, mod.plugins.bson);
    patchIdFilters(internals.commandRouter.handlers);
    if (options.replicaSet) patchReplicaSet(internals.commandRouter.handlers, mod.plugins.bson, options.replicaSet, port);
    if (options.mongos) patchMongos(internals.commandRouter.handlers, mod.plugins.bson, options.mongos);
    if (options.replicaSet?.recordWrites) recordWrites(server.getStorage(), mod.plugins.bson, options.replicaSet);
    const url = (database = '') => `mongodb://127.0.0.1:${port}/${database}?directConnection=true&serverMonitoringMode=poll`;
    const client = new MongoClient(url(), { serverSelectionTimeoutMS: 5000 });
    await client.connect();
    return {
      port,
      url,
      client,
      async stop() {
        await client.close().catch(() => undefined);
        await server.stop();
      },
    };
  }
}

/** Shim 1: document sequences (insert batches) decoded without promoting values. */
function patchExactDocumentSequences(mod: CongoModule): void {
  const wp = mod.WireProtocol;
  if (wp.__dbbExact) return;
  const bson = mod.plugins.bson;
  const original = wp.parseOpMsg as (b: Buffer, h: Doc) => { command: Doc };
  wp.parseOpMsg = function (buffer: Buffer, header: Doc) {
    const result = original.call(this, buffer, header);
    if (result.command.documentSequences) result.command.documentSequences = exactSequences(buffer, bson);
    return result;
  };
  wp.__dbbExact = true;
}

function exactSequences(buffer: Buffer, bson: Doc): Map<string, Doc[]> {
  const out = new Map<string, Doc[]>();
  const length = buffer.readInt32LE(0);
  const flags = buffer.readUInt32LE(16);
  const end = flags & 1 ? length - 4 : length;
  let offset = 20;
  while (offset < end) {
    const kind = buffer[offset++];
    const size = buffer.readInt32LE(offset);
    if (kind === 0) {
      offset += size;
      continue;
    }
    const sectionEnd = offset + size;
    let p = offset + 4;
    const nul = buffer.indexOf(0, p);
    const id = buffer.toString('utf8', p, nul);
    p = nul + 1;
    const docs: Doc[] = [];
    while (p < sectionEnd) {
      const n = buffer.readInt32LE(p);
      // Inserted documents keep their types; updates go through CongoDB's update engine, which
      // clones values as plain objects (an Int32 would become { value }), so they decode as it expects.
      docs.push(bson.deserialize(buffer.subarray(p, p + n), id === 'documents' ? { promoteValues: false, bsonRegExp: true } : {}));
      p += n;
    }
    out.set(id, docs);
    offset = sectionEnd;
  }
  return out;
}

/** Shim 2: `_id` of any BSON type, keyed by its canonical Extended JSON. */
function patchStorageIds(storage: Doc, bson: Doc): void {
  const keyOf = (id: unknown) =>
    id instanceof bson.ObjectId ? (id as { toHexString(): string }).toHexString() : bson.EJSON.stringify({ id }, { relaxed: false });
  storage.insertOne = async function (this: Doc, db: string, coll: string, doc: Doc) {
    const collection = this.ensureCollection(db, coll) as Map<string, Doc>;
    const stored = doc._id === undefined ? { _id: new bson.ObjectId(), ...doc } : { ...doc };
    const key = keyOf(stored._id);
    if (collection.has(key)) throw new Error(`Duplicate key error: _id ${key}`);
    collection.set(key, stored);
    return stored;
  };
  // Updates and deletes (the oplog replay's upserts) find documents by the same key.
  storage.findById = async function (this: Doc, db: string, coll: string, id: unknown) {
    return (this.ensureCollection(db, coll) as Map<string, Doc>).get(keyOf(id)) ?? null;
  };
  storage.updateById = async function (this: Doc, db: string, coll: string, id: unknown, doc: Doc) {
    const collection = this.ensureCollection(db, coll) as Map<string, Doc>;
    if (!collection.has(keyOf(id))) return false;
    collection.set(keyOf(id), doc);
    return true;
  };
  storage.deleteById = async function (this: Doc, db: string, coll: string, id: unknown) {
    return (this.ensureCollection(db, coll) as Map<string, Doc>).delete(keyOf(id));
  };
}

/**
 * Shim 2, for updates and deletes: a filter `{ _id: value, … }` is pointed at the stored document's
 * own `_id` (found by its canonical key), so that a value decoded in another form (an Int32 kept
 * exact on insert, a plain number in a filter) still matches, as it does on mongod.
 */
function patchIdFilters(handlers: Map<string, Handler>): void {
  for (const [name, list] of [['update', 'updates'], ['delete', 'deletes']] as const) {
    const inner = handlers.get(name)!;
    handlers.set(name, {
      async handle(ctx) {
        const coll = ctx.command[name] as string;
        const sequences = (ctx as Ctx & { documentSequences?: Map<string, Doc[]> }).documentSequences;
        for (const spec of (sequences?.get(list) ?? ctx.command[list] ?? []) as Doc[]) {
          const id = spec.q?._id;
          if (id === undefined || (typeof id === 'object' && id !== null && id._bsontype === undefined && !Array.isArray(id))) continue;
          const found = (await ctx.storage.findById(ctx.database, coll, id)) as Doc | null;
          if (found) spec.q = { ...spec.q, _id: found._id };
        }
        return inner.handle(ctx);
      },
    });
  }
}

const GENERIC_FIELDS = new Set(['$db', 'lsid', '$clusterTime', '$readPreference', 'writeConcern', 'comment', 'apiVersion', 'apiStrict', 'apiDeprecationErrors', 'txnNumber', 'autocommit', 'maxTimeMS']);

/** Shims 3 and 4: collection options/types and full index specs, kept per namespace. */
function patchCatalog(handlers: Map<string, Handler>, bson: Doc): void {
  const collections = new Map<string, { type: string; options: Doc }>();
  const indexes = new Map<string, Doc[]>();
  const wrap = (name: string, fn: (ctx: Ctx, next: (c: Ctx) => Promise<Doc>) => Promise<Doc>) => {
    const inner = handlers.get(name)!;
    handlers.set(name, { handle: (ctx) => fn(ctx, (c) => inner.handle(c)) });
  };
  const forget = (prefix: string) => {
    for (const map of [collections, indexes]) for (const k of [...map.keys()]) if (k === prefix || k.startsWith(`${prefix}\0`)) map.delete(k);
  };
  const ns = (db: string, coll: string) => `${db}\0${coll}`;

  wrap('create', async (ctx, next) => {
    const result = await next(ctx);
    if (result.ok !== 1) return result;
    const options = Object.fromEntries(Object.entries(ctx.command).filter(([k]) => k !== 'create' && !GENERIC_FIELDS.has(k)));
    const type = options.viewOn !== undefined ? 'view' : options.timeseries !== undefined ? 'timeseries' : 'collection';
    collections.set(ns(ctx.database, ctx.command.create), { type, options });
    if (type === 'timeseries') await ctx.storage.createCollection(ctx.database, `system.buckets.${ctx.command.create}`);
    return result;
  });
  wrap('listCollections', async (ctx, next) => {
    const result = await next(ctx);
    for (const entry of (result.cursor?.firstBatch ?? []) as Doc[]) {
      const known = collections.get(ns(ctx.database, entry.name));
      if (!known || entry.options === undefined) continue;
      entry.type = known.type;
      entry.options = known.options;
      if (known.type === 'view') {
        entry.info = { readOnly: true };
        delete entry.idIndex;
      }
    }
    return result;
  });
  wrap('drop', async (ctx, next) => {
    const key = ns(ctx.database, ctx.command.drop);
    if (collections.get(key)?.type === 'timeseries') await ctx.storage.dropCollection(ctx.database, `system.buckets.${ctx.command.drop}`);
    forget(key);
    return next(ctx);
  });
  wrap('dropDatabase', async (ctx, next) => {
    forget(ctx.database);
    return next(ctx);
  });
  // CongoDB's own index engine keys documents by ObjectId hex (it fails on any other _id) and
  // enforces nothing on insert, so the shim replaces it: specs are recorded and listed back.
  wrap('createIndexes', async (ctx) => {
    await ctx.storage.createCollection(ctx.database, ctx.command.createIndexes);
    const key = ns(ctx.database, ctx.command.createIndexes);
    const list = indexes.get(key) ?? [];
    const before = list.length + 1;
    for (const spec of ctx.command.indexes as Doc[]) {
      if (!list.some((i) => i.name === spec.name)) list.push({ v: 2, ...spec });
    }
    indexes.set(key, list);
    return { ok: 1, numIndexesBefore: before, numIndexesAfter: list.length + 1, createdCollectionAutomatically: false };
  });
  wrap('dropIndexes', async (ctx) => {
    const key = ns(ctx.database, ctx.command.dropIndexes);
    const list = indexes.get(key) ?? [];
    const which = ctx.command.index;
    const keep = which === '*' ? [] : list.filter((i) => (typeof which === 'string' ? i.name !== which : JSON.stringify(i.key) !== JSON.stringify(which)));
    if (keep.length === list.length && which !== '*') return { ok: 0, errmsg: `index not found with name [${String(which)}]`, code: 27, codeName: 'IndexNotFound' };
    indexes.set(key, keep);
    return { ok: 1, nIndexesWas: list.length + 1 };
  });
  wrap('listIndexes', async (ctx) => {
    const key = ns(ctx.database, ctx.command.listIndexes);
    const clustered = collections.get(key)?.options.clusteredIndex as Doc | undefined;
    const idIndex = clustered
      ? { v: 2, key: { _id: 1 }, name: clustered.name ?? '_id_', unique: true, clustered: true }
      : { v: 2, key: { _id: 1 }, name: '_id_' };
    const firstBatch = [idIndex, ...(indexes.get(key) ?? [])];
    return { ok: 1, cursor: { id: bson.Long.fromNumber(0), ns: `${ctx.database}.${ctx.command.listIndexes}`, firstBatch } };
  });
}
