// The reliability suite's bookkeeping: a seeded random source (a failing trial reproduces with its
// seed), families of trials, and the report (a table per family and the same figures as JSON).
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMIT_MS, watchTrial } from './cli-watch.js';

/** mulberry32: small, seeded, good enough to pick kill moments and mutations. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

/** One failed trial: what was done (enough to reproduce it with the seed) and what was wrong. */
export interface TrialFailure {
  trial: number;
  seed: number;
  what: string;
  problems: string[];
}

export interface FamilyResult {
  family: string;
  trials: number;
  failures: TrialFailure[];
  /** Per variant (operation, mutation kind…): trials run. */
  variants: Record<string, number>;
  ms: number;
}

/**
 * Runs `trials` trials of a family; `trial(i, seed)` returns the problems found (empty: it held) and
 * the variant it exercised. A trial that throws is a failure too (its message is the problem). Each
 * process a trial starts through cli-watch.ts has `limitMs` (default DEFAULT_LIMIT_MS): one past it
 * is killed with its process group and the trial fails naming it; none outlives its trial.
 */
export async function runFamily(
  family: string,
  trials: number,
  baseSeed: number,
  trial: (i: number, seed: number) => Promise<{ variant: string; what: string; problems: string[] }>,
  options: { limitMs?: number } = {},
): Promise<FamilyResult> {
  const started = Date.now();
  const result: FamilyResult = { family, trials: 0, failures: [], variants: {}, ms: 0 };
  // `--only TEXT` (RELIABILITY_ONLY): a family whose name does not contain TEXT runs no trial (its row shows 0).
  const only = process.env.RELIABILITY_ONLY;
  if (only && !family.toLowerCase().includes(only.toLowerCase())) trials = 0;
  for (let i = 0; i < trials; i++) {
    const seed = (baseSeed + i * 7919) >>> 0;
    const watched = await watchTrial(`${family} trial ${i}`, seed, options.limitMs ?? DEFAULT_LIMIT_MS, () => trial(i, seed));
    const outcome = watched.value ?? {
      variant: 'error',
      what: `trial ${i}`,
      problems: [`the trial itself failed: ${(watched.error as Error)?.stack ?? String(watched.error)}`],
    };
    outcome.problems.push(...watched.overruns);
    if (watched.overruns.length) outcome.variant = `${outcome.variant} (overrun)`;
    result.trials++;
    result.variants[outcome.variant] = (result.variants[outcome.variant] ?? 0) + 1;
    if (outcome.problems.length) result.failures.push({ trial: i, seed, what: outcome.what, problems: outcome.problems });
  }
  result.ms = Date.now() - started;
  return result;
}

/** The table a person reads: one row per family. */
export function renderTable(results: FamilyResult[]): string {
  const rows = results.map((r) => [
    r.family,
    String(r.trials),
    String(r.failures.length),
    Object.entries(r.variants)
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
    `${(r.ms / 1000).toFixed(1)} s`,
  ]);
  const head = ['family', 'trials', 'failures', 'variants', 'time'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Where the JSON report goes: RELIABILITY_JSON, else a file in the temp folder. */
export function reportPath(): string {
  return process.env.RELIABILITY_JSON ?? join(tmpdir(), 'dbbackup-reliability.json');
}

export async function writeReport(results: FamilyResult[], meta: { mode: string; seed: number; trials: number }): Promise<string> {
  const path = reportPath();
  await writeFile(path, `${JSON.stringify({ ...meta, at: new Date().toISOString(), families: results }, null, 2)}\n`);
  return path;
}

/** Trials per family: `RELIABILITY_TRIALS` (the long mode), else the bounded CI figure given. */
export function trialsFor(ciDefault: number): number {
  const n = Number(process.env.RELIABILITY_TRIALS);
  return Number.isInteger(n) && n > 0 ? n : ciDefault;
}

export function baseSeed(): number {
  const n = Number(process.env.RELIABILITY_SEED);
  return Number.isInteger(n) ? n : (Date.now() % 2 ** 31) >>> 0;
}
