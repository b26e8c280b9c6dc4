import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, type CliResult } from '../helpers/cli.js';

/**
 * Runs the built CLI as `sh -c 'umask 022; exec node dbbackup …'`: the default umask of most
 * systems, under which a file created without an explicit mode is readable by every local user.
 */
export function runCliUmask022(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', 'umask 022; exec "$0" "$@"', process.execPath, BIN, ...args], {
      cwd: options.cwd,
      env: { ...process.env, XDG_STATE_HOME: join(tmpdir(), `dbb-test-state-${process.pid}`), ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}
