import type { NotificationConfig } from '../infrastructure/config/schema.js';
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
  /** Notification channels, secrets already decrypted. */
  notifications?: NotificationConfig[];
}
