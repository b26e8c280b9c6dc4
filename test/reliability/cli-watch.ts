// Every process the reliability suite starts (the built CLI, or a runner around it) goes through
// here: each in a process group of its own, with a time limit. Past the limit the whole group is
// SIGKILLed and the running trial fails with a problem that names the command, the seed, the phase
// and the last lines of stderr, so a hang names itself instead of timing out its whole family. No
// process is left running after a trial, after a family, or when the test process exits.
import { type ChildProcess, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, type CliResult } from '../helpers/cli.js';

/** Each process's limit unless a family sets its own: RELIABILITY_CLI_LIMIT_MS, else 60 s. */
export const DEFAULT_LIMIT_MS = (() => {
  const n = Number(process.env.RELIABILITY_CLI_LIMIT_MS);
  return Number.isInteger(n) && n > 0 ? n : 60_000;
})();

/** Marks the suite's processes (RELIABILITY_RUN_TOKEN from scripts/reliability.mjs, which sweeps any left after the run). */
const TOKEN = process.env.RELIABILITY_RUN_TOKEN ?? `pid-${process.pid}`;
const STDERR_TAIL = 4000;

interface Context {
  label: string;
  seed: number | undefined;
  phase: string;
  limitMs: number;
  overruns: string[];
}

const live = new Set<ChildProcess>();
let context: Context = { label: 'setup', seed: undefined, phase: 'setup', limitMs: DEFAULT_LIMIT_MS, overruns: [] };

/** Kills a process's whole group (it leads one: spawned detached); a group already gone is fine. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/** SIGKILLs every process the suite started that still runs. */
export function killAll(): void {
  for (const child of live) killGroup(child);
}
process.once('exit', killAll);

/** What the running trial does now ("fault run", "next backup" …): named when one of its processes overruns. */
export function setPhase(phase: string): void {
  context.phase = phase;
}

/**
 * Runs `body` as one trial (or a family's setup): its processes get `limitMs` each; afterwards any
 * still running are killed and every overrun is returned as a problem.
 */
export async function watchTrial<T>(label: string, seed: number | undefined, limitMs: number, body: () => Promise<T>): Promise<{ value?: T; error?: unknown; overruns: string[] }> {
  const previous = context;
  const mine: Context = { label, seed, phase: 'start', limitMs, overruns: [] };
  context = mine;
  const before = new Set(live);
  try {
    return { value: await body(), overruns: mine.overruns };
  } catch (error) {
    return { error, overruns: mine.overruns };
  } finally {
    for (const child of live) if (!before.has(child)) killGroup(child);
    context = previous;
  }
}

export interface Watched {
  child: ChildProcess;
  /** Settles when the process has exited and its output is closed; `overrun` when the limit killed it. */
  done: Promise<CliResult & { signal: NodeJS.Signals | null; overrun: boolean }>;
}

/**
 * Starts `command` in its own process group under the current trial's limit. stdout is collected
 * when `output` is 'pipe' (else ignored); stderr is always collected (its tail names an overrun).
 */
export function spawnWatched(
  command: string,
  argv: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; output?: 'pipe' | 'ignore'; input?: string; shown?: string; limitMs?: number } = {},
): Watched {
  const ctx = context;
  const limitMs = options.limitMs ?? ctx.limitMs;
  const child = spawn(command, argv, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env, RELIABILITY_RUN_TOKEN: TOKEN },
    stdio: [options.input === undefined ? 'ignore' : 'pipe', options.output ?? 'pipe', 'pipe'],
    detached: true,
  });
  live.add(child);
  let stdout = '';
  let stderr = '';
  let overrun = false;
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  if (options.input !== undefined) child.stdin!.end(options.input);
  const timer = setTimeout(() => {
    overrun = true;
    const shown = options.shown ?? [command === process.execPath ? 'dbbackup' : command, ...(command === process.execPath ? argv.slice(1) : argv)].join(' ');
    const tail = stderr.slice(-STDERR_TAIL).split('\n').filter(Boolean).slice(-8);
    const problem =
      `a process ran past its ${limitMs} ms limit and its process group was killed (SIGKILL): ${shown}; ${ctx.label}, seed ${ctx.seed ?? 'none'}, phase "${ctx.phase}"; ` +
        `last stderr lines: ${tail.length ? tail.join(' | ') : '(none)'}`;
    ctx.overruns.push(problem);
    // Said at once as well (a family's setup has no trial to fail).
    process.stderr.write(`reliability: ${problem}\n`);
    killGroup(child);
  }, limitMs);
  const done = new Promise<CliResult & { signal: NodeJS.Signals | null; overrun: boolean }>((resolve, reject) => {
    child.on('error', (err) => {
      clearTimeout(timer);
      live.delete(child);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code: code ?? -1, stdout, stderr, signal, overrun });
    });
  });
  return { child, done };
}

/** Log files of CLI runs go to a folder of this test process unless the bench names one. */
const STATE_HOME = join(tmpdir(), `dbb-test-state-${process.pid}`);

/** The built CLI, as helpers/cli.ts's runCli runs it, under the current trial's limit. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<CliResult & { overrun: boolean }> {
  return spawnWatched(process.execPath, [BIN, ...args], { cwd: options.cwd, env: { XDG_STATE_HOME: STATE_HOME, ...options.env }, input: options.input ?? '' }).done;
}
