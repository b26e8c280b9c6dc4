#!/usr/bin/env node
// Backups to cloud storage (issue 23): `dbbackup backup --file SRC --out s3://…` and `--out azure://…`
// against the same data backed up the native way and uploaded, to the emulators the tests use (s3rver,
// azurite; throwaway, on 127.0.0.1), on data profiles this script generates itself (bench/sqlite-data.mjs:
// text = sysbench oltp's shape, numeric = pgbench -i's, wide = JSON + BLOB rows; also app and tables10k
// = 10,000 small tables; `--mb 5120` for the size check, s/GB is printed), each run RUNS times
// rotating which tool goes first. Peers, each timed whole (copy, compress, upload):
//   aws  (S3)    `sqlite3 .backup` + `zstd -1` + `aws s3 cp` (the AWS CLI, when one runs here)
//   sdk  (both)  `sqlite3 .backup` + `zstd -1` + a plain upload of that file with the same SDK dbbackup
//                uses (@aws-sdk/lib-storage Upload; @azure/storage-blob uploadFile) in a fresh node
// There is no Azure CLI here (`az`), so Azure has no native-CLI peer, only the SDK one.
// Prints medians, each run, CPU seconds (process tree), peak RSS, stored bytes (listed on the emulator) and
// ratios (peer s / dbbackup s, > 1: dbbackup faster); JSON as bench/results/storage-*.json.
//
//   npm run build && node bench/storage.mjs [--profiles text,numeric,wide] [--runs 3] [--mb 100] [--targets s3,azure]
//   node bench/storage.mjs --compare [BEFORE.json [AFTER.json]]   runs nothing: two stored results
//   node bench/storage.mjs --throughput [--size-mib 1024] [--part-mib 16] [--targets s3,azure] [--concurrency 1,4,8] [--json]
//       the adapters alone: a generated stream through BlobStore.put at 1, 4 and 8 parts in flight,
//       each in a fresh child process (its own peak RSS)
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measure as measureCommand } from './measure.mjs';
import { alternating, compareArgs, loadAverage, printComparison, summary, writeResults } from './results.mjs';
import { buildSqliteProfileDb } from './sqlite-data.mjs';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'; // the SDK's notice about Node 20
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = process.env.DBBACKUP_BIN ?? join(ROOT, 'bin', 'dbbackup.js');
const MiB = 1 << 20;
const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const S3_KEYS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };
const PEER_NAMES = { aws: 'sqlite3 .backup + zstd -1 + aws s3 cp', sdk: 'sqlite3 .backup + zstd -1 + SDK upload' };

const { values } = parseArgs({
  options: {
    profiles: { type: 'string', default: 'text,numeric,wide' },
    runs: { type: 'string', default: '3' },
    mb: { type: 'string', default: '100' },
    compare: { type: 'boolean', default: false },
    throughput: { type: 'boolean', default: false },
    'size-mib': { type: 'string', default: '1024' },
    'part-mib': { type: 'string', default: '16' },
    targets: { type: 'string', default: 's3,azure' },
    concurrency: { type: 'string', default: '1,4,8' },
    json: { type: 'boolean', default: false },
    // internal: one measurement in this process
    child: { type: 'string' },
    endpoint: { type: 'string' },
    upload: { type: 'string' },
    key: { type: 'string' },
  },
  allowPositionals: true,
});

if (values.upload) {
  await plainUpload(values.child, values.endpoint, values.upload, values.key);
} else if (values.child) {
  await measure(values.child, values.endpoint, Number(values.concurrency), Number(values['size-mib']), Number(values['part-mib']));
} else if (values.compare) {
  await printComparison(await compareArgs('storage'));
} else if (values.throughput) {
  await throughput();
} else {
  await profiles();
}

