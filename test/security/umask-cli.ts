import { type CliResult, runCli } from '../helpers/cli.js';

/**
 * Runs the built CLI as `sh -c 'umask 022; exec node dbbackup …'`: the default umask of most
 * systems, under which a file created without an explicit mode is readable by every local user.
 */
export function runCliUmask022(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<CliResult> {
  return runCli(args, { ...options, umask: '022' });
}
