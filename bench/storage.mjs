#!/usr/bin/env node
// Upload throughput and peak memory of the cloud BlobStore adapters: a 1 GiB stream (generated,
// never held whole) uploaded to s3rver and azurite at 1, 4 and 8 parts in flight.
// Each measurement runs in a fresh child process so its peak RSS is its own.
//
//   npm run build && node bench/storage.mjs [--size-mib 1024] [--part-mib 16] [--targets s3,azure] [--concurrency 1,4,8]
//
// Not part of the test suite; prints a table (and JSON with --json).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MiB = 1 << 20;
const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    'part-mib': { type: 'string', default: '16' },
    targets: { type: 'string', default: 's3,azure' },
    concurrency: { type: 'string', default: '1,4,8' },
    json: { type: 'boolean', default: false },
    // internal: one measurement in this process
    child: { type: 'string' },
    endpoint: { type: 'string' },
  },
});

if (values.child) {
  await measure(values.child, values.endpoint, Number(values.concurrency), Number(values['size-mib']), Number(values['part-mib']));
} else {
  await main();
}

async function main() {
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
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => stop(child, dir) };
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
  return { endpoint, stop: () => stop(child, dir) };
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