async function throughput() {
  const sizeMiB = Number(values['size-mib']);
  const targets = values.targets.split(',');
  const levels = values.concurrency.split(',').map(Number);
  const rows = [];
  for (const target of targets) {
    const server = target === 's3' ? await startS3rver() : await startAzurite();
    try {
      for (const c of levels) {
        const r = await runChild(target, server.endpoint, c, sizeMiB, Number(values['part-mib']));
        rows.push(r);
        if (!values.json) {
          console.log(
            `${target.padEnd(6)} parts in flight ${String(c).padStart(2)}  ${sizeMiB} MiB in ${r.seconds.toFixed(1)} s  ` +
              `${r.mibPerSec.toFixed(0).padStart(4)} MiB/s  peak RSS ${r.peakRssMiB.toFixed(0)} MiB`,
          );
        }
      }
    } finally {
      await server.stop();
    }
  }
  if (values.json) console.log(JSON.stringify(rows, null, 2));
}

/** Per profile and target: dbbackup's backup to the emulator against the peers, RUNS rounds each. */
async function profiles() {
  const runs = Math.max(1, Number(values.runs));
  const targetMB = Number(values.mb);
  const dir = await mkdtemp(join(tmpdir(), 'storage-bench-'));
  const awsCli = awsCliVersion();
  console.log(awsCli ? `native peer for S3: ${awsCli}` : 'no AWS CLI here: S3 has no native-CLI peer, only the SDK upload');
  console.log('no Azure CLI (az) here: Azure has no native-CLI peer, only the SDK upload');
  const results = [];
  const servers = {};
  try {
    for (const target of values.targets.split(',')) servers[target] = target === 's3' ? await startS3rver() : await startAzurite();
    for (const profile of values.profiles.split(',')) {
      const src = join(dir, `${profile}.db`);
      buildSqliteProfileDb(src, profile, targetMB);
      const dbMB = (await stat(src)).size / 1e6;
      log(`${profile}: built ${dbMB.toFixed(1)} MB`);
      for (const [target, server] of Object.entries(servers)) {
        const peers = target === 's3' && awsCli ? ['aws', 'sdk'] : ['sdk'];
        const times = Object.fromEntries([...peers, 'ours'].map((t) => [t, []]));
        const sizes = {};
        let n = 0;
        await alternating([...peers, 'ours'], runs, async (who) => {
          const prefix = `${profile}-${who}-${n++}`;
          const copy = join(dir, 'peer.db');
          const native = `rm -f '${copy}' '${copy}.zst' && sqlite3 '${src}' ".backup '${copy}'" && zstd -q -1 -f '${copy}' -o '${copy}.zst'`;
          const env = { ...process.env, ...server.env, AWS_CONFIG_FILE: join(dir, 'no-aws-config'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
          const commands = {
            aws: ['sh', ['-c', `${native} && aws --endpoint-url '${server.endpoint}' s3 cp '${copy}.zst' 's3://bench/${prefix}/main.sqlite.zst' --only-show-errors`]],
            sdk: ['sh', ['-c', `${native} && '${process.execPath}' '${fileURLToPath(import.meta.url)}' --child ${target} --endpoint '${server.endpoint}' --upload '${copy}.zst' --key '${prefix}/main.sqlite.zst'`]],
            ours: [process.execPath, [BIN, 'backup', '--file', src, '--out', target === 's3' ? `s3://bench/${prefix}` : `azure://devstoreaccount1/bench/${prefix}`, '--quiet']],
          };
          const r = await measureCommand(...commands[who], { env: { ...env, DBBACKUP_DATA_DIR: join(dir, 'catalog') }, cwd: dir });
          times[who].push({ seconds: r.seconds, peakRssMB: r.peakRssMB, clientCpu: r.cpuSeconds, serverCpu: 0 });
          sizes[who] = await server.drop(prefix);
          log(`${profile} → ${target} ${who}: ${r.seconds.toFixed(2)} s`);
        });
        const ours = summary(times.ours);
        const peerSums = Object.fromEntries(peers.map((p) => [p, { ...summary(times[p]), sizeMB: sizes[p] / 1e6 }]));
        results.push({
          profile: `${profile}→${target}`, dbMB, repoMB: sizes.ours / 1e6, dbbackup: ours, peers: peerSums,
          ratios: Object.fromEntries(peers.map((p) => [p, peerSums[p].median / ours.median])), loadavg: await loadAverage(),
        });
      }
      await rm(src, { force: true });
    }
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`\nbackups to the emulators, medians of ${runs} (rotating order), ${BIN}`);
  console.log('ratio = peer s / dbbackup s (> 1: dbbackup faster); s/GB of the database file; CPU = user+sys of the process tree (the emulator\'s not counted)');
  for (const r of results) {
    console.log(`\n${r.profile}: ${r.dbMB.toFixed(1)} MB   (load average ${r.loadavg})`);
    const line = (tool, s, sizeMB, ratio = '') =>
      console.log(`  ${tool.padEnd(40)} ${s.median.toFixed(2).padStart(6)} s (${s.runs.join(' ')})  ${(s.median / (r.dbMB / 1000)).toFixed(2).padStart(6)} s/GB  CPU ${s.clientCpu.toFixed(2)} s  RSS ${s.peakRssMB.toFixed(0).padStart(4)} MB  ${sizeMB.toFixed(1).padStart(7)} MB stored${ratio}`);
    for (const [p, s] of Object.entries(r.peers)) line(PEER_NAMES[p], s, s.sizeMB, `   ratio ${r.ratios[p].toFixed(2)}×`);
    line('dbbackup backup (zstd)', r.dbbackup, r.repoMB);
  }
  console.log(`\nwritten ${await writeResults('storage', { bin: BIN, targetMB, runs, results })}`);
}

function awsCliVersion() {
  try {
    return execFileSync('aws', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split(' ')[0];
  } catch {
    return undefined;
  }
}

/** The SDK peer: uploads `file` as `key` in the bench bucket/container, as a plain SDK user would. */
async function plainUpload(target, endpoint, file, key) {
  const { createReadStream } = await import('node:fs');
  if (target === 's3') {
    const { S3Client } = await import('@aws-sdk/client-s3');
    const { Upload } = await import('@aws-sdk/lib-storage');
    const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
    await new Upload({ client, params: { Bucket: 'bench', Key: key, Body: createReadStream(file) }, partSize: 8 * MiB, queueSize: 4 }).done();
    client.destroy();
  } else {
    const { BlobServiceClient, StorageSharedKeyCredential } = await import('@azure/storage-blob');
    const service = new BlobServiceClient(endpoint, new StorageSharedKeyCredential('devstoreaccount1', AZURITE_KEY));
    await service.getContainerClient('bench').getBlockBlobClient(key).uploadFile(file, { blockSize: 4 * MiB, concurrency: 4 });
  }
}

/** Lists and deletes what is stored under `prefix/` on S3; returns its bytes. */
async function dropS3(endpoint, prefix) {
  const { S3Client, ListObjectsV2Command, DeleteObjectsCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  let bytes = 0;
  for (let token; ; ) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: 'bench', Prefix: `${prefix}/`, ContinuationToken: token }));
    const objects = page.Contents ?? [];
    bytes += objects.reduce((sum, x) => sum + x.Size, 0);
    if (objects.length) await client.send(new DeleteObjectsCommand({ Bucket: 'bench', Delete: { Objects: objects.map((x) => ({ Key: x.Key })) } }));
    if (!page.IsTruncated) break;
    token = page.NextContinuationToken;
  }
  client.destroy();
  return bytes;
}

