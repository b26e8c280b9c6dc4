#!/usr/bin/env node
// MongoDB oplog replay benchmark: entries per second and peak RSS of a restore's replay of an
// incremental (mongodb-oplog-replay.ts), on N entries (default 1 000 000) built from entries recorded
// from real servers (test/fixtures/oplog/: PBM's insert, $v:2 update and delete of oplog_test.json,
// mongo-tools' unprepared transaction), each repeated with its own _id and timestamp: a third
// inserts, a third updates, a sixth deletes, a sixth in 10-operation transactions.
// Two figures: decoding and translating the entries alone (no server), and the replay into the
// server (CongoDB in this process unless MONGODB_URI names a real one), run as its own process so
// its peak RSS is the replay's alone (goal: <= 200 MB whatever N).
// Usage: npm run build && node bench/mongodb-oplog.mjs [entries=1000000]
// CongoDB scans a collection per update, so its replay runs on CONGO_ENTRIES (default 30 000) entries.
import { createWriteStream, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BSON, Int32, Long, MongoClient, ObjectId, Timestamp } from 'mongodb';
import { measure, printTable } from './measure.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const total = Number(process.argv[2] ?? 1_000_000);
const work = join(root, 'bench', '.work', 'mongodb-oplog');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const dist = (p) => pathToFileURL(join(root, 'dist', p)).href;

// Templates recorded from real servers.
const ejson = (p) => BSON.EJSON.parse(readFileSync(join(root, 'test/fixtures/oplog', p), 'utf8'), { relaxed: false });
const pbm = ejson('percona-backup-mongodb/pbm/oplog/testdata/oplog_test.json');
const [insertT, updateT, deleteT] = [pbm[1], pbm[2], pbm[3]];
let txnT;
try {
  txnT = BSON.EJSON.parse(readFileSync(join(root, 'test/fixtures/oplog/mongo-tools/common/txn/testdata/oplog_entries.json'), 'utf8'), { relaxed: false, legacy: true })['small, unprepared'].ops[0];
} catch {
  txnT = undefined;
}

/** Writes `total` entries to `file`; returns what the replay must leave behind. */
async function generate(file, total) {
  const out = createWriteStream(file);
  const t0 = 1_800_000_000;
  let seq = 0;
  const ts = () => {
    seq++;
    return { ts: new Timestamp({ t: t0 + Math.floor(seq / 1000), i: (seq % 1000) + 1 }), wall: new Date((t0 + seq / 1000) * 1000) };
  };
  const put = async (doc) => {
    if (!out.write(BSON.serialize(doc))) await once(out, 'drain');
  };
  // ObjectId _ids: CongoDB without the tests' shims keys documents by ObjectId.
  const id = (k) => new ObjectId(k.toString(16).padStart(24, '0'));
  const n = Math.floor(total / 3);
  for (let k = 0; k < n; k++) await put({ ...insertT, ...ts(), ns: 'bench.c', o: { ...insertT.o, _id: id(k), n: new Int32(k), text: `row ${k} with some text in it` }, o2: { _id: id(k) } });
  for (let k = 0; k < n; k++) await put({ ...updateT, ...ts(), ns: 'bench.c', o2: { _id: id(k) } });
  for (let k = 0; k < Math.floor(n / 2); k++) await put({ ...deleteT, ...ts(), ns: 'bench.c', o: { _id: id(2 * k) } });
  const txns = Math.floor((total - n * 2 - Math.floor(n / 2)) / 10);
  for (let k = 0; k < txns; k++) {
    const ops = Array.from({ length: 10 }, (_, j) => ({ op: 'i', ns: 'bench.t', o: { _id: id(1e9 + k * 10 + j), k: new Int32(k) } }));
    const base = txnT ?? { op: 'c', ns: 'admin.$cmd', lsid: { id: new BSON.UUID() } };
    await put({ ...base, ...ts(), o: { applyOps: ops }, txnNumber: Long.fromNumber(k + 1) });
  }
  out.end();
  await once(out, 'finish');
  return { entries: seq, bytes: statSync(file).size, docs: n - Math.floor(n / 2), inTxn: txns * 10 };
}

console.log(`writing ${total.toLocaleString()} oplog entries…`);
const file = join(work, 'oplog.bson');
const made = await generate(file, total);
console.log(`${made.entries.toLocaleString()} entries, ${(made.bytes / 1e6).toFixed(1)} MB\n`);

const results = [];
const row = (operation, what, seconds, peakRssMB) => {
  results.push({ operation, entries: what.entries.toLocaleString(), seconds: seconds.toFixed(2), 'entries/s': Math.round(what.entries / seconds).toLocaleString(), 'MB/s': (what.bytes / 1e6 / seconds).toFixed(1), 'peak RSS MB': peakRssMB === undefined ? '-' : peakRssMB.toFixed(0) });
};

