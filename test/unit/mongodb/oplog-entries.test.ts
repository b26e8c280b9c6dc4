import { BSON, Int32, Timestamp } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { deltaToUpdate } from '../../../src/adapters/connectors/mongodb/mongodb-oplog-diff.js';
import { parseEntry, txnMeta } from '../../../src/adapters/connectors/mongodb/mongodb-oplog-entry.js';
import { writesOf } from '../../../src/adapters/connectors/mongodb/mongodb-oplog-apply.js';
import { targetOf } from '../../../src/adapters/connectors/mongodb/mongodb-oplog-scope.js';
import { jsonEntries, PBM, txnCases } from '../../helpers/oplog-fixtures.js';

const entry = (doc: Record<string, unknown>) => parseEntry(Buffer.from(BSON.serialize({ ts: new Timestamp({ t: 1, i: 1 }), ...doc })), 'test');

describe('oplog $v:2 update deltas', () => {
  it('turns field inserts, updates, deletes and sub-document deltas into $set/$unset paths', () => {
    const d = deltaToUpdate({ d: { gone: false }, u: { n: 2 }, i: { added: 'x' }, saddress: { u: { city: 'y' }, sgeo: { d: { lat: false } } } }, 'w');
    expect(d).toEqual({ set: { n: 2, added: 'x', 'address.city': 'y' }, unset: { gone: '', 'address.geo.lat': '' }, truncate: [] });
  });

  it('turns array deltas into element paths, and a new length into a cut', () => {
    const d = deltaToUpdate({ stags: { a: true, l: 2, u1: 'b2' }, sitems: { a: true, s0: { u: { qty: 3 } }, u4: { n: 1 } } }, 'w');
    expect(d).toEqual({ set: { 'tags.1': 'b2', 'items.0.qty': 3, 'items.4': { n: 1 } }, unset: {}, truncate: [['tags', 2]] });
  });

  it('refuses what is not a delta (untrusted input)', () => {
    expect(() => deltaToUpdate({ x: 1 }, 'w')).toThrow(expect.objectContaining({ code: 'E_FOREIGN_ARCHIVE' }));
    expect(() => deltaToUpdate({ sarr: { a: true, l: -1 } }, 'w')).toThrow(expect.objectContaining({ code: 'E_FOREIGN_ARCHIVE' }));
  });

  it('gives the recorded PBM update (percona ops_i_u_d.json) as a $set of the inserted field', () => {
    const u = parseEntry(jsonEntries(`${PBM}ops_i_u_d.json`)[1]!, 'pbm');
    expect(writesOf(u)).toEqual([{ updateOne: { filter: u.doc.o2, update: { $set: { city: 'split' } } } }]);
  });
});

describe('oplog entries: writes and transactions', () => {
  it('an insert upserts by _id, a delete removes by _id, a replacement upserts, old-style modifiers pass through', () => {
    // Values keep their BSON types (Int32 here), as the entry holds them.
    const one = new Int32(1);
    const two = new Int32(2);
    expect(writesOf(entry({ op: 'i', ns: 'a.b', o: { _id: 1, x: 1 } }))).toEqual([{ replaceOne: { filter: { _id: one }, replacement: { _id: one, x: one }, upsert: true } }]);
    expect(writesOf(entry({ op: 'd', ns: 'a.b', o: { _id: 1 } }))).toEqual([{ deleteOne: { filter: { _id: one } } }]);
    expect(writesOf(entry({ op: 'u', ns: 'a.b', o: { _id: 1, y: 2 }, o2: { _id: 1 } }))).toEqual([{ replaceOne: { filter: { _id: one }, replacement: { _id: one, y: two }, upsert: true } }]);
    expect(writesOf(entry({ op: 'u', ns: 'a.b', o: { $v: 1, $set: { y: 2 } }, o2: { _id: 1 } }))).toEqual([{ updateOne: { filter: { _id: one }, update: { $set: { y: two } } } }]);
  });

  it('tells transactions apart as mongo-tools does (recorded cases of common/txn/testdata/oplog_entries.json)', () => {
    const meta = (name: string) => txnCases().find((c) => c.name === name)!.ops.map((raw) => txnMeta(parseEntry(raw, name)));
    expect(meta('not transaction')).toEqual([undefined]);
    expect(meta('applyops not transaction')).toEqual([undefined]);
    expect(meta('not transaction with lsid and txnNumber and command')).toEqual([undefined]);
    expect(meta('not transaction with multiOpType')).toEqual([undefined]);
    expect(meta('small, unprepared').map((m) => m && { data: m.data, commit: m.commit, abort: m.abort })).toEqual([{ data: true, commit: true, abort: false }]);
    expect(meta('large, unprepared').map((m) => m?.commit)).toEqual([false, false, true]);
    expect(meta('small, prepared, committed').map((m) => m && { data: m.data, commit: m.commit })).toEqual([{ data: true, commit: false }, { data: false, commit: true }]);
    expect(meta('small, prepared, aborted').map((m) => m?.abort)).toEqual([false, true]);
    const large = meta('large, prepared, committed');
    expect(new Set(large.map((m) => m!.key)).size).toBe(1);
  });

  it('refuses documents that are not oplog entries', () => {
    expect(() => parseEntry(Buffer.from(BSON.serialize({ hello: 1 })), 'x')).toThrow(expect.objectContaining({ code: 'E_FOREIGN_ARCHIVE' }));
    expect(() => entry({ op: 'i', ns: 'a.b' })).toThrow(expect.objectContaining({ code: 'E_FOREIGN_ARCHIVE' }));
    expect(() => parseEntry(Buffer.from([5, 0, 0, 0, 1]), 'x')).toThrow(expect.objectContaining({ code: 'E_FOREIGN_ARCHIVE' }));
  });
});

describe('which namespaces a replay writes, and where', () => {
  const all = { dbMap: new Map([['app', 'copy']]) };
  const chosen = { dbMap: new Map([['app', 'copy']]), collections: new Set(['app.metrics', 'app.users']) };
  it('renames the database, leaves out other databases, config.*, local.* and system.* but buckets and system.js', () => {
    expect(targetOf(all, 'app', 'users')).toEqual({ db: 'copy', coll: 'users' });
    expect(targetOf(all, 'other', 'users')).toBeUndefined();
    expect(targetOf({ dbMap: new Map([['config', 'config']]) }, 'config', 'databases')).toBeUndefined();
    expect(targetOf(all, 'app', 'system.views')).toBeUndefined();
    expect(targetOf(all, 'app', 'system.js')).toEqual({ db: 'copy', coll: 'system.js' });
    expect(targetOf(all, 'app', 'system.buckets.metrics')).toEqual({ db: 'copy', coll: 'system.buckets.metrics' });
  });
  it('with --collections, only the chosen ones (a time-series collection chosen by its name takes its buckets)', () => {
    expect(targetOf(chosen, 'app', 'users')).toEqual({ db: 'copy', coll: 'users' });
    expect(targetOf(chosen, 'app', 'orders')).toBeUndefined();
    expect(targetOf(chosen, 'app', 'system.buckets.metrics')).toEqual({ db: 'copy', coll: 'system.buckets.metrics' });
    expect(targetOf(chosen, 'app', 'system.buckets.other')).toBeUndefined();
  });
});