/** Lists and deletes what is stored under `prefix/` on Azure; returns its bytes. */
async function dropAzure(endpoint, prefix) {
  const { BlobServiceClient, StorageSharedKeyCredential } = await import('@azure/storage-blob');
  const container = new BlobServiceClient(endpoint, new StorageSharedKeyCredential('devstoreaccount1', AZURITE_KEY)).getContainerClient('bench');
  let bytes = 0;
  for await (const blob of container.listBlobsFlat({ prefix: `${prefix}/` })) {
    bytes += blob.properties.contentLength ?? 0;
    await container.deleteBlob(blob.name);
  }
  return bytes;
}

function log(msg) {
  process.stderr.write(`[storage] ${msg}\n`);
}

function runChild(target, endpoint, concurrency, sizeMiB, partMiB) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(import.meta.url), '--child', target, '--endpoint', endpoint, '--concurrency', String(concurrency), '--size-mib', String(sizeMiB), '--part-mib', String(partMiB)],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`${target} c=${concurrency} exited ${code}`))));
  });
}

async function measure(target, endpoint, concurrency, sizeMiB, partMiB) {
  const { openCloudRepository } = await import(join(ROOT, 'dist/adapters/storage/cloud/open-cloud-store.js'));
  const options = {
    s3: { endpoint, region: 'us-east-1', forcePathStyle: true, checksumMode: 'WHEN_REQUIRED', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } },
    gcs: {},
    azure: { endpoint, accountKey: AZURITE_KEY },
    partSize: partMiB * MiB,
    concurrency,
  };
  const url = target === 's3' ? 's3://bench/run' : 'azure://devstoreaccount1/bench/run';
  const repo = await openCloudRepository(url, options);
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const started = process.hrtime.bigint();
  const info = await repo.store.put(`object-c${concurrency}`, pattern(sizeMiB * MiB));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(sampler);
  peak = Math.max(peak, process.resourceUsage().maxRSS * 1024);
  if (info.size !== sizeMiB * MiB) throw new Error(`stored ${info.size} bytes, sent ${sizeMiB * MiB}`);
  await repo.store.delete(`object-c${concurrency}`);
  await repo.close();
  console.log(JSON.stringify({ target, concurrency, partMiB, sizeMiB, seconds, mibPerSec: sizeMiB / seconds, peakRssMiB: peak / MiB }));
}

