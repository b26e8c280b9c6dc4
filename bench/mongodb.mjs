#!/usr/bin/env node
// MongoDB full backup and restore (issue 23) on data profiles this script generates itself, each run RUNS
// times (default 3): `dbbackup backup` (zstd, local repository) and `dbbackup restore` (into another
// database), medians, each run, CPU seconds, peak RSS, documents/s, stored size, and a check of the last
// restore (document count and a SHA-256 of every document's BSON in _id order against the source's);
// JSON under bench/results/ (mongodb-backup-*.json, mongodb-restore-*.json).
//
// NO NATIVE PEER: mongodump/mongorestore need a mongod, and none can be installed here (../shared/TESTING.md);
// the server is CongoDB, a TypeScript wire-protocol double running in this process, so its speed, not
// dbbackup's, bounds most figures. The only reference is a bare driver read of the same collections
// (`find`, raw BSON, counted and dropped) in its own node process, alternating with the backups: what the
// server and driver alone manage (labelled "reference", not a native tool).
//
// Profiles (≈ --mb of BSON each; _id an ObjectId: CongoDB's restore path takes no other):
//   text     sysbench oltp's shape: 2 collections of { id, k, c: 120 random digits, pad: 60 }
//   numeric  pgbench -i's shape: accounts { aid, bid, abalance: 0, filler: 84 blanks }, branches, tellers
//   wide     nested documents: customer sub-document, an items array, tags, Date, Decimal128, 0.2–1.4 KB binary
//   app      the earlier events (user, kind, payload text, amount, Date, tags) with an index
//   collections10k  10,000 small collections (documents per collection from --mb, at least 5)
// s/GB (of BSON) and peak RSS are printed per profile, so a run at --mb 5120 beside one at the default
// shows how cost and memory grow (CongoDB holds everything in this process's memory: mind the RAM).
//
//   npm run build && node bench/mongodb.mjs [--profiles text,numeric,wide] [--runs 3] [--mb 50]
//   node bench/mongodb.mjs --compare [BEFORE.json [AFTER.json]]   runs nothing: two stored results
//   env MONGODB_URI=mongodb://… (a real server instead; databases bench_* are dropped), DBBACKUP_BIN
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Binary, Decimal128, MongoClient, ObjectId } from 'mongodb';
import { measure } from './measure.mjs';
import { alternating, compareArgs, folderSize, loadAverage, printComparison, summary, writeResults } from './results.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: o } = parseArgs({
  options: {
    profiles: { type: 'string', default: 'text,numeric,wide' },
    runs: { type: 'string', default: '3' },
    mb: { type: 'string', default: '50' },
    compare: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const BIN = process.env.DBBACKUP_BIN ?? join(root, 'bin', 'dbbackup.js');
const RUNS = Math.max(1, Number(o.runs));
const TARGET_MB = Number(o.mb);
const NO_PEER = 'no native peer: mongodump/mongorestore need a mongod, which cannot run here (CongoDB is a JS double)';

/** The reference read, in its own process: every document of every collection of argv[2], raw. */
const RAW_READ = `import('mongodb').then(async ({ MongoClient }) => {
  const [url, db, want] = process.argv.slice(1); const c = new MongoClient(url); let n = 0;
  for (const { name } of await c.db(db).listCollections().toArray())
    for await (const d of c.db(db).collection(name).find({}, { raw: true, batchSize: 1000 })) n += d.length > 0;
  await c.close(); if (n !== Number(want)) throw new Error('read ' + n + ' of ' + want); })`;

if (o.compare) {
  const named = process.argv.slice(2).some((a) => a.endsWith('.json'));
  for (const bench of named ? ['mongodb-backup'] : ['mongodb-backup', 'mongodb-restore']) {
    console.log(`\n== ${bench}`);
    await printComparison(await compareArgs(bench));
  }
  process.exit(0);
}

const work = await mkdtemp(join(tmpdir(), 'mongodb-bench-'));
const env = { ...process.env, DBBACKUP_DATA_DIR: join(work, 'catalog') };
const server = process.env.MONGODB_URI ? undefined : await startCongo();
const url = process.env.MONGODB_URI ?? server.url;
const client = new MongoClient(url);
const backups = [];
const restores = [];
console.log(NO_PEER);
try {
  await client.connect();
  for (const profile of o.profiles.split(',')) {
    const db = `bench_${profile}`;
    const target = `bench_${profile}_restored`;
    for (const name of [db, target]) await client.db(name).dropDatabase();
    let t = Date.now();
    const docs = await seed(client.db(db), profile, TARGET_MB * 1e6);
    const bsonMB = await dataMB(db);
    log(`${profile}: ${docs.toLocaleString()} documents, ${bsonMB.toFixed(1)} MB of BSON in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    t = Date.now();
    const sourceHash = await contentHash(db);
    log(`${profile}: source hashed in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    const repo = join(work, 'repo');
    const back = { rawread: [], ours: [] };
    let repoBytes = 0;
    await alternating(['rawread', 'ours'], RUNS, async (who) => {
      if (who === 'rawread') back.rawread.push(await timed(process.execPath, ['--input-type=module', '-e', RAW_READ, url, db, String(docs)], root));
      else {
        await rm(repo, { recursive: true, force: true });
        back.ours.push(await timed(process.execPath, [BIN, 'backup', '--db', 'mongodb', '--url', url, '--database', db, '--out', repo, '--quiet']));
        repoBytes = await folderSize(repo);
      }
      log(`${profile} backup ${who}: ${back[who].at(-1).seconds.toFixed(2)} s`);
    });
    if (!process.env.MONGODB_URI) await client.db(db).dropDatabase(); // CongoDB keeps every copy in this process's memory
    const rest = [];
    for (let i = 0; i < RUNS; i++) {
      await client.db(target).dropDatabase();
      rest.push(await timed(process.execPath, [BIN, 'restore', '--from', repo, '--db', 'mongodb', '--url', url, '--database', db, '--target-database', target, '--quiet']));
      log(`${profile} restore ours: ${rest.at(-1).seconds.toFixed(2)} s`);
    }
    const restoredDocs = await client.db(target).stats().then((s) => s.objects);
    const same = (await contentHash(target)) === sourceHash;
    const check = `${restoredDocs.toLocaleString()} of ${docs.toLocaleString()} documents, content ${same ? 'same' : 'DIFFERENT'}`;
    if (!same || restoredDocs !== docs) process.exitCode = 1;
    for (const name of [db, target]) await client.db(name).dropDatabase();
    await rm(repo, { recursive: true, force: true });
    const loadavg = await loadAverage();
    const ours = summary(back.ours);
    const raw = summary(back.rawread);
    backups.push({ profile, documents: docs, bsonMB, repoMB: repoBytes / 1e6, dbbackup: ours, peers: { rawread: raw }, ratios: { rawread: raw.median / ours.median }, nativePeer: null, loadavg });
    restores.push({ profile, documents: docs, bsonMB, dbbackup: summary(rest), check, nativePeer: null, loadavg });
  }
} finally {
  await client.close();
  await server?.stop();
  await rm(work, { recursive: true, force: true });
}
console.log(`\nMongoDB (${process.env.MONGODB_URI ? 'MONGODB_URI' : 'CongoDB, in the bench process'}), medians of ${RUNS}, ${BIN}`);
console.log(`${NO_PEER}.\nreference = a bare driver read of the same collections (raw BSON, counted), not a backup tool; ratio = its s / dbbackup s`);
for (const [i, b] of backups.entries()) {
  const r = restores[i];
  console.log(`\n${b.profile}: ${b.documents.toLocaleString()} documents, ${b.bsonMB.toFixed(1)} MB of BSON   (load average ${b.loadavg})\n  restore check: ${r.check}`);
  const line = (tool, s, extra = '') =>
    console.log(`  ${tool.padEnd(34)} ${s.median.toFixed(2).padStart(6)} s (${s.runs.join(' ')})  ${Math.round(b.documents / s.median).toLocaleString().padStart(9)} docs/s  ${(s.median / (b.bsonMB / 1000)).toFixed(1).padStart(6)} s/GB  CPU ${s.clientCpu.toFixed(2)} s  RSS ${s.peakRssMB.toFixed(0).padStart(4)} MB${extra}`);
  line('reference: driver raw read', b.peers.rawread, `   ratio ${b.ratios.rawread.toFixed(2)}×`);
  line('dbbackup backup (zstd)', b.dbbackup, `  ${b.repoMB.toFixed(1)} MB stored`);
  line('dbbackup restore', r.dbbackup);
}
const meta = { bin: BIN, targetMB: TARGET_MB, runs: RUNS, server: process.env.MONGODB_URI ? 'MONGODB_URI' : 'CongoDB', nativePeer: NO_PEER };
console.log(`\nwritten ${await writeResults('mongodb-backup', { ...meta, results: backups })}`);
console.log(`written ${await writeResults('mongodb-restore', { ...meta, results: restores })}`);

/** Wall seconds, peak RSS and CPU seconds of one command (the server's CPU is this process's: not split out). */
async function timed(cmd, args, cwd = work) {
  const r = await measure(cmd, args, { env, cwd });
  return { seconds: r.seconds, peakRssMB: r.peakRssMB, clientCpu: r.cpuSeconds, serverCpu: 0 };
}

/** Inserts the profile's documents until about `bytes` of BSON; returns how many. */
async function seed(database, profile, bytes) {
  const digits = (groups) => Array.from({ length: groups }, () => String(randomBytes(5).readUIntBE(0, 5) % 1e11).padStart(11, '0')).join('-');
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];
  const shapes = {
    text: { size: 260, collections: ['sbtest1', 'sbtest2'], doc: (i) => ({ _id: new ObjectId(), id: i, k: Math.floor(Math.random() * 1e6), c: digits(10), pad: digits(5) }) },
    numeric: { size: 165, collections: ['pgbench_accounts'], doc: (i) => ({ _id: new ObjectId(), aid: i, bid: Math.floor((i - 1) / 100000) + 1, abalance: 0, filler: ' '.repeat(84) }) },
    wide: {
      size: 2000,
      collections: ['documents'],
      doc: (i) => ({
        _id: new ObjectId(), id: i, uuid: randomBytes(16).toString('hex'), created: new Date(1_700_000_000_000 + i * 37_000), price: Decimal128.fromString(((i * 7919) % 100000 / 100).toFixed(2)),
        customer: { id: i % 100_003, name: `customer ${i % 9973}`, tier: ['gold', 'silver', 'bronze'][i % 3] },
        items: [{ sku: `SKU-${i % 5003}`, qty: (i % 7) + 1, price: (i % 997) / 10 }, { sku: `SKU-${i % 4001}`, qty: 1, price: (i % 503) / 10 }],
        tags: [words[i % 8], words[(i * 3) % 8]], thumb: new Binary(Buffer.concat([randomBytes(200 + (i % 800)), Buffer.alloc(600)])),
      }),
    },
    app: {
      size: 210,
      collections: ['events'],
      doc: (i) => ({ _id: new ObjectId(), user: i % 100_003, kind: words[i % 8], payload: `${words[(i * 7) % 8]} event number ${i} with a little text to make it realistic`, amount: (i % 10_000) / 100, at: new Date(1_700_000_000_000 + i * 1000), tags: [words[i % 3], words[i % 5]] }),
    },
  };
  if (profile === 'collections10k') {
    const per = Math.max(5, Math.round(bytes / 10000 / 90));
    for (let c = 1; c <= 10000; c++) {
      await database.collection(`c${String(c).padStart(5, '0')}`).insertMany(Array.from({ length: per }, (_, i) => ({ _id: new ObjectId(), n: i + 1, name: `row ${i + 1} of ${c}`, value: (i * 7919 % 100000) / 100, at: new Date(1_700_000_000_000 + i * 1000) })));
    }
    return 10000 * per;
  }
  const shape = shapes[profile];
  if (!shape) throw new Error(`unknown profile ${profile} (${Object.keys(shapes).join(', ')})`);
  const total = Math.max(1, Math.round(bytes / shape.size));
  const per = Math.ceil(total / shape.collections.length);
  for (const [c, name] of shape.collections.entries()) {
    const coll = database.collection(name);
    for (let done = 0; done < per; ) {
      const n = Math.min(5000, per - done);
      await coll.insertMany(Array.from({ length: n }, (_, k) => shape.doc(c * per + done + k + 1)), { ordered: false });
      done += n;
    }
  }
  if (profile === 'text') for (const name of shape.collections) await database.collection(name).createIndex({ k: 1 });
  if (profile === 'numeric') {
    const scale = Math.ceil(per / 100000);
    await database.collection('pgbench_branches').insertMany(Array.from({ length: scale }, (_, i) => ({ _id: new ObjectId(), bid: i + 1, bbalance: 0, filler: ' '.repeat(88) })));
    await database.collection('pgbench_tellers').insertMany(Array.from({ length: scale * 10 }, (_, i) => ({ _id: new ObjectId(), tid: i + 1, bid: Math.floor(i / 10) + 1, tbalance: 0, filler: ' '.repeat(84) })));
  }
  if (profile === 'wide') await database.collection('documents').createIndex({ uuid: 1 }, { unique: true });
  if (profile === 'app') await database.collection('events').createIndex({ user: 1, at: -1 });
  const counts = await Promise.all((await database.listCollections().toArray()).map(({ name }) => database.collection(name).countDocuments()));
  return counts.reduce((a, b) => a + b, 0);
}

async function dataMB(name) {
  return (await client.db(name).stats()).dataSize / 1e6;
}

/** SHA-256 over every collection (by name) and its documents' BSON in _id order, plus index keys. */
async function contentHash(name) {
  const hash = createHash('sha256');
  const database = client.db(name);
  for (const { name: coll } of (await database.listCollections().toArray()).sort((a, b) => a.name.localeCompare(b.name))) {
    hash.update(`${coll}\0`);
    for (const ix of (await database.collection(coll).indexes()).map((i) => JSON.stringify([i.key, !!i.unique])).sort()) hash.update(ix);
    for await (const doc of database.collection(coll).find({}, { raw: true, sort: { _id: 1 }, batchSize: 1000 })) hash.update(doc);
  }
  return hash.digest('hex');
}

function log(msg) {
  process.stderr.write(`[mongodb] ${msg}\n`);
}

/**
 * The tests' CongoDB (test/helpers/congodb.ts through tsx: fetched into .test-servers/congodb once, and
 * shimmed so that _ids, BSON types, collection options and index specs round-trip as on a mongod; the
 * bare package fails dbbackup's restore on its own _id handling), with more heartbeat patience than a
 * mongod needs: CongoDB answers on one JS thread, so it cannot answer while it builds a large index.
 */
async function startCongo() {
  const { register } = await import('tsx/esm/api');
  register();
  const { startCongo: start } = await import(pathToFileURL(join(root, 'test/helpers/congodb.ts')).href);
  const congo = await start();
  return { url: `${congo.url()}&connectTimeoutMS=600000&socketTimeoutMS=0`, stop: () => congo.stop() };
}
