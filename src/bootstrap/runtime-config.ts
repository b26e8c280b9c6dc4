import type { LogLevel } from '../infrastructure/logging.js';

/** What the composition root needs to know about this run (from flags, env and config). */
export interface RuntimeConfig {
  dataDir: string;
  logLevel: LogLevel;
  json: boolean;
  /** Draw a progress line (a terminal is attached, not --quiet/--json). */
  progress: boolean;
  toolVersion: string;
}
