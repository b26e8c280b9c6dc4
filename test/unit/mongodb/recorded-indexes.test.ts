import { readFileSync } from 'node:fs';
import { BSON, type Document } from 'mongodb';
import { describe, expect, it } from 'vitest';
import type { CollectionType } from '../../../src/adapters/connectors/mongodb/mongodb-catalog.js';
import { buildMetadata, checkMetadata, indexesToBuild, metadataJson, parseMetadata } from '../../../src/adapters/connectors/mongodb/mongodb-metadata.js';
import { MONGO_TOOLS } from '../../helpers/oplog-fixtures.js';

/**
 * Index definitions checked against listIndexes output recorded from real servers: the
 * `.metadata.json` files mongodump wrote in mongo-tools' test data (test/fixtures/oplog/README.md),
 * whose `indexes` are listIndexes replies as the server sent them. CongoDB's createIndexes/listIndexes
 * only echo what they were sent (test/helpers/congodb.ts, shim 4), so the round trips against it
 * cannot tell whether our specs are right; these checks can, for both directions:
 *  - backup: the metadata we write from a listIndexes reply holds that reply exactly (types, key order);
 *  - restore: the createIndexes specs we send from a recorded file are the reply minus `_id_`, the
 *    legacy `ns` and `safe` (which servers since 3.4 refuse), every other field and type kept.
 * What a server then does with those specs is checked only with MONGODB_URI (real-server.test.ts).
 */
const recorded: { file: string; type: CollectionType }[] = [
  { file: 'mongorestore/testdata/indextestdump/indextest/test_collection.metadata.json', type: 'collection' },
  { file: 'mongorestore/testdata/hashedIndexes.metadata.json', type: 'collection' },
  { file: 'mongorestore/testdata/coll_with_ttl_index/test/foo.metadata.json', type: 'collection' },
  { file: 'mongorestore/testdata/collMod_ttl_index/mongodump_test_db/coll1.metadata.json', type: 'collection' },
  { file: 'mongorestore/testdata/duplicate_index_key_with_oplog/test/foo.metadata.json', type: 'collection' },
  { file: 'mongorestore/testdata/timeseries_tests/ts_dump_with_oplog/timeseries_test/foo_ts.metadata.json', type: 'timeseries' },
  { file: 'test/qa-tests/jstests/restore/testdata/dump_ordered_partial_index/test/foo.metadata.json', type: 'collection' },
  { file: 'test/qa-tests/jstests/restore/testdata/dump_extended_json_options/test/changelog.metadata.json', type: 'collection' },
];

const canonical = (docs: Document[]) => docs.map((d) => BSON.EJSON.stringify(d, { relaxed: false }));
const read = (file: string) => readFileSync(`${MONGO_TOOLS}${file}`, 'utf8');
const reply = (file: string) => (BSON.EJSON.parse(read(file), { relaxed: false }) as { indexes: Document[] }).indexes;

describe('index definitions against recorded listIndexes output (mongo-tools test data)', () => {
  for (const r of recorded) {
    it(`${r.file.split('/').slice(-2).join('/')}: the backup's metadata holds the reply exactly; the restore sends it back without _id_, ns and safe`, () => {
      const indexes = reply(r.file);
      const options = (BSON.EJSON.parse(read(r.file), { relaxed: false }) as { options?: Document }).options ?? {};
      const written = parseMetadata(metadataJson(buildMetadata({ db: 'd', name: 'c', type: r.type, options }, indexes)), 'written');
      expect(canonical(written.indexes)).toEqual(canonical(indexes));

      const meta = parseMetadata(read(r.file), r.file);
      expect(() => checkMetadata(meta, { ns: 'd.c', type: r.type }, r.file)).not.toThrow();
      const expected = indexes
        .filter((i) => i.name !== '_id_')
        .map((i) => Object.fromEntries(Object.entries(i).filter(([k]) => k !== 'ns' && k !== 'safe')));
      expect(canonical(indexesToBuild(meta))).toEqual(canonical(expected));
    });
  }

  it('keeps the exact number types of keys and options (a Double 1.0 key, an Int64 bits, a Decimal128 key)', () => {
    const specs = recorded.flatMap((r) => indexesToBuild(parseMetadata(read(r.file), r.file)));
    const text = canonical(specs).join('\n');
    expect(text).toContain('"a":{"$numberDouble":"1.0"}');
    expect(text).toContain('"bits":{"$numberLong":"32"}');
    expect(text).toContain('"c":{"$numberDecimal":"0"}');
    expect(text).toContain('"expireAfterSeconds":{"$numberInt":"1000"}');
  });
});
