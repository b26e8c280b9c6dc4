import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { BSON, Double, Int32 } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { bsonBatches, bsonDocuments, documentOf, packDocuments } from '../../../src/adapters/connectors/mongodb/bson-stream.js';
import { partBase } from '../../../src/adapters/connectors/mongodb/mongodb-catalog.js';
import { buildMetadata, indexesToBuild, metadataJson, parseMetadata } from '../../../src/adapters/connectors/mongodb/mongodb-metadata.js';

// The reference files are hand-assembled from the BSON spec and mongodump's Metadata struct; see fixtures/README.md.
const fixture = (name: string) => readFile(fileURLToPath(new URL(`fixtures/dump/shop/${name}`, import.meta.url)));
const EXACT = { promoteValues: false, bsonRegExp: true } as const;

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** The driver hands raw documents to the dump one by one, each a slice of a reply buffer. */
function asCursor(docs: Buffer[]): AsyncIterable<Buffer> {
  return Readable.from(docs.map((d) => Buffer.concat([Buffer.from('junk'), d, Buffer.from('junk')]).subarray(4, 4 + d.length)));
}

describe('mongodump .bson files', () => {
  it('are written as the plain concatenation of the raw documents, byte for byte', async () => {
    const reference = await fixture('orders.bson');
    const docs = [reference.subarray(0, 27), reference.subarray(27)];
    const tally = { documents: 0, bytes: 0 };
    const written = Buffer.concat(await collect(packDocuments(asCursor(docs), tally, 16)));
    expect(written.equals(reference)).toBe(true);
    expect(tally).toEqual({ documents: 2, bytes: 76 });
    // What a driver would encode for the same values produces the same bytes (Double stays double).
    const encoded = Buffer.concat([
      BSON.serialize({ _id: new Int32(1), name: 'ab' }),
      BSON.serialize({ _id: new Int32(2), price: new Double(1.0), tags: ['x'] }),
    ]);
    expect(encoded.equals(reference)).toBe(true);
  });

  it('are read back document by document across any chunking, values exact', async () => {
    const reference = await fixture('orders.bson');
    for (const size of [1, 3, 27, 28, 1000]) {
      const chunks = [];
      for (let i = 0; i < reference.length; i += size) chunks.push(reference.subarray(i, i + size));
      const docs = await collect(bsonDocuments(Readable.from(chunks), 'orders.bson'));
      expect(docs.map((d) => d.length)).toEqual([27, 49]);
      expect(BSON.EJSON.stringify(BSON.deserialize(docs[1]!, EXACT), { relaxed: false })).toBe(
        '{"_id":{"$numberInt":"2"},"price":{"$numberDouble":"1.0"},"tags":["x"]}',
      );
    }
    expect(await collect(bsonDocuments(Readable.from([]), 'empty.bson'))).toEqual([]);
  });

  it('are read back in batches of whole documents, within the limits, across any chunking', async () => {
    const reference = await fixture('orders.bson');
    const stream = Buffer.concat([reference, reference, reference]); // 6 documents: 27, 49, 27, 49, 27, 49 bytes
    for (const size of [1, 5, 27, 76, 1000]) {
      const chunks = [];
      for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
      for (const [maxDocs, maxBytes, sizes] of [[4, 1 << 20, [4, 2]], [100, 100, [2, 2, 2]], [1, 1, [1, 1, 1, 1, 1, 1]]] as const) {
        const batches = await collect(bsonBatches(Readable.from(chunks), 'orders.bson', maxDocs, maxBytes));
        expect(batches.map((b) => b.documents)).toEqual(sizes);
        expect(Buffer.concat(batches.flatMap((b) => b.parts)).equals(stream)).toBe(true);
        for (const b of batches) expect(b.bytes).toBe(b.parts.reduce((n, p) => n + p.length, 0));
        if (sizes[0] > 1) expect(documentOf(batches[0]!, 1)?.length).toBe(49);
        expect(documentOf(batches[0]!, sizes[0])).toBeUndefined();
      }
    }
    await expect(collect(bsonBatches(Readable.from([reference.subarray(0, 50)]), 'x.bson', 10, 1000))).rejects.toMatchObject({ code: 'E_TRUNCATED' });
  });

  it('refuse a cut tail and a length that cannot be BSON', async () => {
    const reference = await fixture('orders.bson');
    await expect(collect(bsonDocuments(Readable.from([reference.subarray(0, 50)]), 'x.bson'))).rejects.toMatchObject({ code: 'E_TRUNCATED' });
    await expect(collect(bsonDocuments(Readable.from([Buffer.from('{"not":"bson"}')]), 'x.bson'))).rejects.toMatchObject({ code: 'E_FOREIGN_ARCHIVE' });
    const badEnd = Buffer.from(reference);
    badEnd[26] = 1;
    await expect(collect(bsonDocuments(Readable.from([badEnd]), 'x.bson'))).rejects.toMatchObject({ code: 'E_FOREIGN_ARCHIVE' });
  });
});

