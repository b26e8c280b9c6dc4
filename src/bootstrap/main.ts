import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Cli } from 'clipanion';
import { type CliCommand, commandsFor, ownParser } from './commands.js';
import type { CliContext, CliServices, DaemonRequest, GlobalOptions } from '../adapters/cli/context.js';
import { helpArgv } from '../adapters/cli/help-text.js';
import { declareEngineFlags } from '../adapters/cli/engine-flags.js';
import { builtinPlugins } from '../adapters/connectors/builtin-plugins.js';
import { discoverPlugins } from '../adapters/connectors/plugin-loader.js';
import type { ConnectorPlugin } from '../application/ports/connector-plugin.js';
import { ExitCode } from '../domain/errors.js';
import { type EngineResolver, findConfigFile, loadConfig } from '../infrastructure/config/load-config.js';
import { Settings } from '../infrastructure/config/settings.js';
import { keepYoungGenerationSmall, steadyOldGeneration } from '../infrastructure/heap-tuning.js';
import type { LogLevel } from '../infrastructure/logging.js';
import { defaultDataDir, defaultLogDir, packagePath } from '../infrastructure/paths.js';
import { parseDuration, parseSize } from '../infrastructure/rotating-file.js';
import type { RuntimeConfig } from './runtime-config.js';
import { configuredSchedules } from './schedules.js';

const pkg = JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string };

// backup/restore take the built-in engines' options as flags; config sources take them as keys.
declareEngineFlags(builtinPlugins);
const keysOf = (p: ConnectorPlugin) => [p.engine, new Map(p.options.map((o) => [o.name, o.type]))] as const;
const builtinKeys = new Map(builtinPlugins.map(keysOf));

/** The engines a config may name: built in, and (only when it names others or lists plugins:) the plugins found. */
function configEngines(env: NodeJS.ProcessEnv): EngineResolver {
  return async ({ engines, plugins, baseDir }) => {
    if (plugins.length === 0 && engines.every((e) => builtinKeys.has(e))) return builtinKeys;
    const found = await discoverPlugins({ configured: plugins, baseDir, searchFrom: [process.cwd()], env });
    return new Map([...found.map(keysOf).reverse(), ...builtinKeys]);
  };
}

// Every command class (help's and completion's tests register them all; loading this module first declares the engine flags).
export { allCommands } from './commands.js';

/** Loads the config file and resolves what the composition root needs, by precedence. */
export async function loadSettings(globals: GlobalOptions, processEnv: NodeJS.ProcessEnv): Promise<{ settings: Settings; runtime: RuntimeConfig }> {
  // Endpoint flags beat the environment: they travel as the variables the storage adapters read.
  const env: NodeJS.ProcessEnv = {
    ...processEnv,
    ...(globals.s3Endpoint ? { DBBACKUP_S3_ENDPOINT: globals.s3Endpoint } : {}),
    ...(globals.gcsEndpoint ? { DBBACKUP_GCS_ENDPOINT: globals.gcsEndpoint } : {}),
    ...(globals.azureEndpoint ? { DBBACKUP_AZURE_ENDPOINT: globals.azureEndpoint } : {}),
    ...(globals.insecure !== undefined ? { DBBACKUP_STORAGE_INSECURE: globals.insecure ? '1' : '0' } : {}),
  };
  const config = await loadConfig({ path: findConfigFile(globals.config, env), profile: globals.profile, env, engines: configEngines(env) });
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
    targets: settings.targets(),
    env,
    schedules: configuredSchedules(settings),
    sourceNames: Object.keys(config.section.sources ?? {}),
    queue: await queueRuntimeOf(settings, globals.queue, globals.queueOutageMs),
    plugins: config.file.plugins && config.path ? { entries: config.file.plugins, baseDir: dirname(config.path) } : undefined,
  };
  return { settings, runtime };
}

/** The queue settings when one is set (loads nothing of fleet mode otherwise). */
async function queueRuntimeOf(settings: Settings, flag: string | undefined, outageMs: number | undefined) {
  const q = settings.queue(flag);
  return q ? { ...(await import('./queue.js')).queueRuntime(q), ...(outageMs ? { outageMs } : {}) } : undefined;
}

