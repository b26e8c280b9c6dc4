import type { Logger } from '../../application/ports/logger.js';
import type { ScheduledSource } from '../../application/use-cases/run-scheduled-task.js';
import type { UseCases } from '../../application/use-cases/use-cases.js';
import type { LiveEvents } from './live-events.js';

/** A configured source as the page may see it: no connection string, no secret. */
export interface SourceSummary {
  name: string;
  engine: string;
  /** Its targets' repository URLs, redacted. */
  targets: string[];
}

/** What the dashboard adapter is given by the composition root (bootstrap/ui.ts). */
export interface DashboardDeps {
  useCases: Pick<UseCases, 'listBackups' | 'storageUsage' | 'manageSchedules' | 'showManifest' | 'runBackup' | 'verifyBackup' | 'pinBackup'>;
  /** The config's sources (what "backup now" may run). */
  sources: SourceSummary[];
  /** RunBackup's input, keys and trust for a configured source (secrets stay on the server). */
  scheduledSource(name: string): Promise<ScheduledSource>;
  /** Runs the CLI with `args` (restore --dry-run), bounded output; never through a shell. */
  runCli(args: string[], signal: AbortSignal): Promise<{ code: number; output: string }>;
  /** The global flags that make a printed CLI command read this dashboard's config and catalog. */
  cliGlobals: string[];
  /** The rotating JSON log, for a run's lines (undefined when logging to a file is off). */
  logFile?: string;
  logger: Logger;
  events: LiveEvents;
  version: string;
}

/** Hono's context variables of a signed-in request. */
export type UiEnv = { Variables: { session: { id: string; csrf: string } } };
