// Bench results kept under bench/results/ (one JSON file per run, `<bench>-<time>.json`) and the
// before/after report `--compare` prints from them. A result file holds
//   { bench, bin, base?, targetMB, runs, results: [row, …] }
// and each row { profile, dbbackup: summary, peers?: { name: summary }, ratios?: { peer name: ratio },
// base?: summary, loadavg }, where a summary is { median, runs, clientCpu, serverCpu, peakRssMB }
// and ratio = the peer's median / dbbackup's (> 1: dbbackup faster). Older files with one `peer`
// and one `ratio` are read as { peer: … }.
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Medians of a tool's runs ({ seconds, clientCpu, serverCpu, peakRssMB } each) and its largest RSS. */
export function summary(ts) {
  const m = (f) => median(ts.map(f));
  return {
    median: m((t) => t.seconds),
    runs: ts.map((t) => t.seconds.toFixed(2)),
    clientCpu: m((t) => t.clientCpu),
    serverCpu: m((t) => t.serverCpu),
    peakRssMB: Math.max(...ts.map((t) => t.peakRssMB)),
  };
}

export async function loadAverage() {
  return (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
}

export async function folderSize(path) {
  let total = 0;
  for (const entry of await readdir(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath ?? entry.path, entry.name))).size;
  }
  return total;
}

/** Writes `data` as bench/results/<bench>-<ISO time>.json; returns the path. */
export async function writeResults(bench, data) {
  await mkdir(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${bench}-${new Date().toISOString().replace(/[:.]/g, '')}.json`);
  await writeFile(path, JSON.stringify({ bench, ...data }, null, 2) + '\n');
  return path;
}

/**
 * `--compare [BEFORE.json [AFTER.json]]` in a bench's argv: the two files to compare (paths, or
 * names under bench/results/), defaulting to the bench's two newest stored results;
 * `--compare-base [FILE.json]`: one run's BASE_BIN build against its own (default: the newest).
 * Returns undefined when argv has neither.
 */
export async function compareArgs(bench, argv = process.argv.slice(2)) {
  const base = argv.indexOf('--compare-base');
  if (base >= 0) {
    // One file holding both builds (a run with BASE_BIN): its base build is "before".
    const named = argv[base + 1] && !argv[base + 1].startsWith('--') ? argv[base + 1] : undefined;
    const stored = (await readdir(RESULTS_DIR).catch(() => [])).filter((f) => f.startsWith(`${bench}-`) && f.endsWith('.json')).sort();
    const file = named ? (named.includes('/') ? named : join(RESULTS_DIR, named)) : join(RESULTS_DIR, stored.at(-1) ?? '');
    return [`${file}#base`, file];
  }
  const at = argv.indexOf('--compare');
  if (at < 0) return undefined;
  const named = argv.slice(at + 1).filter((a) => !a.startsWith('--'));
  const stored = (await readdir(RESULTS_DIR).catch(() => []))
    .filter((f) => f.startsWith(`${bench}-`) && f.endsWith('.json') && /^\d/.test(f.slice(bench.length + 1)))
    .sort();
  const resolve = (f) => (f.includes('/') ? f : join(RESULTS_DIR, f));
  const files = named.length >= 2 ? named.slice(0, 2).map(resolve) : named.length === 1 ? [resolve(named[0]), join(RESULTS_DIR, stored.at(-1) ?? '')] : stored.slice(-2).map((f) => join(RESULTS_DIR, f));
  if (files.length < 2) throw new Error(`--compare needs two stored results of ${bench} under ${RESULTS_DIR} (or name them: --compare BEFORE.json AFTER.json)`);
  return files;
}

/** Prints, per profile, dbbackup's median, CPU and RSS and each ratio, before → after. */
export async function printComparison([beforePath, afterPath]) {
  const [before, after] = await Promise.all([beforePath, afterPath].map(async (p) => readResults(p)));
  console.log(`before: ${beforePath}\n        ${before.bin ?? ''}, ${before.runs ?? '?'} runs, ~${before.targetMB ?? '?'} MB`);
  console.log(`after:  ${afterPath}\n        ${after.bin ?? ''}, ${after.runs ?? '?'} runs, ~${after.targetMB ?? '?'} MB`);
  if (before.targetMB !== after.targetMB) console.log('WARNING: different data sizes; the figures are not comparable');
  const rows = [];
  for (const a of after.results) {
    const b = before.results.find((r) => r.profile === a.profile);
    if (!b) continue;
    const ra = ratiosOf(a);
    const rb = ratiosOf(b);
    const arrow = (x, y, digits = 2, unit = '') => `${x === undefined ? '-' : x.toFixed(digits)}${unit} → ${y === undefined ? '-' : y.toFixed(digits)}${unit}`;
    const row = {
      profile: a.profile,
      'dbbackup s': arrow(b.dbbackup.median, a.dbbackup.median),
      change: `${((100 * (a.dbbackup.median - b.dbbackup.median)) / b.dbbackup.median).toFixed(0)} %`,
      'client CPU s': arrow(b.dbbackup.clientCpu, a.dbbackup.clientCpu),
      'server CPU s': arrow(b.dbbackup.serverCpu, a.dbbackup.serverCpu),
      'RSS MB': arrow(b.dbbackup.peakRssMB, a.dbbackup.peakRssMB, 0),
    };
    for (const peer of Object.keys(ra)) {
      row[`${peer} s`] = arrow(peersOf(b)[peer]?.median, peersOf(a)[peer]?.median);
      row[`ratio vs ${peer}`] = arrow(rb[peer], ra[peer], 2, '×');
    }
    row.loadavg = `${b.loadavg ?? '?'} | ${a.loadavg ?? '?'}`;
    rows.push(row);
  }
  if (rows.length === 0) return console.log('no profile in common');
  for (const r of rows) {
    console.log(`\n${r.profile}`);
    for (const [k, v] of Object.entries(r)) if (k !== 'profile') console.log(`  ${k.padEnd(22)} ${v}`);
  }
}

/** A results file, or with `#base` its BASE_BIN build's figures in place of dbbackup's. */
async function readResults(path) {
  const [file, which] = path.split('#');
  const data = JSON.parse(await readFile(file, 'utf8'));
  if (which !== 'base') return data;
  if (!data.results.every((r) => r.base)) throw new Error(`${file} has no base build's figures (run with BASE_BIN)`);
  return {
    ...data,
    bin: data.base,
    results: data.results.map((r) => ({ ...r, dbbackup: r.base, ratios: r.baseRatios ?? (r.baseRatio !== undefined ? { peer: r.baseRatio } : undefined) })),
  };
}

function ratiosOf(row) {
  return row.ratios ?? (row.ratio !== undefined ? { peer: row.ratio } : {});
}

function peersOf(row) {
  return row.peers ?? (row.peer ? { peer: row.peer } : {});
}

/**
 * Runs `once(tool, round)` for every tool in each of `runs` rounds, rotating which goes first and
 * reversing the order on odd rounds, so no tool always runs first (order bias) or right after
 * another. Returns the last tool run.
 */
export async function alternating(tools, runs, once) {
  let last;
  for (let i = 0; i < runs; i++) {
    const rotated = tools.map((_, j) => tools[(j + i) % tools.length]);
    for (const tool of i % 2 ? rotated.reverse() : rotated) {
      await once(tool, i);
      last = tool;
    }
  }
  return last;
}
