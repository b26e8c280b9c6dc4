import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { Builtins, Cli } from 'clipanion';
import { BackupCommand } from '../adapters/cli/backup.js';
import type { CliContext, GlobalOptions } from '../adapters/cli/context.js';
import { ListCommand } from '../adapters/cli/list.js';
import { RestoreCommand } from '../adapters/cli/restore.js';
import { VerifyCommand } from '../adapters/cli/verify.js';
import { ExitCode } from '../domain/errors.js';
import { loadConfigFile } from '../infrastructure/config-file.js';
import { defaultDataDir } from '../infrastructure/paths.js';
import { appServices, buildContainer } from './container.js';
import type { RuntimeConfig } from './runtime-config.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export const commands = [BackupCommand, RestoreCommand, ListCommand, VerifyCommand, Builtins.HelpCommand, Builtins.VersionCommand];

export async function runtimeConfig(globals: GlobalOptions, env: NodeJS.ProcessEnv): Promise<RuntimeConfig> {
  const configPath = globals.config ?? env.DBBACKUP_CONFIG;
  const file = configPath ? await loadConfigFile(configPath) : {};
  return {
    dataDir: globals.dataDir ?? env.DBBACKUP_DATA_DIR ?? file.dataDir ?? defaultDataDir(env),
    logLevel: globals.verbose ? 'debug' : globals.quiet ? 'error' : 'warn',
    json: globals.json,
    progress: process.stderr.isTTY === true && !globals.quiet && !globals.json,
    toolVersion: pkg.version,
  };
}

/** Runs the CLI with `argv`; resolves to the exit code. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const cli = new Cli<CliContext>({
    binaryLabel: 'dbbackup',
    binaryName: 'dbbackup',
    binaryVersion: pkg.version,
    enableColors: process.stdout.isTTY === true,
  });
  for (const c of commands) cli.register(c);

  const controller = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    process.stderr.write(`\n${sig}: stopping; cleaning up (press Ctrl-C again to quit at once)\n`);
    controller.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const context: CliContext = {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    colorDepth: 1,
    env,
    signal: controller.signal,
    services: async (globals) => appServices(buildContainer(await runtimeConfig(globals, env))),
  };
  try {
    let command;
    try {
      command = cli.process(argv, context);
    } catch (err) {
      process.stderr.write(cli.error(err as Error));
      return ExitCode.usage;
    }
    return await cli.run(command, context);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
