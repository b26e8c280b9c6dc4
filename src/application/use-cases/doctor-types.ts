import type { Finding } from '../../domain/diagnosis.js';
import type { Clock } from '../ports/clock.js';
import type { ConnectionTarget } from '../ports/connection-target.js';
import type { ConnectorRegistry } from '../ports/connector-registry.js';
import type { HostProbe } from '../ports/host-probe.js';
import type { RepositoryOpener } from '../ports/repository-opener.js';
import type { ScheduleHistory } from '../ports/schedule-history.js';

/** What `doctor` looks at, resolved from the config by the front end. */
export interface DoctorInput {
  /**
   * `slotWarnBytes`: past this much retained log a capture slot is a warning (the source's
   * slot-warn-bytes); `intervalMs`: the longest wait between its scheduled incrementals/differentials.
   */
  sources: { name: string; target: ConnectionTarget; incremental: boolean; slotWarnBytes?: number; intervalMs?: number }[];
  targets: { name: string; url: string }[];
  /** The schedules that back up these sources (their last successful run is checked). */
  schedules: { name: string; source: string }[];
  /** Where backups and restores spool temp files, and the catalog's folder. */
  tempDir: string;
  dataDir: string;
  /** The master key of `enc:` secrets: its file, whether DBBACKUP_MASTER_KEY set it instead, and whether the config needs one. */
  masterKey: { file: string; fromEnv: boolean; needed: boolean };
}

export interface DoctorDeps {
  connectors: ConnectorRegistry;
  opener: RepositoryOpener;
  host: HostProbe;
  clock: Clock;
  /** The scheduler's run history, opened only when a schedule is checked. */
  history: () => Promise<ScheduleHistory>;
}

/**
 * One group of checks. The list (doctor-checks.ts) is the one place to add a check; each returns
 * its findings and never throws for what it checks (a failure is a finding).
 */
export interface DoctorCheck {
  readonly name: string;
  run(input: DoctorInput, deps: DoctorDeps, signal?: AbortSignal): Promise<Finding[]>;
}
