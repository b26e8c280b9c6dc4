import { createHash } from 'node:crypto';
import {
  Binary,
  BSON,
  BSONRegExp,
  BSONSymbol,
  Code,
  DBRef,
  Decimal128,
  type Document,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  type MongoClient,
  ObjectId,
  Timestamp,
  UUID,
} from 'mongodb';
import { insertBatch } from '../../../src/adapters/connectors/mongodb/mongodb-insert.js';

/**
 * The collection set both MongoDB suites round-trip (CongoDB and a real server): every BSON type the
 * issue names, a 16 MiB document, 100-level nesting, odd field and collection names, and collection
 * options and indexes of every kind. `dbs.main` holds most of it, `dbs.second` one more collection.
 */
export const EXACT = { promoteValues: false, promoteLongs: false, promoteBuffers: false, bsonRegExp: true } as const;

/** Just under the 16 MiB limit (the driver refuses a document of exactly 16 MiB). */
export const BIG_DOC_BYTES = 16 * 1024 * 1024 - 1024;

export function typedDocuments(): Document[] {
  const oid = new ObjectId('65f0a1b2c3d4e5f601234567');
  return [
    { _id: oid, kind: 'a', objectId: new ObjectId('000000000000000000000001') },
    { _id: new Int32(1), kind: 'a', int32: new Int32(-2147483648), int64Small: Long.fromNumber(5), int64Big: Long.MAX_VALUE, double1: new Double(1.0), doubleNeg0: new Double(-0), nan: new Double(Number.NaN), inf: new Double(Number.NEGATIVE_INFINITY) },
    { _id: Long.fromNumber(2), kind: 'b', decimal: Decimal128.fromString('1234567890.123456789012345678901234'), decNaN: Decimal128.fromString('NaN'), decNegInf: Decimal128.fromString('-Infinity'), decTiny: Decimal128.fromString('1E-6176') },
    { _id: new Double(3.5), kind: 'b', before1970: new Date(-30_610_224_000_000), epoch: new Date(0), late: new Date(253_402_300_799_999), ts: new Timestamp({ t: 1_700_000_000, i: 7 }) },
    {
      _id: 'binary',
      kind: 'c',
      generic: new Binary(Buffer.from([0, 1, 2, 255]), 0),
      fn: new Binary(Buffer.from('f'), 1),
      uuidOld: new Binary(Buffer.alloc(16, 3), 3),
      uuid: new UUID('0f8fad5b-d9cb-469f-a165-70867728950e'),
      md5: new Binary(createHash('md5').update('x').digest(), 5),
      encrypted: new Binary(Buffer.from('0123456789abcdef0123', 'latin1'), 6),
      column: new Binary(Buffer.from([1, 2, 3]), 7),
      sensitive: new Binary(Buffer.from('secret'), 8),
      user: new Binary(Buffer.from('custom'), 0x80),
      empty: new Binary(Buffer.alloc(0), 0),
    },
    { _id: 'regex', kind: 'c', re: new BSONRegExp('^a.b$', 'imsux'), reNoFlags: new BSONRegExp('x', ''), reSlash: new BSONRegExp('a/b\\d', 'l') },
    { _id: 'keys', kind: 'c', min: new MinKey(), max: new MaxKey(), code: new Code('function () { return 1; }'), scoped: new Code('function () { return x; }', { x: new Int32(1) }), sym: new BSONSymbol('sym') },
    { _id: 'refs', kind: 'c', ref: new DBRef('other', new ObjectId('65f0a1b2c3d4e5f601234568'), 'main'), refNoDb: new DBRef('other', new Int32(9) as unknown as ObjectId) },
    { _id: 'names', kind: 'd', 'a.b': new Int32(1), $dollar: new Int32(2), nested: { '$x.y': 'both', '': 'empty name' }, arr: [new Int32(1), 'two', null, [new Double(3)], { 'k.k': true }] },
    { _id: 'strings', kind: 'd', unicode: 'ü 日本 🎉 \u0000 nul inside', empty: '', nul: null, t: true, f: false, long: 'x'.repeat(70_000) },
    { _id: 'deep', kind: 'e', doc: nest(100, (inner) => ({ l: inner }), 'bottom'), arr: nest(100, (inner) => [inner], 'bottom') },
  ];
}

function nest(levels: number, wrap: (inner: unknown) => unknown, bottom: unknown): unknown {
  let v = bottom;
  for (let i = 0; i < levels; i++) v = wrap(v);
  return v;
}

/** A document whose field order no JS object can hold (integer-like names come first in JS): sent as raw BSON. */
export function orderedRawDocument(): Buffer {
  return Buffer.from(BSON.serialize(new Map<string, unknown>([['_id', 'ordered'], ['b', new Int32(1)], ['2', new Int32(2)], ['a', new Int32(3)], ['1', new Int32(4)]])));
}

export interface SeedNames {
  main: string;
  second: string;
}

/**
 * Creates the collection set. `congodb` inserts time-series buckets directly (CongoDB has no
 * bucketing), where a real server is given measurements.
 */
