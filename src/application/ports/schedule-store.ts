import type { ScheduleDefinitions } from './schedule-definitions.js';
import type { ScheduleHistory } from './schedule-history.js';
import type { ScheduleLocks } from './schedule-locks.js';
import type { ScheduleStates } from './schedule-states.js';
import type { SchedulerDaemons } from './scheduler-daemons.js';

/**
 * Not a port of its own: the five scheduler ports that one catalog provides together (the
 * daemon and `schedule` commands use all five), so they share one adapter and one DI binding.
 * Its connection is the adapter's and the composition root's to close, not a port method.
 */
export type ScheduleStore = ScheduleDefinitions & ScheduleStates & ScheduleLocks & ScheduleHistory & SchedulerDaemons;
