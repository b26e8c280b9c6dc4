import type { ScheduleDefinition } from '../domain/schedule.js';
import type { NotificationConfig, TargetConfig } from '../infrastructure/config/schema.js';
import type { QueueRuntime } from './queue.js';
import type { LogLevel } from '../infrastructure/logging.js';
import type { RotationPolicy } from '../infrastructure/rotating-file.js';

/** What the composition root needs to know about this run (from flags, env and config). */
export interface RuntimeConfig {
  dataDir: string;
  logLevel: LogLevel;
  json: boolean;
  /** Draw a progress line (a terminal is attached, not --quiet/--json). */
  progress: boolean;
  toolVersion: string;
  /** The rotating JSON log file, or undefined for none. */
  logFile?: { path: string; level: LogLevel; rotation: RotationPolicy };
  /** Configured storage targets (secrets decrypted), for per-URL cloud settings. */
  targets?: TargetConfig[];
  /** The environment cloud settings are read from. */
  env?: NodeJS.ProcessEnv;
  /** Notification channels, secrets already decrypted. */
  notifications?: NotificationConfig[];
  /** The config file's `schedules:` (checked when used), and the names of its sources. */
  schedules?: ScheduleDefinition[];
  sourceNames?: string[];
  /** Fleet mode: the Redis of the queue and the shared scheduler store (`--queue`, DBBACKUP_QUEUE, `queue:`). */
  queue?: QueueRuntime;
  /** The config's `plugins:` (package names or paths, relative to `baseDir`, the config file's folder). */
  plugins?: { entries: string[]; baseDir: string };
}
