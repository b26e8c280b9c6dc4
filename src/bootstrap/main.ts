import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Builtins, Cli } from 'clipanion';
import { BackupCommand } from '../adapters/cli/backup.js';
import { ConfigShowCommand, ConfigValidateCommand } from '../adapters/cli/config.js';
import type { CliContext, CliServices, GlobalOptions } from '../adapters/cli/context.js';
import { ListCommand } from '../adapters/cli/list.js';
import { NotifyTestCommand } from '../adapters/cli/notify.js';
import { RestoreCommand } from '../adapters/cli/restore.js';
import { SecretEncryptCommand, SecretInitCommand } from '../adapters/cli/secret.js';
import { VerifyCommand } from '../adapters/cli/verify.js';
import { ExitCode } from '../domain/errors.js';
import { findConfigFile, loadConfig } from '../infrastructure/config/load-config.js';
import { Settings } from '../infrastructure/config/settings.js';
import { defaultLogDir, type LogLevel } from '../infrastructure/logging.js';
import { defaultDataDir } from '../infrastructure/paths.js';
import { parseDuration, parseSize } from '../infrastructure/rotating-file.js';
import { appServices, buildContainer } from './container.js';
import type { RuntimeConfig } from './runtime-config.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export const commands = [
  BackupCommand,
  RestoreCommand,
  ListCommand,
  VerifyCommand,
  ConfigValidateCommand,
  ConfigShowCommand,
  SecretInitCommand,
  SecretEncryptCommand,
  NotifyTestCommand,
  Builtins.HelpCommand,
  Builtins.VersionCommand,
];

/** Loads the config file and resolves what the composition root needs, by precedence. */
export async function loadSettings(globals: GlobalOptions, env: NodeJS.ProcessEnv): Promise<{ settings: Settings; runtime: RuntimeConfig }> {
  const config = await loadConfig({ path: findConfigFile(globals.config, env), profile: globals.profile, env });
  const settings = new Settings(config, env);
  const dataDir = settings.pick({ name: '--data-dir', value: globals.dataDir }, 'DBBACKUP_DATA_DIR', 'data-dir', '', String).value || defaultDataDir(env);
  const logging = config.section.logging ?? {};
  const envLevel = env.DBBACKUP_LOG_LEVEL as LogLevel | undefined;
  const fileSetting = env.DBBACKUP_LOG_FILE ?? (logging.file === false ? 'off' : logging.file);
  const logFile =
    fileSetting === 'off'
      ? undefined
      : {
          path: fileSetting ?? join(defaultLogDir(env), 'dbbackup.log'),
          level: globals.verbose ? ('debug' as const) : (logging.level ?? envLevel ?? 'info'),
          rotation: {
            maxBytes: parseSize(logging['max-size'] ?? '10MB'),
            maxFiles: logging['max-files'] ?? 5,
            maxAgeMs: parseDuration(logging['max-age'] ?? '30d'),
          },
        };
  const runtime: RuntimeConfig = {
    dataDir,
    logLevel: globals.verbose ? 'debug' : globals.quiet ? 'error' : (envLevel ?? 'warn'),
    json: globals.json,
    progress: process.stderr.isTTY === true && !globals.quiet && !globals.json,
    toolVersion: pkg.version,
    logFile,
    notifications: settings.notifications(),
  };
  return { settings, runtime };
}

async function services(globals: GlobalOptions, env: NodeJS.ProcessEnv): Promise<CliServices> {
  const { settings, runtime } = await loadSettings(globals, env);
  return { ...appServices(buildContainer(runtime)), settings };
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
    services: (globals) => services(globals, env),
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
