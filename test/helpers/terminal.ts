import { spawn } from 'node:child_process';

export interface TerminalRun {
  code: number | null;
  /** Everything the terminal showed (stdout and stderr of the program, and any echo of typed input). */
  output: string;
}

/**
 * Runs `argv` on a pseudo-terminal (util-linux `script`; its default `--echo auto` leaves the
 * terminal's echo ON, as a user's terminal has it) and types `keys` once `prompt` has appeared.
 * Killed after `timeoutMs` (code null then).
 */
export function runOnTerminal(
  argv: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
  prompt: RegExp,
  keys: string,
  timeoutMs = 60_000,
): Promise<TerminalRun> {
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', argv.map(quote).join(' '), '/dev/null'], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env, TERM: 'dumb' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    let typed = false;
    const onOutput = (d: Buffer) => {
      output += d.toString();
      if (!typed && prompt.test(output)) {
        typed = true;
        child.stdin.write(keys);
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code, output });
    });
  });
}
