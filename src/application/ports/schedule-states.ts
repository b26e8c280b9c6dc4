import type { RunOutcome } from './schedule-history.js';

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

/** Where each schedule stands: the last slot handled, the enable override, the last outcome. */
export interface ScheduleStates {
  /** The state of every schedule that has one. */
  states(): Promise<ScheduleState[]>;
  /** Creates the state of `name` with lastSlot = `now` unless it exists; returns the state. */
  ensureState(name: string, now: Date): Promise<ScheduleState>;
  /** Sets the enable override; enabling also moves lastSlot to `now` (nothing "missed" while disabled). */
  setEnabled(name: string, enabled: boolean, now: Date): Promise<void>;
  /** Moves lastSlot forward to `slot`; false (and no change) when it was already there or later. */
  markHandled(name: string, slot: Date): Promise<boolean>;
}
