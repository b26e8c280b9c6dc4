import { spawn } from 'node:child_process';
import { ContainerModule } from 'inversify';
import type { DashboardDeps, SourceSummary } from '../adapters/ui/dashboard-deps.js';
import { watchDaemonProgress } from '../adapters/ui/daemon-progress.js';
import { BroadcastProgress, LiveEvents } from '../adapters/ui/live-events.js';
import { progressFolder } from '../adapters/progress/progress-file.js';
import { type DashboardOptions, type RunningDashboard, startDashboard } from '../adapters/ui/server.js';
import type { GlobalOptions } from '../adapters/cli/context.js';
import type { Settings } from '../infrastructure/config/settings.js';
import type { LogLevel } from '../infrastructure/logging.js';
import { packagePath } from '../infrastructure/paths.js';
import { redact } from '../infrastructure/redact.js';
import { appServices, buildContainer } from './container.js';
import type { RuntimeConfig } from './runtime-config.js';
import { daemonLogger, scheduledSource } from './schedule-daemon.js';
import { Tokens } from './tokens.js';

const MAX_CLI_OUTPUT = 256 << 10;

/** What `dbbackup ui` asks for (flags resolved by the command). */
export type DashboardRequest = Omit<DashboardOptions, 'assetsDir'> & { logLevel: LogLevel };

/**
 * `dbbackup ui`: the dashboard over this run's catalog and config. Its own container differs from
 * the CLI's in one port: progress goes to the open pages (server-sent events) instead of a terminal.
 * Request and action logs go to stderr and the log file as JSON lines.
 */
export async function runDashboard(
  settings: Settings,
  runtime: RuntimeConfig,
  globals: GlobalOptions,
  request: DashboardRequest,
  signal: AbortSignal,
): Promise<RunningDashboard & { close(): Promise<void> }> {
  const events = new LiveEvents();
  const container = buildContainer(runtime, [new ContainerModule(({ rebind }) => void rebind(Tokens.Progress).toConstantValue(new BroadcastProgress(events)))]);
  const app = appServices(container);
  const deps: DashboardDeps = {
    useCases: app,
    sources: configuredSources(settings),
    scheduledSource: (name) => scheduledSource(settings, name, app.keys, runtime.env ?? process.env),
    runCli: (args, sig) => runCli(args, runtime.env ?? process.env, sig),
    cliGlobals: cliGlobals(settings, globals, runtime),
    logFile: runtime.logFile?.path,
    logger: daemonLogger(runtime, request.logLevel, process.stderr).child({ module: 'ui' }),
    events,
    version: runtime.toolVersion,
  };
  const running = await startDashboard({ ...request, assetsDir: packagePath('dist', 'ui') }, deps, signal);
  // The scheduler daemon's runs (another process) publish their progress as files: forwarded to the pages.
  const stopWatching = watchDaemonProgress(progressFolder(runtime.dataDir), events);
  return {
    origin: running.origin,
    close: async () => {
      stopWatching();
      await running.close();
      app.close();
    },
  };
}

function configuredSources(settings: Settings): SourceSummary[] {
  return Object.entries(settings.config.section.sources ?? {}).map(([name, s]) => {
    let targets: string[] = [];
    try {
      targets = settings.source(name).repositories.map((r) => redact(r.url));
    } catch {
      // A source whose policy does not resolve shows no targets; a backup of it says why.
    }
    return { name, engine: String((s as { engine?: unknown }).engine ?? '-'), targets };
  });
}

/** The global flags that make a printed command read the same config, profile and catalog. */
function cliGlobals(settings: Settings, globals: GlobalOptions, runtime: RuntimeConfig): string[] {
  return [
    ...(settings.config.path ? ['--config', settings.config.path] : []),
    ...(settings.config.profile ? ['--profile', settings.config.profile] : []),
    ...(globals.dataDir || runtime.env?.DBBACKUP_DATA_DIR ? ['--data-dir', runtime.dataDir] : []),
  ];
}

/** This CLI as a child process (never a shell), output bounded; killed when `signal` aborts. */
function runCli(args: string[], env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<{ code: number; output: string }> {
  const entry = process.argv[1];
  const argv = entry && /\.(c|m)?js$/.test(entry) ? [entry, ...args] : args;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { env: { ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'], signal });
    let output = '';
    const take = (chunk: Buffer) => {
      if (output.length < MAX_CLI_OUTPUT) output += chunk.toString('utf8').slice(0, MAX_CLI_OUTPUT - output.length);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, output: redact(output) }));
  });
}
