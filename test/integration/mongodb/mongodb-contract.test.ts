import { type Document, Int32, Long } from 'mongodb';
import { afterAll, beforeAll } from 'vitest';
import { mongodbPlugin } from '../../../src/adapters/connectors/mongodb/mongodb-plugin.js';
import { insertBatch } from '../../../src/adapters/connectors/mongodb/mongodb-insert.js';
import type { ConnectionTarget } from '../../../src/application/ports/connection-target.js';
import { type Contents, databaseConnectorContract } from '../../contracts/database-connector-contract.js';
import { type CongoHandle, startCongo } from '../../helpers/congodb.js';
import { anyDb, orderedRawDocument, snapshot, typedDocuments } from './fixtures.js';

// CongoDB (a wire-protocol stand-in, see TESTING.md): no authentication, so no bad-credentials case.
let congo: CongoHandle;
let n = 0;

beforeAll(async () => {
  // A replica set whose oplog the double writes from the server's own writes (congodb-oplog.ts),
  // so the change-capture case sees live changes; recorded-entry formats: oplog-*.test.ts.
  congo = await startCongo({ replicaSet: { name: 'rs0', entries: [], recordWrites: true } });
});
afterAll(() => congo?.stop());

const at = (database?: string, options?: Record<string, unknown>): ConnectionTarget => ({
  engine: 'mongodb',
  url: congo.url(),
  ...(database ? { database } : {}),
  ...(options ? { options } : {}),
});

databaseConnectorContract('mongodb (CongoDB)', {
  plugin: mongodbPlugin,
  async source() {
    const name = `src_${++n}`;
    const db = anyDb(congo.client, name);
    // Every BSON type of the fidelity suite (the 16 MiB document stays there), field order kept.
    await db.collection('types').insertMany(typedDocuments() as Document[] as never[]);
    const ordered = orderedRawDocument();
    await insertBatch(db.raw, 'types', { parts: [ordered], documents: 1, bytes: ordered.length });
    await db.collection('types').createIndex({ kind: 1 }, { name: 'kind' });
    await db.collection('things').insertMany(Array.from({ length: 50 }, (_, i) => ({ _id: new Int32(i), n: Long.fromNumber(i * 1e10) })));
    await db.collection('we ird/na%me.x').insertOne({ _id: new Int32(1), s: '' });
    await db.command({ create: 'empty' });
    return at(name);
  },
  target: async () => at(undefined, { targetDatabase: `target_${++n}` }),
  async contents(t) {
    const db = (t.options?.targetDatabase as string | undefined) ?? t.database!;
    const out: Contents = {};
    for (const [name, s] of Object.entries(await snapshot(congo.client, db))) out[name] = JSON.stringify(s);
    return out;
  },
  selective: ['things', 'empty'],
  async mutate(t) {
    const db = anyDb(congo.client, t.database!);
    await db.collection('we ird/na%me.x').insertOne({ _id: new Int32(2), s: 'new' });
    await db.collection('we ird/na%me.x').updateOne({ _id: new Int32(1) }, { $set: { s: 'changed' } });
    await db.collection('things').deleteOne({ _id: new Int32(3) });
    await db.collection('fresh').insertOne({ _id: new Int32(1), s: 'created after the full' });
  },
});