/** `total` bytes of 1 MiB blocks, each stamped with its index (cheap, and not all alike). */
function pattern(total) {
  const base = Buffer.alloc(MiB);
  const seed = createHash('sha512').update('bench').digest();
  for (let i = 0; i < MiB; i += seed.length) seed.copy(base, i);
  return Readable.from(
    (function* () {
      for (let sent = 0, i = 0; sent < total; i++) {
        const block = Buffer.from(base);
        block.writeUInt32BE(i, 0);
        const chunk = block.subarray(0, Math.min(MiB, total - sent));
        sent += chunk.length;
        yield chunk;
      }
    })(),
    { objectMode: false },
  );
}

async function startS3rver() {
  const dir = await mkdtemp(join(tmpdir(), 's3rver-bench-'));
  const script = `
    const S3rver = require(process.cwd() + '/node_modules/s3rver');
    const s = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: process.argv[1], configureBuckets: [{ name: 'bench' }] });
    s.run().then(({ port }) => console.log('PORT ' + port));
    process.on('SIGTERM', () => s.close().then(() => process.exit(0)));`;
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', script, dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await waitFor(child, (line) => /^PORT (\d+)/.exec(line)?.[1]);
  const endpoint = `http://127.0.0.1:${port}`;
  return { endpoint, env: { ...S3_KEYS, DBBACKUP_S3_ENDPOINT: endpoint, DBBACKUP_S3_CHECKSUM: 'WHEN_REQUIRED' }, drop: (prefix) => dropS3(endpoint, prefix), stop: () => stop(child, dir) };
}

async function startAzurite() {
  const dir = await mkdtemp(join(tmpdir(), 'azurite-bench-'));
  const port = await freePort();
  const main = join(ROOT, 'node_modules/azurite/dist/src/blob/main.js');
  const args = [main, '--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', dir, '--silent', '--skipApiVersionCheck', '--disableTelemetry', '--loose'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await waitFor(child, (line) => (/successfully listens on/.test(line) ? port : undefined));
  const endpoint = `http://127.0.0.1:${port}/devstoreaccount1`;
  const { BlobServiceClient, StorageSharedKeyCredential } = await import('@azure/storage-blob');
  await new BlobServiceClient(endpoint, new StorageSharedKeyCredential('devstoreaccount1', AZURITE_KEY)).getContainerClient('bench').create();
  return { endpoint, env: { DBBACKUP_AZURE_ENDPOINT: endpoint, AZURE_STORAGE_KEY: AZURITE_KEY }, drop: (prefix) => dropAzure(endpoint, prefix), stop: () => stop(child, dir) };
}

function waitFor(child, parse) {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      for (const line of buf.split('\n')) {
        const v = parse(line);
        if (v) {
          child.stdout.removeAllListeners('data');
          child.stdout.resume();
          resolve(v);
          return;
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

async function stop(child, dir) {
  await new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => (clearTimeout(t), resolve()));
    child.kill('SIGTERM');
  });
  await rm(dir, { recursive: true, force: true });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
