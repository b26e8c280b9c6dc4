import { BSON, Timestamp } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { mergeByClusterTime } from '../../../src/adapters/connectors/mongodb/mongodb-oplog-merge.js';
import { shardEndpoint } from '../../../src/adapters/connectors/mongodb/mongodb-shards.js';
import { resolveEndpoint } from '../../../src/adapters/connectors/mongodb/mongodb-endpoint.js';
import { jsonEntries, PBM } from '../../helpers/oplog-fixtures.js';

/**
 * The sharded cluster's pieces that need no server: the merge of the shards' oplogs by cluster
 * time, and a shard's connection derived from the mongos'. The entries are PBM's recorded
 * ops_i_u_d.json ones, re-stamped (ts only) so that two shards' logs interleave.
 */
const iud = jsonEntries(`${PBM}ops_i_u_d.json`);
const stamp = (k: number, t: number, i = 1) => Buffer.from(BSON.serialize({ ...BSON.deserialize(iud[k % iud.length]!, { promoteValues: false }), ts: new Timestamp({ t, i }) }));
const tsOf = (raw: Buffer) => {
  const ts = BSON.deserialize(raw).ts as Timestamp;
  return `${ts.t}.${ts.i}`;
};
async function* each(list: Buffer[]): AsyncGenerator<Buffer> {
  for (const raw of list) yield raw;
}
const collect = async (it: AsyncIterable<Buffer>) => {
  const out: Buffer[] = [];
  for await (const raw of it) out.push(raw);
  return out;
};

describe('merging the shards\' oplogs by cluster time', () => {
  it('yields every entry once, in ts order across shards; equal times come in shard order', async () => {
    const a = [stamp(0, 100), stamp(1, 103), stamp(2, 103, 2), stamp(0, 110)];
    const b = [stamp(1, 101), stamp(2, 103), stamp(0, 104)];
    const c: Buffer[] = [];
    const merged = await collect(mergeByClusterTime([
      { shard: 'shB', where: 'b', entries: each(b) },
      { shard: 'shA', where: 'a', entries: each(a) },
      { shard: 'shC', where: 'c', entries: each(c) },
    ]));
    expect(merged.map(tsOf)).toEqual(['100.1', '101.1', '103.1', '103.1', '103.2', '104.1', '110.1']);
    // The tie at 103.1: shard A's entry first (shard order), then shard B's.
    expect(merged[2]!.equals(a[1]!)).toBe(true);
    expect(merged[3]!.equals(b[1]!)).toBe(true);
  });

  it('refuses a shard whose own entries are out of order, naming where they came from', async () => {
    const bad = [stamp(0, 105), stamp(1, 104)];
    await expect(collect(mergeByClusterTime([{ shard: 'shA', where: 'changes/shards/shA/oplog.bson of backup X', entries: each(bad) }]))).rejects.toMatchObject({
      code: 'E_FOREIGN_ARCHIVE',
      message: expect.stringMatching(/^changes\/shards\/shA\/oplog\.bson of backup X holds entries out of order/),
    });
  });
});

describe('a shard\'s endpoint from the mongos\'', () => {
  const shard = { id: 'shard01', replicaSet: 'rs1', hosts: 'db1:27018,db2:27018' };

  it('keeps credentials and options, points at the shard\'s hosts as its replica set, drops directConnection', () => {
    const mongos = resolveEndpoint({ engine: 'mongodb', url: 'mongodb://backup@router:27017/app?authSource=admin&directConnection=true&tls=true', password: 's3cret' });
    const e = shardEndpoint(mongos, shard);
    expect(e.url).toBe('mongodb://backup@db1:27018,db2:27018/app?authSource=admin&tls=true&replicaSet=rs1');
    expect(e.hosts).toBe('db1:27018,db2:27018');
    expect(e.clientOptions.auth).toEqual({ username: 'backup', password: 's3cret' });
  });

  it('a mongodb+srv:// URL becomes mongodb:// with tls=true and authSource=admin (what SRV and its TXT record imply)', () => {
    const e = shardEndpoint(resolveEndpoint({ engine: 'mongodb', url: 'mongodb+srv://cluster0.example.net/?retryWrites=true' }), shard);
    expect(e.url).toBe('mongodb://db1:27018,db2:27018/?retryWrites=true&replicaSet=rs1&tls=true&authSource=admin');
  });
});