async function services(globals: GlobalOptions, env: NodeJS.ProcessEnv): Promise<CliServices> {
  const { settings, runtime } = await loadSettings(globals, env);
  // The container here; the daemon's parts (scheduler, job runners, replicas) when a command asks
  // for them: `--version`, help and usage errors load none of it (bench/startup.mjs measures it).
  const { appServices, buildContainer } = await import('./container.js');
  const daemon = () => import('./schedule-daemon.js');
  const container = buildContainer(runtime);
  const daemonFlags = <R extends DaemonRequest>(request: R) => ({
    ...request,
    logLevel: globals.verbose ? ('debug' as const) : globals.quiet ? ('warn' as const) : ('info' as const),
    // Job worker threads load the configuration again: the same file, profile, data dir and queue.
    globals: {
      config: settings.config.path,
      profile: settings.config.profile,
      dataDir: runtime.dataDir,
      s3Endpoint: globals.s3Endpoint,
      gcsEndpoint: globals.gcsEndpoint,
      azureEndpoint: globals.azureEndpoint,
      insecure: globals.insecure,
    },
  });
  const fleet = () => import('./schedule-fleet.js');
  const scheduler = async (request: DaemonRequest) =>
    runtime.queue ? (await fleet()).buildPublisher(container, runtime, daemonFlags(request)) : (await daemon()).buildScheduler(container, runtime, settings, daemonFlags(request));
  const worker = async (request: DaemonRequest & { concurrency: number }) => (await fleet()).buildFleetWorker(container, runtime, settings, daemonFlags(request));
  const fleetStatus = async () => (await fleet()).fleetStatus(container, runtime);
  const app = appServices(container);
  const replicas = async (signal: AbortSignal) => {
    const { daemonLogger, runReplicas } = await daemon();
    return runReplicas({ settings, keys: app.keys, replicate: app.replicate, logger: daemonLogger(runtime, globals.verbose ? 'debug' : globals.quiet ? 'warn' : 'info'), env }, signal);
  };
  // Assigned, not spread: a spread would resolve every use-case now instead of on first use.
  const selfUpdate = async (options: { updateUrl?: string; registry?: string }) => (await import('./self-update.js')).buildSelfUpdate(container, runtime, options);
  const dashboard: CliServices['dashboard'] = async (request, signal) => (await import('./ui.js')).runDashboard(settings, runtime, globals, request, signal);
  return Object.assign(app, { settings, scheduler, worker, fleetStatus, replicas, selfUpdate, dashboard });
}

/** Runs the CLI with `argv`; resolves to the exit code. */
export async function main(given: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  keepYoungGenerationSmall();
  steadyOldGeneration();
  const argv = helpArgv(given);
  const newCli = (commands: readonly CliCommand[]) => {
    const made = new Cli<CliContext>({
      binaryLabel: 'dbbackup',
      binaryName: 'dbbackup',
      binaryVersion: pkg.version,
      enableColors: process.stdout.isTTY === true,
    });
    for (const c of commands) made.register(c);
    return made;
  };
  const cli = newCli(await commandsFor(argv));
  // Help and completion read every command's definition from `cli` but parse only their own words:
  // clipanion's parser over every command costs more than the rest of `--help`.
  const own = await ownParser(argv);
  const parser = own ? newCli(own) : cli;

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
    // Read when a command reads it: building the stdin stream (for a pipe: node:net and a socket)
    // is a share of every command's start (the bundle's clipanion keeps it a getter, scripts/bundle.mjs).
    get stdin() {
      return process.stdin;
    },
    stdout: process.stdout,
    stderr: process.stderr,
    colorDepth: 1,
    env,
    signal: controller.signal,
    services: (globals) => services(globals, env),
    runtimeInfo: async () => (await import('../infrastructure/runtime-info.js')).runtimeInfo(pkg.version, packagePath()),
  };
  try {
    let command;
    try {
      command = parser.process(argv, context);
    } catch (err) {
      process.stderr.write(parser.error(err as Error));
      return ExitCode.usage;
    }
    return await cli.run(command, context);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
