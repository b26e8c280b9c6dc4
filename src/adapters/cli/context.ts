import type { BaseContext } from 'clipanion';
import type { ConnectorRegistry } from '../../application/ports/connector-registry.js';
import type { UseCases } from '../../application/use-cases/use-cases.js';
import type { KeyFactory } from '../encryption/key-factory.js';
import type { ScheduleDaemon } from '../../application/ports/schedule-daemon.js';
import type { SchedulerOptions } from '../../application/use-cases/run-scheduler.js';
import type { RunFleetWorker } from '../../application/use-cases/run-fleet-worker.js';
import type { FleetStatusView } from '../../application/use-cases/fleet-status.js';
import type { SelfUpdate } from '../../application/use-cases/self-update.js';
import type { Settings } from '../../infrastructure/config/settings.js';
import type { RuntimeInfo } from '../../infrastructure/runtime-info.js';
import type { DashboardOptions, RunningDashboard } from '../ui/server.js';
import type { LogLevel } from '../../infrastructure/logging.js';

/** The global flags every command takes. */
export interface GlobalOptions {
  config?: string;
  profile?: string;
  dataDir?: string;
  verbose: boolean;
  quiet: boolean;
  json: boolean;
  dryRun: boolean;
  /** Cloud endpoints (S3-compatible servers, emulators); the same as DBBACKUP_*_ENDPOINT. */
  s3Endpoint?: string;
  gcsEndpoint?: string;
  azureEndpoint?: string;
  /** `--insecure` (true) / `--no-insecure` (false): the same as DBBACKUP_STORAGE_INSECURE. */
  insecure?: boolean;
  /** Fleet mode's Redis (`--queue`, on the commands that take it); else DBBACKUP_QUEUE or `queue.url`. */
  queue?: string;
  /** How long a call waits for an unreachable Redis: long for the worker and publisher, short (default) for a one-off command. */
  queueOutageMs?: number;
}

/** The use-cases, built by the composition root for one run, and what the commands share. */
export interface CliServices extends UseCases {
  keys: KeyFactory;
  /** The engines (plugins) of this run. */
  connectors: ConnectorRegistry;
  /**
   * Builds what `schedule run` runs: the local daemon (jobs in worker threads, logs on stdout), or,
   * with a queue set, the fleet publisher (the queue fires the schedules; workers run them).
   */
  scheduler(request: DaemonRequest): Promise<ScheduleDaemon>;
  /** Builds `dbbackup worker` (a queue must be set). */
  worker(request: DaemonRequest & { concurrency: number }): Promise<RunFleetWorker>;
  /** `dbbackup fleet status` (a queue must be set). */
  fleetStatus(): Promise<FleetStatusView>;
  /** Runs the config's `replicate:` sources until `signal` aborts (beside the daemon). */
  replicas(signal: AbortSignal): Promise<void>;
  /** `self-update`'s use-case, over the channel this copy was installed from (npm or the single executable). */
  selfUpdate(options: { updateUrl?: string; registry?: string }): Promise<SelfUpdate>;
  /** Starts `dbbackup ui`'s dashboard over this run's catalog and config; it serves until closed. */
  dashboard(request: Omit<DashboardOptions, 'assetsDir'> & { logLevel: LogLevel }, signal: AbortSignal): Promise<RunningDashboard>;
  /** The merged configuration with precedence flag > env > file > default. */
  settings: Settings;
  close(): void;
}

/** What `schedule run` asks of the daemon; unset values take the defaults. */
export interface DaemonRequest extends Partial<Pick<SchedulerOptions, 'graceMs' | 'retries' | 'retryDelayMs' | 'stopTimeoutMs' | 'lockStaleMs' | 'heartbeatMs'>> {
  /** Called after every finished run (e.g. to rewrite the metrics file). */
  onRunFinished?: () => Promise<void>;
}

export interface CliContext extends BaseContext {
  services(globals: GlobalOptions): Promise<CliServices>;
  env: NodeJS.ProcessEnv;
  /** `--version`'s facts (no config needed). */
  runtimeInfo(): Promise<RuntimeInfo>;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
}
