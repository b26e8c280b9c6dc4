import type { ScheduleDefinition } from '../../domain/schedule.js';

/** Per-schedule state that survives restarts (keyed by schedule name, for every origin). */
export interface ScheduleState {
  name: string;
  /** `schedule enable|disable` override; undefined = as declared. */
  enabled?: boolean;
  /** The newest slot handled (run, skipped or missed): the next runs come after it. */
  lastSlot: Date;
  lastRunAt?: Date;
  lastOutcome?: RunOutcome;
  lastSuccessAt?: Date;
  consecutiveFailures: number;
}

export type RunOutcome = 'running' | 'success' | 'partial' | 'failure' | 'interrupted' | 'skipped' | 'missed';

export interface ScheduleRun {
  id: number;
  schedule: string;
  task: string;
  source: string;
  /** The cron slot this run is for (undefined for a manual run). */
  slot?: Date;
  trigger: string;
  /** The daemon that ran (or skipped) it. */
  owner: string;
  startedAt: Date;
  finishedAt?: Date;
  outcome: RunOutcome;
  attempts: number;
  backupId?: string;
  errorCode?: string;
  errorMessage?: string;
  durationMs?: number;
  storedSize?: number;
  note?: string;
}

export type NewRun = Omit<ScheduleRun, 'id'>;

export interface RunResult {
  finishedAt: Date;
  outcome: Exclude<RunOutcome, 'running' | 'skipped' | 'missed'>;
  attempts: number;
  backupId?: string;
  errorCode?: string;
  errorMessage?: string;
  durationMs: number;
  storedSize?: number;
}

export interface ScheduleLock {
  name: string;
  owner: string;
  slot?: Date;
  acquiredAt: Date;
  heartbeatAt: Date;
}

export interface ClaimRequest {
  name: string;
  slot: Date;
  owner: string;
  now: Date;
  /** A lock whose heartbeat is older than this is stale (its owner died) and is taken over. */
  staleBefore: Date;
}

/**
 * `claimed`: the lock is ours and the slot is marked handled. `taken`: the slot was already
 * handled (another daemon ran it). `busy`: a live lock is held (the slot is marked handled, so the
 * caller records the skip exactly once). `tookOverFrom` names a stale owner whose lock we took.
 */
export type ClaimResult = { kind: 'claimed'; tookOverFrom?: string } | { kind: 'taken' } | { kind: 'busy'; holder: ScheduleLock };

export interface DaemonInfo {
  owner: string;
  host: string;
  pid: number;
  startedAt: Date;
  heartbeatAt: Date;
}

/**
 * Schedules added with `schedule add`, every schedule's state and run history, and the locks
 * that keep a schedule from running twice at once — shared by every daemon on one catalog.
 */
export interface ScheduleStore {
  /** The CLI-added definitions, by name. */
  definitions(): Promise<ScheduleDefinition[]>;
  /** Adds a definition and its state (lastSlot = `now`); throws E_USAGE if the name exists. */
  addDefinition(def: ScheduleDefinition, now: Date): Promise<void>;
  /** Removes a CLI-added definition and its state (history stays); false if there was none. */
  removeDefinition(name: string): Promise<boolean>;
  /** The state of every schedule that has one. */
  states(): Promise<ScheduleState[]>;
  /** Creates the state of `name` with lastSlot = `now` unless it exists; returns the state. */
  ensureState(name: string, now: Date): Promise<ScheduleState>;
  /** Sets the enable override; enabling also moves lastSlot to `now` (nothing "missed" while disabled). */
  setEnabled(name: string, enabled: boolean, now: Date): Promise<void>;
  /** Moves lastSlot forward to `slot`; false (and no change) when it was already there or later. */
  markHandled(name: string, slot: Date): Promise<boolean>;
  /** Atomically (across processes): decides a slot's fate and takes the lock, see ClaimResult. */
  claim(request: ClaimRequest): Promise<ClaimResult>;
  /** Renews every lock `owner` holds and its daemon record; returns the names of the locks renewed. */
  heartbeat(owner: string, now: Date): Promise<string[]>;
  /** Releases `name`'s lock if `owner` holds it. */
  release(name: string, owner: string): Promise<void>;
  /** Locks currently held (live or stale). */
  locks(): Promise<ScheduleLock[]>;
  /** Records a run as started (outcome 'running'); returns its id. */
  startRun(run: NewRun): Promise<number>;
  /** Finishes run `id` and updates its schedule's state (last outcome, consecutive failures). */
  finishRun(id: number, result: RunResult): Promise<void>;
  /** Records a finished entry (skipped or missed) that ran nothing. */
  recordRun(run: NewRun): Promise<number>;
  /** Marks `owner`'s unfinished runs of `name` (all schedules when omitted) as interrupted. */
  abandonRuns(owner: string, now: Date, name?: string): Promise<number>;
  /** Runs newest first, of one schedule or all. */
  history(filter: { schedule?: string; limit: number }): Promise<ScheduleRun[]>;
  /** Counts of finished runs per schedule and outcome. */
  outcomeCounts(): Promise<{ schedule: string; outcome: RunOutcome; count: number }[]>;
  /** Registers or renews a running daemon. */
  registerDaemon(info: DaemonInfo): Promise<void>;
  /** Removes a daemon's record (clean stop). */
  unregisterDaemon(owner: string): Promise<void>;
  daemons(): Promise<DaemonInfo[]>;
  /** Releases the connection. */
  close(): void;
}