describe('mongodump .metadata.json files', () => {
  const info = {
    db: 'shop',
    name: 'orders',
    type: 'collection' as const,
    options: { validator: { $jsonSchema: { required: ['name'] } }, collation: { locale: 'fr', strength: new Int32(2) } },
    uuid: '0f8fad5bd9cb469fa16570867728950e',
  };
  // listIndexes output as the dump reads it (promoteValues: false keeps Int32).
  const indexes = [
    { v: new Int32(2), key: { _id: new Int32(1) }, name: '_id_' },
    { v: new Int32(2), key: { name: new Int32(1), price: new Int32(-1) }, name: 'name_1_price_-1', unique: true },
  ];

  it('hold mongodump fields, in its order, as one line of canonical Extended JSON', async () => {
    const text = metadataJson(buildMetadata(info, indexes));
    expect(text).toBe((await fixture('orders.metadata.json')).toString('utf8'));
    expect(Object.keys(JSON.parse(text) as object)).toEqual(['options', 'indexes', 'uuid', 'collectionName', 'type']);
  });

  it('omit empty options and the uuid of a view, as mongodump does', async () => {
    const view = { db: 'shop', name: 'recent', type: 'view' as const, options: { viewOn: 'orders', pipeline: [{ $match: { price: { $gt: new Double(0.5) } } }] } };
    expect(metadataJson(buildMetadata(view, []))).toBe((await fixture('recent.metadata.json')).toString('utf8'));
    const plain = metadataJson(buildMetadata({ db: 'shop', name: 'p', type: 'collection', options: {} }, indexes.slice(0, 1)));
    expect(plain).toBe('{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"}],"collectionName":"p","type":"collection"}');
  });

  it('parse back into exact values, and restore builds every index but _id', async () => {
    const meta = parseMetadata((await fixture('orders.metadata.json')).toString('utf8'), 'orders.metadata.json');
    expect(meta.type).toBe('collection');
    expect(meta.options?.collation.strength).toBeInstanceOf(Int32);
    expect(indexesToBuild(meta)).toEqual([indexes[1]]);
    const view = parseMetadata((await fixture('recent.metadata.json')).toString('utf8'), 'recent.metadata.json');
    expect(view.type).toBe('view');
    expect(view.options?.pipeline[0].$match.price.$gt).toBeInstanceOf(Double);
    expect(() => parseMetadata('{"nope":1}', 'x')).toThrow(/not a mongodump metadata file/);
  });
});

describe('mongodump file names', () => {
  it('are data/<db>/<collection>, percent-encoded so mongorestore path-unescapes them back', () => {
    expect(partBase('shop', 'orders')).toBe('data/shop/orders');
    expect(partBase('shop', 'a/b c%d.e')).toBe('data/shop/a%2Fb%20c%25d.e');
    expect(decodeURIComponent(partBase('shop', 'ü/$x').split('/')[2]!)).toBe('ü/$x');
  });

  it('cut names that would exceed 238 bytes as mongodump does: 208 bytes, %24, base64url sha1', () => {
    const long = 'c'.repeat(300);
    const file = partBase('db', long).split('/')[2]!;
    expect(file).toMatch(/^c{208}%24[A-Za-z0-9_-]{27}$/);
    expect(file.length).toBeLessThanOrEqual(238);
  });
});
