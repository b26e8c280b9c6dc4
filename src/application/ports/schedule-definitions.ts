import type { ScheduleDefinition } from '../../domain/schedule.js';

/** The schedules added with `schedule add` (config-declared ones live in the config file). */
export interface ScheduleDefinitions {
  /** The CLI-added definitions, by name. */
  definitions(): Promise<ScheduleDefinition[]>;
  /** Adds a definition and its state (lastSlot = `now`); throws E_USAGE if the name exists. */
  addDefinition(def: ScheduleDefinition, now: Date): Promise<void>;
  /** Removes a CLI-added definition and its state (history stays); false if there was none. */
  removeDefinition(name: string): Promise<boolean>;
}