export async function seed(client: MongoClient, dbs: SeedNames, options: { congodb: boolean }): Promise<void> {
  const db = anyDb(client, dbs.main);
  await db.collection('types').insertMany(typedDocuments() as AnyDoc[]);
  const ordered = orderedRawDocument();
  await insertBatch(db.raw, 'types', { parts: [ordered], documents: 1, bytes: ordered.length });
  await db.collection('types').createIndexes([
    { key: { kind: 1, _id: -1 }, name: 'kind_id', unique: false },
    { key: { 'a.b': 1 }, name: 'dotted', sparse: true },
    { key: { kind: 1 }, name: 'partial', partialFilterExpression: { kind: { $in: ['a', 'b'] } } },
    { key: { epoch: 1 }, name: 'ttl', expireAfterSeconds: 3_600 * 24 * 365 * 100 },
    { key: { unicode: 'text', kind: 'text' }, name: 'text', weights: { unicode: 5 }, default_language: 'english' },
    { key: { loc: '2dsphere' }, name: 'geo', '2dsphereIndexVersion': 3 },
    { key: { kind: 'hashed' }, name: 'hashed' },
    { key: { 'nested.$**': 1 }, name: 'wild' },
    { key: { kind: -1 }, name: 'fr', collation: { locale: 'fr', strength: 2 } },
  ]);
  await db.command({ create: 'capped', capped: true, size: 1_048_576, max: 1_000 });
  await db.collection('capped').insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: new Int32(i), at: new Date(1_700_000_000_000 + i) })));
  await db.command({
    create: 'validated',
    validator: { $jsonSchema: { bsonType: 'object', required: ['name'], properties: { name: { bsonType: 'string' } } } },
    validationLevel: 'moderate',
    validationAction: 'warn',
  });
  await db.collection('validated').insertMany([{ _id: new Int32(1), name: 'ok' }, { _id: new Int32(2), name: 'also ok' }]);
  await db.command({ create: 'collated', collation: { locale: 'fr', strength: 2 } });
  await db.collection('collated').insertMany([{ _id: 'é', v: new Int32(1) }, { _id: 'e2', v: new Int32(2) }]);
  await db.command({ create: 'clustered', clusteredIndex: { key: { _id: 1 }, unique: true, name: 'clustered_key' } });
  await db.collection('clustered').insertMany([{ _id: new Int32(10), x: 'a' }, { _id: new Int32(11), x: 'b' }]);
  await db.command({ create: 'ts', timeseries: { timeField: 't', metaField: 'm', granularity: 'hours' } });
  if (options.congodb) {
    await db.collection('system.buckets.ts').insertMany([{ _id: new ObjectId('65f0a1b2c3d4e5f6012345aa'), control: { version: new Int32(1) }, meta: 'sensor', data: { t: { 0: new Date(0) } } }]);
  } else {
    await db.collection('ts').insertMany(Array.from({ length: 5 }, (_, i) => ({ _id: new ObjectId(), t: new Date(1_700_000_000_000 + i * 60_000), m: 'sensor', v: new Double(i / 3) })));
  }
  await db.collection('ts').createIndex({ m: 1, t: -1 }, { name: 'meta_time' });
  await db.command({ create: 'view_a', viewOn: 'types', pipeline: [{ $match: { kind: 'a' } }, { $project: { kind: 1 } }] });
  await db.command({ create: 'view_of_view', viewOn: 'view_a', pipeline: [{ $limit: 1 }], collation: { locale: 'en' } });
  await db.command({ create: 'empty' });
  await db.collection('we ird/na%me.x').insertOne({ _id: new Int32(1) });
  await db.collection('big').insertOne({ _id: 'big', blob: new Binary(Buffer.alloc(BIG_DOC_BYTES - 36, 7), 0) });
  await anyDb(client, dbs.second).collection('things').insertMany(Array.from({ length: 50 }, (_, i) => ({ _id: new Int32(i), n: Long.fromNumber(i * 1e10) })));
}

/** Collections that take any `_id` (the driver's types assume ObjectId). */
export type AnyDoc = { _id: any; [key: string]: any };
export function anyDb(client: MongoClient, name: string) {
  const db = client.db(name);
  return { command: (c: Document) => db.command(c), collection: (n: string) => db.collection<AnyDoc>(n), raw: db };
}

export interface CollectionSnapshot {
  type: string;
  options: string;
  count?: number;
  /** sha256 of the sorted canonical Extended JSON of every document. */
  hash?: string;
  /** sha256 of the raw BSON bytes of every document, sorted the same way. */
  bytes?: string;
  indexes?: string[];
}

/** What a database holds, in a form two databases can be compared by (UUIDs and `ns` left out). */
export async function snapshot(client: MongoClient, database: string): Promise<Record<string, CollectionSnapshot>> {
  const db = client.db(database);
  const out: Record<string, CollectionSnapshot> = {};
  const infos = (await db.listCollections({}, { ...EXACT }).toArray()) as Document[];
  for (const info of infos.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const name = info.name as string;
    if (name.startsWith('system.') && !name.startsWith('system.buckets.')) continue;
    const entry: CollectionSnapshot = { type: info.type ?? 'collection', options: BSON.EJSON.stringify(info.options ?? {}, { relaxed: false }) };
    if (entry.type !== 'view') {
      const docs = (await db.collection(name).find({}, { raw: true }).toArray()) as unknown as Buffer[];
      const keyed = docs.map((b) => ({ b, json: BSON.EJSON.stringify(BSON.deserialize(b, EXACT), { relaxed: false }) })).sort((x, y) => (x.json < y.json ? -1 : 1));
      entry.count = docs.length;
      entry.hash = sha(keyed.map((k) => k.json).join('\n'));
      entry.bytes = sha(Buffer.concat(keyed.map((k) => k.b)));
      const indexes = (await db.collection(name).listIndexes({ ...EXACT }).toArray()) as Document[];
      entry.indexes = indexes.map(({ ns: _ns, ...rest }) => BSON.EJSON.stringify(rest, { relaxed: false })).sort();
    }
    out[name] = entry;
  }
  return out;
}

function sha(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