// 1. Decode and translate only, in its own process (its peak RSS over every entry).
{
  const decode = `
const { parseEntry } = await import(${JSON.stringify(dist('adapters/connectors/mongodb/mongodb-oplog-entry.js'))});
const { writesOf } = await import(${JSON.stringify(dist('adapters/connectors/mongodb/mongodb-oplog-apply.js'))});
const { bsonDocuments } = await import(${JSON.stringify(dist('adapters/connectors/mongodb/bson-stream.js'))});
const { createReadStream } = await import('node:fs');
let writes = 0;
for await (const raw of bsonDocuments(createReadStream(process.argv[1], { highWaterMark: 1 << 20 }), 'bench')) {
  const e = parseEntry(raw, 'bench');
  if (e.op === 'i' || e.op === 'u' || e.op === 'd') writes += writesOf(e).length;
}
if (writes === 0) throw new Error('nothing translated');
`;
  const r = await measure(process.execPath, ['--input-type=module', '-e', decode, file], { cwd: root });
  row('decode + translate (no server)', made, r.seconds, r.peakRssMB);
}

// 2. The replay into a server, in its own process.
const server = process.env.MONGODB_URI ? undefined : await startCongo();
const url = process.env.MONGODB_URI ?? server.url;
const client = new MongoClient(url);
await client.connect();
await client.db('bench_oplog').dropDatabase();
const script = `
import { createReadStream, statSync } from 'node:fs';
const { MongodbConnector } = await import(${JSON.stringify(dist('adapters/connectors/mongodb/mongodb-connector.js'))});
const file = process.argv[1];
const size = statSync(file).size;
const index = Buffer.from(JSON.stringify({ format: 'dbbackup-mongodb-oplog-index', version: 1, from: null, to: { t: 0, i: 0 }, entries: 0, bytes: size, transactions: 0, namespaces: {} }));
const parts = [
  { name: 'changes/oplog.bson', role: 'changes', rawSize: size, storedSize: size, sha256: '', codecs: [] },
  { name: 'changes/oplog-index.json', role: 'changes', rawSize: index.length, storedSize: index.length, sha256: '', codecs: [] },
];
const link = {
  manifest: { id: 'bench', kind: 'incremental', parts, objects: [], engineInfo: { databases: ['bench'] } },
  async open(p) { return p.name === 'changes/oplog.bson' ? createReadStream(file, { highWaterMark: 1 << 20 }) : (await import('node:stream')).Readable.from([index]); },
};
const session = await new MongodbConnector().connect({ engine: 'mongodb', url: process.argv[2], options: { targetDatabase: 'bench_oplog' } }, 'restore');
const r = await session.changes.applyChanges(link, undefined, new AbortController().signal);
await session.close();
if (r.rows === 0) throw new Error('nothing replayed');
`;
// CongoDB scans a whole collection for every update (no _id index): its replay is kept small.
const replayTotal = process.env.MONGODB_URI ? total : Math.min(total, Number(process.env.CONGO_ENTRIES ?? 30_000));
const replayFile = replayTotal === total ? file : join(work, 'replay.bson');
const replayMade = replayTotal === total ? made : await generate(replayFile, replayTotal);
const replay = await measure(process.execPath, ['--input-type=module', '-e', script, replayFile, url], { cwd: root });
if (replay.code !== 0) throw new Error(`the replay failed: ${replay.stderr ?? ''}`);
row(`replay into ${process.env.MONGODB_URI ? 'the server' : 'CongoDB'} (ordered bulk writes)`, replayMade, replay.seconds, replay.peakRssMB);
const docs = await client.db('bench_oplog').collection('c').countDocuments();
const inTxn = await client.db('bench_oplog').collection('t').countDocuments();
if (docs !== replayMade.docs || inTxn !== replayMade.inTxn) throw new Error(`replayed state: ${docs} documents in c (expected ${replayMade.docs}), ${inTxn} in t (expected ${replayMade.inTxn})`);

printTable(results);
console.log(`\nreplay peak RSS ${replay.peakRssMB.toFixed(0)} MB (goal <= 200 MB); server: ${process.env.MONGODB_URI ? 'MONGODB_URI' : 'CongoDB in this process'}`);
await client.db('bench_oplog').dropDatabase();
await client.close();
await server?.stop();
rmSync(work, { recursive: true, force: true });

async function startCongo() {
  const entry = join(root, '.test-servers/congodb/node_modules/@push.rocks/smartmongo/dist_ts/congodb/index.js');
  const { CongoServer } = await import(pathToFileURL(entry).href);
  const { createServer } = await import('node:net');
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = s.address();
      s.close(() => resolve(free));
    });
  });
  const congo = new CongoServer({ port, host: '127.0.0.1' });
  await congo.start();
  return { url: `mongodb://127.0.0.1:${port}/?directConnection=true&serverMonitoringMode=poll&socketTimeoutMS=0`, stop: () => congo.stop() };
}
