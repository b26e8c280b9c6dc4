import { BSON, Timestamp } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongodbConnector } from '../../../src/adapters/connectors/mongodb/mongodb-connector.js';
import { type CongoHandle, startCongo } from '../../helpers/congodb.js';
import type { RecordedOplog } from '../../helpers/congodb-oplog.js';

/** `doctor`'s oplog window for MongoDB sources (CongoDB with the oplog double, and without: a standalone). */
const noop = (t: number) => Buffer.from(BSON.serialize({ op: 'n', ns: '', o: { msg: 'periodic noop' }, ts: new Timestamp({ t, i: 1 }), t: BSON.Long.fromNumber(1), wall: new Date(t * 1000) }));
const HOUR = 3_600_000;

describe('doctor: the MongoDB oplog window', () => {
  const start = 1_760_000_000;
  // A window of exactly 10 hours.
  const rs: RecordedOplog = { name: 'rs0', entries: [noop(start), noop(start + 36_000)] };
  let set: CongoHandle;
  let solo: CongoHandle;
  const connector = new MongodbConnector();
  const oplog = async (url: string, request: { incremental: boolean; intervalMs?: number }) =>
    (await connector.diagnose({ engine: 'mongodb', url }, { subject: 'source m', ...request })).find((f) => f.check === 'oplog')!;

  beforeAll(async () => {
    set = await startCongo({ replicaSet: rs });
    solo = await startCongo();
  });
  afterAll(async () => {
    await set?.stop();
    await solo?.stop();
  });

  it('reports the window, and compares it with the longest wait between scheduled incrementals', async () => {
    expect(await oplog(set.url(), { incremental: false })).toMatchObject({ status: 'ok', message: expect.stringMatching(/^oplog window 10\.0 h/) });
    expect(await oplog(set.url(), { incremental: true, intervalMs: 2 * HOUR })).toMatchObject({ status: 'ok' });
    expect(await oplog(set.url(), { incremental: true, intervalMs: 6 * HOUR })).toMatchObject({ status: 'warn', fix: expect.stringMatching(/replSetResizeOplog/) });
    expect(await oplog(set.url(), { incremental: true, intervalMs: 24 * HOUR })).toMatchObject({ status: 'fail', message: expect.stringMatching(/E_OPLOG_ROLLED/) });
  });

  it('a standalone mongod: a failure when incrementals are configured, told otherwise; a single-node replica set is enough', async () => {
    expect(await oplog(solo.url(), { incremental: true })).toMatchObject({ status: 'fail', fix: expect.stringMatching(/single-node one is enough/) });
    expect(await oplog(solo.url(), { incremental: false })).toMatchObject({ status: 'ok', message: expect.stringMatching(/only full backups/) });
  });

  it('prints least-privilege users for backups (the oplog included) and restores', () => {
    expect(connector.grants({ engine: 'mongodb', url: 'mongodb://h/app' })).toMatch(/role: 'read', db: 'local'[\s\S]*readWrite', db: 'app'/);
  });
});
