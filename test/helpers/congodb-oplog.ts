/**
 * The oplog double: CongoDB has no replica set and no oplog, so `startCongo({ replicaSet })` makes
 * it answer as the primary of a replica set whose `local.oplog.rs` holds exactly `entries` (raw BSON
 * entries recorded from real servers, test/fixtures/oplog/), in that order. Tests push new entries
 * (the log grows) or shift old ones (the oplog rolls over) while the server runs.
 *
 * What it serves, and nothing more: `hello`/`isMaster` with `setName` and a `$clusterTime` (the
 * newest entry's ts); `find` on local.oplog.rs with a filter of `ts` comparisons ($gt/$gte/$lt/$lte
 * or equality), `ns` equality or `$regex`, and `$or`, sorted by `$natural` either way, with `limit`
 * (one batch, no getMore); a snapshot read's cursor carries `atClusterTime` (the newest ts). Any
 * other filter shape fails loudly, so the double cannot silently answer a query it does not model.
 */
export interface RecordedOplog {
  name: string;
  entries: Buffer[];
  /**
   * Also append an entry for every write the server stores (recordWrites): inserts as "i", every
   * update as a replacement "u" (the whole new document, a form real oplogs hold too), deletes as
   * "d", collection creates and drops as "c". For the connector contract, whose change-capture
   * case needs live writes to show up in the oplog; the formats a real mongod writes ($v:2 deltas,
   * transactions, index builds) are covered by the recorded entries.
   */
  recordWrites?: boolean;
  /** Called after each reply to a read of entries after a time (a tail): a test rolls the oplog over there. */
  afterTailRead?: () => void;
}

/** Wraps CongoDB's storage so that each write it stores appends an oplog entry to `rs`. */
export function recordWrites(storage: Doc, bson: Doc, rs: RecordedOplog): void {
  let last = { t: 0, i: 0 };
  const append = (op: string, ns: string, o: Doc, o2?: Doc) => {
    const t = Math.floor(Date.now() / 1000);
    last = t > last.t ? { t, i: 1 } : { t: last.t, i: last.i + 1 };
    const entry = { op, ns, o, ...(o2 ? { o2 } : {}), ts: new bson.Timestamp(last), t: bson.Long.fromNumber(1), v: bson.Long.fromNumber(2), wall: new Date() };
    rs.entries.push(Buffer.from(bson.serialize(entry)));
  };
  const around = (name: string, after: (args: any[], result: any) => void) => {
    const inner = storage[name] as (...a: any[]) => Promise<any>;
    storage[name] = async function (this: Doc, ...args: any[]) {
      const result = await inner.apply(this, args);
      after(args, result);
      return result;
    };
  };
  around('insertOne', ([db, coll], stored) => append('i', `${db}.${coll}`, stored));
  around('updateById', ([db, coll, id, doc], ok) => ok && append('u', `${db}.${coll}`, doc, { _id: id }));
  around('deleteById', ([db, coll, id], ok) => ok && append('d', `${db}.${coll}`, { _id: id }));
  const create = storage.createCollection as (db: string, coll: string) => Promise<void>;
  storage.createCollection = async function (this: Doc, db: string, coll: string) {
    const existed = (this.databases as Map<string, Map<string, unknown>>).get(db)?.has(coll) === true;
    await create.call(this, db, coll);
    if (!existed) append('c', `${db}.$cmd`, { create: coll });
  };
  around('dropCollection', ([db, coll], ok) => ok && append('c', `${db}.$cmd`, { drop: coll }));
}

type Doc = Record<string, any>;
interface Ctx {
  database: string;
  command: Doc;
}
interface Handler {
  handle(ctx: Ctx): Promise<Doc>;
}

const EXACT = { promoteValues: false, promoteLongs: false, promoteBuffers: false, bsonRegExp: true };

export function patchReplicaSet(handlers: Map<string, Handler>, bson: Doc, rs: RecordedOplog, port: number): void {
  const decoded = () => rs.entries.map((raw) => bson.deserialize(raw, EXACT) as Doc);
  const newestTs = () => {
    const last = rs.entries.at(-1);
    return last ? (bson.deserialize(last, EXACT) as Doc).ts : new bson.Timestamp({ t: 0, i: 0 });
  };
  const wrap = (name: string, fn: (ctx: Ctx, next: (c: Ctx) => Promise<Doc>) => Promise<Doc>) => {
    const inner = handlers.get(name)!;
    handlers.set(name, { handle: (ctx) => fn(ctx, (c) => inner.handle(c)) });
  };
  for (const name of ['hello', 'ismaster', 'isMaster']) {
    wrap(name, async (ctx, next) => {
      const reply = await next(ctx);
      const me = `127.0.0.1:${port}`;
      const clusterTime = newestTs();
      return { ...reply, setName: rs.name, setVersion: 1, hosts: [me], primary: me, me, secondary: false, $clusterTime: { clusterTime, signature: { hash: new bson.Binary(Buffer.alloc(20)), keyId: bson.Long.fromNumber(0) } }, operationTime: clusterTime };
    });
  }
  wrap('find', async (ctx, next) => {
    const snapshot = ctx.command.readConcern?.level === 'snapshot';
    if (ctx.database !== 'local' || ctx.command.find !== 'oplog.rs') {
      const reply = await next(ctx);
      if (snapshot && reply.cursor) return { ...reply, atClusterTime: newestTs(), cursor: { ...reply.cursor, atClusterTime: newestTs() } };
      return reply;
    }
    let docs = decoded().filter((d) => matches(d, ctx.command.filter ?? {}));
    const natural = ctx.command.sort?.$natural;
    if (natural !== undefined && Number(natural) < 0) docs = docs.reverse();
    const limit = Number(ctx.command.limit ?? 0);
    if (limit > 0) docs = docs.slice(0, limit);
    if (ctx.command.filter?.ts?.$gt !== undefined) rs.afterTailRead?.();
    return { ok: 1, cursor: { id: bson.Long.fromNumber(0), ns: 'local.oplog.rs', firstBatch: docs } };
  });
}

