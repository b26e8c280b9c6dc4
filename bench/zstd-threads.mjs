#!/usr/bin/env node
// Where zstd compression runs: the main thread's share of a backup's compression, old build against new.
// Usage: [DIST=path/to/dist] node bench/zstd-threads.mjs [MB per stream=60] [streams=2] [rounds=5] [--baseline path/to/dist]
//   needs `npm run build` (or tsc output) for this build: dist/adapters/compression/zstd-codec.js.
// Feeds `streams` streams of sysbench-like rows (random digit groups, as `sysbench oltp` prepare writes)
// at once, 64 KiB at a time and a turn of the event loop apart (as socket reads arrive), through the
// codec's level-1 encoder with its default threads, and prints per build the medians of wall time,
// event-loop utilisation (the main thread's busy share) and process CPU. The order alternates by round.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { join, resolve } from 'node:path';

const args = process.argv.slice(2);
const baseAt = args.indexOf('--baseline');
const baseline = baseAt >= 0 ? args.splice(baseAt, 2)[1] : undefined;
const mb = Number(args[0] ?? 60);
const streams = Number(args[1] ?? 2);
const rounds = Number(args[2] ?? 5);
const here = process.env.DIST ?? resolve(new URL('..', import.meta.url).pathname, 'dist');
const load = async (dist) => (await import(pathToFileURL(join(dist, 'adapters/compression/zstd-codec.js')).href)).ZstdCodec;
const builds = [['this build', await load(here)], ...(baseline ? [['baseline', await load(resolve(baseline))]] : [])];

// sysbench's c/pad columns: groups of 11 random digits joined by '-', plus ids and a k column. 8 MiB
// of rows are made once per stream and sent round and round (zstd's 512 KiB window never sees the
// repeat), 64 KiB at a time, so that memory is the pipeline's and making rows costs nothing timed.
function table(size) {
  let x = 0;
  const digits = () => Array.from(randomBytes(11), (b) => b % 10).join('');
  const out = [];
  let n = 0;
  for (let id = 1; n < size; id++) {
    const row = `${id}\t${(x = (x + 7919) % 500000)}\t${Array.from({ length: 10 }, digits).join('-')}\t${Array.from({ length: 5 }, digits).join('-')}\n`;
    out.push(row);
    n += row.length;
  }
  return Buffer.from(out.join('')).subarray(0, size);
}
const tables = Array.from({ length: streams }, (_, i) => table(8 << 20));
async function* rows(size, i) {
  const t = tables[i];
  for (let n = 0; n < size; n += 64 << 10) {
    await new Promise((r) => setImmediate(r));
    const at = n % t.length;
    yield t.subarray(at, at + (64 << 10));
  }
}

async function once(Codec) {
  const codec = new Codec();
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let out = 0;
  await Promise.all(Array.from({ length: streams }, (_, i) => pipeline(
    Readable.from(rows(mb << 20, i)),
    codec.encoder(1),
    new Writable({ write(c, _e, cb) { out += c.length; cb(); } }),
  )));
  const wall = (performance.now() - t0) / 1000;
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  return { wall, mainBusy: elu.active / 1000, cpu: (cpu.user + cpu.system) / 1e6, ratio: (streams * (mb << 20)) / out };
}

const results = builds.map(() => []);
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < builds.length; k++) {
    const i = (k + r) % builds.length;
    results[i].push(await once(builds[i][1]));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const { readFileSync } = await import('node:fs');
console.log(`${streams} streams × ${mb} MB of sysbench-like rows, zstd level 1, medians of ${rounds}; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
console.log(`peak RSS of the process (all builds run): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
for (const [i, [name]] of builds.entries()) {
  const m = (k) => median(results[i].map((x) => x[k]));
  console.log(`${name.padEnd(11)} wall ${m('wall').toFixed(2)} s  main thread busy ${m('mainBusy').toFixed(2)} s  process CPU ${m('cpu').toFixed(2)} s  ratio ${m('ratio').toFixed(2)}  (walls: ${results[i].map((x) => x.wall.toFixed(2)).join(' ')})`);
}
