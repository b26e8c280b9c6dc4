import { MongoClient } from 'mongodb';
import { describe } from 'vitest';
import { mongoOplogPitrSuite } from './oplog-pitr-suite.js';
import { mongoShardedPitrSuite } from './oplog-sharded-real-suite.js';
import { mongoRoundTripSuite } from './roundtrip-suite.js';

/**
 * The same checks against a real mongod/mongos, when MONGODB_URI names one (the only suite that may
 * be absent: no MongoDB server can be installed on the CI machines). A replica set also proves the
 * snapshot read and runs the oplog point-in-time checks (oplog-pitr-suite.ts; they refuse a
 * standalone server); the suite creates and drops databases named `dbb<random>_*` only.
 *   MONGODB_URI='mongodb://user:pass@host:27017/?replicaSet=rs0&authSource=admin' npx vitest run test/integration/mongodb/real-server.test.ts
 * A sharded cluster's incrementals and point-in-time restores run when MONGODB_SHARDED_URI names a
 * mongos (oplog-sharded-real-suite.ts; never run here: written for whoever has a cluster).
 */
const uri = process.env.MONGODB_URI;
const sharded = process.env.MONGODB_SHARDED_URI;

describe.runIf(uri !== undefined && uri !== '')('real MongoDB server (MONGODB_URI)', () => {
  mongoRoundTripSuite('MongoDB backup and restore (real server)', async () => {
    const client = new MongoClient(uri!);
    await client.connect();
    return { url: uri!, client, congodb: false, stop: () => client.close() };
  });
  mongoOplogPitrSuite('MongoDB incrementals and point-in-time restores from the oplog (real replica set)', async () => {
    const client = new MongoClient(uri!);
    await client.connect();
    return { url: uri!, client, stop: () => client.close() };
  });
});

describe.runIf(sharded !== undefined && sharded !== '')('real sharded MongoDB cluster (MONGODB_SHARDED_URI, a mongos)', () => {
  mongoShardedPitrSuite('MongoDB incrementals and point-in-time restores of a sharded cluster (real mongos)', async () => {
    const client = new MongoClient(sharded!);
    await client.connect();
    return { url: sharded!, client, stop: () => client.close() };
  });
});