/**
 * The mongos double: a sharded cluster's router, for tests of backups through a mongos. It answers
 * `hello` as a mongos does (`msg: "isdbgrid"`, no setName, a `$clusterTime`), serves its own data
 * (CongoDB's storage: what the full reads, at `clusterTime` when the read is a snapshot read), and
 * answers `listShards` with the shards (each one another CongoDB instance started as a replica set's
 * primary with its own recorded oplog, see patchReplicaSet) and `balancerStatus` with `balancer`.
 */
export interface RecordedCluster {
  shards: { id: string; rs: RecordedOplog; port: number }[];
  balancer: 'off' | 'full';
  /** The cluster time the router reports: the snapshot a full reads at. */
  clusterTime: { t: number; i: number };
}

export function patchMongos(handlers: Map<string, Handler>, bson: Doc, cluster: RecordedCluster): void {
  const now = () => new bson.Timestamp(cluster.clusterTime);
  const wrap = (name: string, fn: (ctx: Ctx, next: (c: Ctx) => Promise<Doc>) => Promise<Doc>) => {
    const inner = handlers.get(name)!;
    handlers.set(name, { handle: (ctx) => fn(ctx, (c) => inner.handle(c)) });
  };
  for (const name of ['hello', 'ismaster', 'isMaster']) {
    wrap(name, async (ctx, next) => {
      const { setName: _s, hosts: _h, primary: _p, me: _m, ...reply } = await next(ctx);
      return { ...reply, msg: 'isdbgrid', $clusterTime: { clusterTime: now(), signature: { hash: new bson.Binary(Buffer.alloc(20)), keyId: bson.Long.fromNumber(0) } }, operationTime: now() };
    });
  }
  wrap('find', async (ctx, next) => {
    const reply = await next(ctx);
    if (ctx.database === 'local') throw new Error('The mongos double has no local database: read the shards');
    return ctx.command.readConcern?.level === 'snapshot' && reply.cursor ? { ...reply, atClusterTime: now(), cursor: { ...reply.cursor, atClusterTime: now() } } : reply;
  });
  const answer = (reply: () => Doc): Handler => ({ handle: async () => ({ ok: 1, ...reply() }) });
  handlers.set('listShards', answer(() => ({ shards: cluster.shards.map((s) => ({ _id: s.id, host: `${s.rs.name}/127.0.0.1:${s.port}`, state: 1 })) })));
  handlers.set('balancerStatus', answer(() => ({ mode: cluster.balancer, inBalancerRound: false, numBalancerRounds: bson.Long.fromNumber(0) })));
}

function matches(doc: Doc, filter: Doc): boolean {
  for (const [key, cond] of Object.entries(filter)) {
    if (key === '$or') {
      if (!(cond as Doc[]).some((f) => matches(doc, f))) return false;
      continue;
    }
    const value = doc[key];
    if (cond === null || typeof cond !== 'object' || cond._bsontype !== undefined) {
      if (compare(value, cond) !== 0) return false;
      continue;
    }
    for (const [op, arg] of Object.entries(cond as Doc)) {
      const c = op === '$regex' ? 0 : compare(value, arg);
      const ok =
        op === '$gt' ? c > 0 : op === '$gte' ? c >= 0 : op === '$lt' ? c < 0 : op === '$lte' ? c <= 0 : op === '$eq' ? c === 0 : op === '$regex' ? typeof value === 'string' && new RegExp(String(arg)).test(value) : unsupported(op);
      if (!ok) return false;
    }
  }
  return true;
}

function compare(a: unknown, b: unknown): number {
  const ts = (v: any) => (v?._bsontype === 'Timestamp' ? [v.t as number, v.i as number] : undefined);
  const [x, y] = [ts(a), ts(b)];
  if (x && y) return x[0] !== y[0] ? x[0] - y[0] : x[1] - y[1];
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (a === b) return 0;
  throw new Error(`The oplog double cannot compare ${String(a)} with ${String(b)}`);
}

function unsupported(op: string): never {
  throw new Error(`The oplog double does not model the query operator ${op}`);
}
