#!/usr/bin/env node
// `npm run test:reliability -- --trials N [--seed S] [--json FILE] [--family NAME]`: the reliability
// suite's long mode (test/reliability). Builds nothing (run `npm run build` first), runs the suite
// with N trials per family, then prints the table of trials and failures and where the JSON is.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '50' },
    seed: { type: 'string' },
    json: { type: 'string', default: 'reliability-report.json' },
    family: { type: 'string' },
  },
});
const trials = Number(values.trials);
if (!Number.isInteger(trials) || trials < 1) {
  console.error('error E_USAGE: --trials must be a whole number of at least 1.');
  process.exit(2);
}
const json = resolve(values.json);
const env = { ...process.env, CI: 'true', RELIABILITY_TRIALS: String(trials), RELIABILITY_JSON: json, ...(values.seed ? { RELIABILITY_SEED: values.seed } : {}) };
const args = ['vitest', 'run', 'test/reliability', ...(values.family ? ['-t', values.family] : [])];
const run = spawnSync('npx', args, { stdio: 'inherit', env });
try {
  const report = JSON.parse(readFileSync(json, 'utf8'));
  console.log(`\nReliability, ${trials} trial(s) per family and operation, seed ${report.seed}:`);
  console.table(report.families.map((f) => ({ family: f.family, trials: f.trials, failures: f.failures.length, seconds: Math.round(f.ms / 1000) })));
  for (const f of report.families) for (const x of f.failures) console.log(`FAILED ${f.family} trial ${x.trial} (seed ${x.seed}): ${x.what}\n  ${x.problems.join('\n  ')}`);
  console.log(`JSON: ${json}`);
} catch {
  console.error(`no report was written to ${json}`);
}
process.exit(run.status ?? 1);
