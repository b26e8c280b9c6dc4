#!/usr/bin/env node
// MongoDB backup/restore benchmark: documents per second out and in, and peak RSS of the dbbackup
// process, on N documents (default 1 000 000) served by CongoDB (no mongod can be installed here;
// see ../shared/TESTING.md). A plain driver read (raw find → count) runs first as the baseline:
// it is what the server and driver alone manage, so dbbackup's own cost is the difference.
// Usage: npm run build && node bench/mongodb.mjs [documents=1000000]
// Optional: MONGODB_URI=mongodb://… to run against a real server instead (databases bench_* are dropped).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MongoClient, ObjectId } from 'mongodb';
import { measure, printTable } from './measure.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'dbbackup.js');
const total = Number(process.argv[2] ?? 1_000_000);
const work = join(root, 'bench', '.work', 'mongodb');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const env = { ...process.env, DBBACKUP_DATA_DIR: join(work, 'data') };

const server = process.env.MONGODB_URI ? undefined : await startCongo();
const url = process.env.MONGODB_URI ?? server.url;
const client = new MongoClient(url);
await client.connect();
for (const name of ['bench', 'bench_restored']) await client.db(name).dropDatabase();

console.log(`seeding ${total.toLocaleString()} documents…`);
const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];
const events = client.db('bench').collection('events');
for (let done = 0; done < total; ) {
  const n = Math.min(10_000, total - done);
  const docs = Array.from({ length: n }, (_, k) => {
    const i = done + k;
    return {
      _id: new ObjectId(),
      user: i % 100_003,
      kind: words[i % words.length],
      payload: `${words[(i * 7) % words.length]} event number ${i} with a little text to make it realistic`,
      amount: (i % 10_000) / 100,
      at: new Date(1_700_000_000_000 + i * 1000),
      tags: [words[i % 3], words[i % 5]],
    };
  });
  await events.insertMany(docs, { ordered: false });
  done += n;
}
await events.createIndex({ user: 1, at: -1 });
const rawBytes = (await client.db('bench').command({ collStats: 'events' })).size;
console.log(`collection: ${(rawBytes / 1e6).toFixed(0)} MB of BSON\n`);

const results = [];
const row = (operation, r) => {
  results.push({
    operation,
    seconds: r.seconds.toFixed(2),
    'docs/s': Math.round(total / r.seconds).toLocaleString(),
    'MB/s': (rawBytes / 1e6 / r.seconds).toFixed(1),
    'peak RSS MB': r.peakRssMB.toFixed(0),
  });
  console.log(`  ${operation}: ${r.seconds.toFixed(2)} s, peak RSS ${r.peakRssMB.toFixed(0)} MB`);
  return r;
};
const node = (...args) => measure(process.execPath, [bin, ...args], { env, cwd: work });

// The server runs in this process, so the measured commands must not block it: measure() is async.
const baselineScript = `import('mongodb').then(async ({ MongoClient }) => { const c = new MongoClient(process.argv[1]); let n = 0;
  for await (const d of c.db('bench').collection('events').find({}, { raw: true, batchSize: 10000 })) n += d.length > 0;
  await c.close(); if (n !== ${total}) throw new Error('read ' + n); })`;
const baseline = row('driver raw find only (baseline)', await measure(process.execPath, ['--input-type=module', '-e', baselineScript, url], { cwd: root }));
const backup = row('dbbackup backup (zstd-1, folder)', await node('backup', '--db', 'mongodb', '--url', url, '--database', 'bench', '--out', join(work, 'repo'), '--quiet'));
await client.db('bench').dropDatabase(); // keeps CongoDB's memory to one copy
const restore = row('dbbackup restore (raw inserts, index after)', await node('restore', '--from', join(work, 'repo'), '--db', 'mongodb', '--url', url, '--database', 'bench', '--target-database', 'bench_restored', '--quiet'));
const restored = await client.db('bench_restored').collection('events').estimatedDocumentCount();
if (restored !== total) throw new Error(`restored ${restored} documents, expected ${total}`);

printTable(results);
console.log(`\nbackup: ${(baseline.seconds / backup.seconds).toFixed(2)}x the speed of a bare raw read; peak RSS ${backup.peakRssMB.toFixed(0)} MB, restore ${restore.peakRssMB.toFixed(0)} MB (goal < 200 MB)`);
await client.db('bench_restored').dropDatabase();
await client.close();
await server?.stop();
rmSync(work, { recursive: true, force: true });

/**
 * CongoDB from .test-servers/congodb (fetched there by test/helpers/congodb.ts, the source of truth
 * for versions; fetched here the same way when the tests have not run yet), without the tests'
 * shims: ObjectId _ids and plain values need none.
 */
async function startCongo() {
  const dir = join(root, '.test-servers', 'congodb');
  const entry = join(dir, 'node_modules/@push.rocks/smartmongo/dist_ts/congodb/index.js');
  if (!existsSync(join(dir, 'READY'))) {
    mkdirSync(dir, { recursive: true });
    const deps = 'bson@6.10.4 mingo@7.2.7 @push.rocks/smartfs@1.5.0 @push.rocks/smartpath@6.0.0 @push.rocks/smartpromise@4.2.3 @push.rocks/smartrx@3.0.10';
    execFileSync('flock', ['/tmp/npm.lock', 'bash', '-c', `set -e; cd '${dir}'; echo '{"name":"congodb-test-server","private":true,"type":"module"}' > package.json;
      npm install --no-audit --no-fund --loglevel=error ${deps}; npm pack --silent @push.rocks/smartmongo@2.2.0 > /dev/null;
      mkdir -p node_modules/@push.rocks/smartmongo; tar xzf push.rocks-smartmongo-*.tgz -C node_modules/@push.rocks/smartmongo --strip-components=1;
      echo '@push.rocks/smartmongo@2.2.0 ${deps}' > READY`], { stdio: 'inherit' });
  }
  const { CongoServer } = await import(pathToFileURL(entry).href);
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = s.address();
      s.close(() => resolve(free));
    });
  });
  const congo = new CongoServer({ port, host: '127.0.0.1' });
  await congo.start();
  // CongoDB answers on one JS thread: while it builds an index over a million documents it cannot
  // answer the driver's heartbeat, so the bench gives the monitor more patience than a mongod needs.
  const options = 'directConnection=true&serverMonitoringMode=poll&connectTimeoutMS=600000&socketTimeoutMS=0';
  return { url: `mongodb://127.0.0.1:${port}/?${options}`, stop: () => congo.stop() };
}
