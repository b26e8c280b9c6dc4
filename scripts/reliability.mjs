#!/usr/bin/env node
// `npm run test:reliability -- --trials N [--seed S] [--json FILE] [--family NAME] [--only NAME]`: the reliability
// suite's long mode (test/reliability). Builds nothing (run `npm run build` first), runs the suite
// with N trials per family, then prints the table of trials and failures and where the JSON is.
// A trial's process past its limit (RELIABILITY_CLI_LIMIT_MS, default 60 s) is killed and named as
// the trial's failure; anything the suite left running when vitest ends is killed here.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '50' },
    seed: { type: 'string' },
    json: { type: 'string', default: 'reliability-report.json' },
    family: { type: 'string' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(`Usage: npm run test:reliability -- [--trials N] [--seed S] [--json FILE] [--family TEXT]

Runs test/reliability with N trials per family and operation (default 50; run \`npm run build\` first),
prints the table of trials and failures per family and writes it as JSON (default reliability-report.json).
  --trials N     trials per family and operation (the CI mode of \`npm test\` runs a few)
  --seed S       the base seed (a failing trial prints the seed that reproduces it)
  --json FILE    where the JSON report goes
  --only TEXT    within the tests run, only the families whose name contains TEXT (e.g. "kill -9":
                 the kill families of every engine without the other families of the same test)
  --family TEXT  only the families whose test title matches TEXT (a vitest -t pattern), e.g.
                 "SQLite backup", "cloud stores", "SQLite incremental", "MongoDB backup", "postgres", "mysql",
                 "corruption", "hostile", "storage faults", "full disk", "secrets"`);
  process.exit(0);
}
const trials = Number(values.trials);
if (!Number.isInteger(trials) || trials < 1) {
  console.error('error E_USAGE: --trials must be a whole number of at least 1.');
  process.exit(2);
}
const json = resolve(values.json);
// Every process the suite starts carries this token (test/reliability/cli-watch.ts): whatever still
// runs with it once vitest has ended (it crashed, was killed, or a family failed in a way that left
// one behind) is killed here with its process group, and named.
const token = `${process.pid}-${randomBytes(6).toString('hex')}`;
const env = {
  ...process.env,
  CI: 'true',
  RELIABILITY_TRIALS: String(trials),
  RELIABILITY_JSON: json,
  RELIABILITY_RUN_TOKEN: token,
  ...(values.seed ? { RELIABILITY_SEED: values.seed } : {}),
  ...(values.only ? { RELIABILITY_ONLY: values.only } : {}),
};
const args = ['vitest', 'run', 'test/reliability', ...(values.family ? ['-t', values.family] : [])];
rmSync(json, { force: true });
const vitest = spawn('npx', args, { stdio: 'inherit', env });
const forward = (sig) => vitest.kill(sig);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
const status = await new Promise((done) => vitest.on('close', (code, signal) => done(code ?? (signal ? 1 : 0))));
const swept = sweep(token);
if (swept.length) console.error(`killed ${swept.length} process(es) the suite left running:\n  ${swept.join('\n  ')}`);
try {
  const report = JSON.parse(readFileSync(json, 'utf8'));
  console.log(`\nReliability, ${trials} trial(s) per family and operation, seed ${report.seed}:`);
  console.table(report.families.map((f) => ({ family: f.family, trials: f.trials, failures: f.failures.length, seconds: Math.round(f.ms / 1000) })));
  for (const f of report.families) for (const x of f.failures) console.log(`FAILED ${f.family} trial ${x.trial} (seed ${x.seed}): ${x.what}\n  ${x.problems.join('\n  ')}`);
  console.log(`JSON: ${json}`);
} catch {
  console.error(`no report was written to ${json}`);
}
process.exit(swept.length ? 1 : status);

/** SIGKILLs (with their process groups) the processes whose environment holds the token; returns what they were. */
function sweep(mark) {
  const found = [];
  const groupOf = (pid) => Number(readFileSync(`/proc/${pid}/stat`, 'latin1').replace(/^.*\) /, '').split(' ')[2]);
  const own = groupOf('self');
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(`RELIABILITY_RUN_TOKEN=${mark}`)) continue;
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0').join(' ').trim();
      const pgid = groupOf(name);
      // A CLI leads its own group; a server a test started may share this script's group: that one alone.
      if (pgid !== own) process.kill(-pgid, 'SIGKILL');
      else process.kill(Number(name), 'SIGKILL');
      found.push(`${name}: ${cmd.slice(0, 200)}`);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}
